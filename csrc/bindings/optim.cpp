// Bindings for the fused optimizer steps (ops/optim.h): private functions taking Python lists of tensors (None
// where a gradient or state entry is absent), used by ember.optim. `level` picks a kernel table for tests.
#include <optional>
#include <string>

#include "bindings/common.h"
#include "kernels/kernels.h"
#include "ops/optim.h"

namespace ember {
namespace {

using TensorList = std::vector<std::optional<Tensor>>;

std::vector<Tensor> unwrap(const TensorList& list) {
  std::vector<Tensor> out;
  out.reserve(list.size());
  for (const auto& t : list) out.push_back(t ? *t : Tensor());
  return out;
}

const kernels::Table& table_named(const std::optional<std::string>& level, const char* op) {
  if (!level) return kernels::table();
  const kernels::Table* t = kernels::table_for(level->c_str());
  EMBER_CHECK(t != nullptr, ValueError, op, ": kernel level '", *level,
              "' is not available on this CPU (expected 'ref', 'avx2' or 'avx512')");
  return *t;
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("_sgd_step", [](const std::vector<Tensor>& params, const TensorList& grads, const TensorList& momentum_buffers,
                        double lr, double momentum, double dampening, double weight_decay, bool nesterov,
                        bool maximize, const std::optional<std::string>& level) {
    const kernels::Table& table = table_named(level, "sgd_step");
    std::vector<Tensor> g = unwrap(grads), buffers = unwrap(momentum_buffers);
    if (buffers.empty() && momentum != 0) buffers.resize(params.size());
    SgdOptions options{lr, momentum, dampening, weight_decay, nesterov, maximize};
    {
      py::gil_scoped_release release;
      sgd_step(params, g, buffers, options, table);
    }
    TensorList out;
    out.reserve(buffers.size());
    for (const Tensor& b : buffers) out.push_back(b.defined() ? std::optional<Tensor>(b) : std::nullopt);
    return out;
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("momentum"),
     py::arg("dampening"), py::arg("weight_decay"), py::arg("nesterov"), py::arg("maximize"),
     py::arg("level") = py::none(),
     "One SGD step over a parameter group, in place; returns the momentum buffers (new ones created on the "
     "first step).");

  m.def("_adam_step", [](const std::vector<Tensor>& params, const TensorList& grads, const TensorList& exp_avgs,
                         const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs,
                         const TensorList& state_steps, double lr, double beta1, double beta2, double eps,
                         double weight_decay, bool amsgrad, bool maximize, bool decoupled_weight_decay,
                         const std::optional<std::string>& level) {
    const kernels::Table& table = table_named(level, "adam_step");
    std::vector<Tensor> g = unwrap(grads), m1 = unwrap(exp_avgs), m2 = unwrap(exp_avg_sqs);
    std::vector<Tensor> m2max = unwrap(max_exp_avg_sqs), steps = unwrap(state_steps);
    AdamOptions options{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay};
    py::gil_scoped_release release;
    adam_step(params, g, m1, m2, m2max, steps, options, table);
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
     py::arg("state_steps"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
     py::arg("weight_decay"), py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
     py::arg("level") = py::none(), "One Adam/AdamW step over a parameter group, in place.");

  m.def("_adagrad_step", [](const std::vector<Tensor>& params, const TensorList& grads, const TensorList& state_sums,
                            const TensorList& state_steps, double lr, double lr_decay, double weight_decay,
                            double eps, bool maximize, const std::optional<std::string>& level) {
    const kernels::Table& table = table_named(level, "adagrad_step");
    std::vector<Tensor> g = unwrap(grads), sums = unwrap(state_sums), steps = unwrap(state_steps);
    AdagradOptions options{lr, lr_decay, weight_decay, eps, maximize};
    py::gil_scoped_release release;
    adagrad_step(params, g, sums, steps, options, table);
  }, py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::arg("state_steps"), py::arg("lr"),
     py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
     py::arg("level") = py::none(), "One Adagrad step over a parameter group, in place.");

  m.def("_rmsprop_step", [](const std::vector<Tensor>& params, const TensorList& grads, const TensorList& square_avgs,
                            const TensorList& grad_avgs, const TensorList& momentum_buffers,
                            const TensorList& state_steps, double lr, double alpha, double eps, double weight_decay,
                            double momentum, bool centered, bool maximize, const std::optional<std::string>& level) {
    const kernels::Table& table = table_named(level, "rmsprop_step");
    std::vector<Tensor> g = unwrap(grads), squares = unwrap(square_avgs), averages = unwrap(grad_avgs);
    std::vector<Tensor> buffers = unwrap(momentum_buffers), steps = unwrap(state_steps);
    RmspropOptions options{lr, alpha, eps, weight_decay, momentum, centered, maximize};
    py::gil_scoped_release release;
    rmsprop_step(params, g, squares, averages, buffers, steps, options, table);
  }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"),
     py::arg("momentum_buffers"), py::arg("state_steps"), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
     py::arg("weight_decay"), py::arg("momentum"), py::arg("centered"), py::arg("maximize"),
     py::arg("level") = py::none(), "One RMSprop step over a parameter group, in place.");
}

}  // namespace ember
