// Bindings for the fused optimizer steps (ember/fused_optim.h), used by ember.optim. A `_GroupTensors` handle holds a
// group's parameter and state tensor lists once converted, so a cached step costs one call with scalars and no
// list conversion; gradients are read from each parameter's .grad at step time unless given explicitly (tests).
// `level` picks a kernel table ('ref', 'avx2', 'avx512') for tests.
#include <optional>
#include <string>

#include "bindings/common.h"
#include "kernels/kernels.h"
#include "ember/fused_optim.h"

namespace ember {
namespace {

using TensorList = std::vector<std::optional<Tensor>>;

std::vector<Tensor> unwrap(const TensorList& list) {
  std::vector<Tensor> out;
  out.reserve(list.size());
  for (const auto& t : list) out.push_back(t ? *t : Tensor());
  return out;
}

// A parameter group's tensors: params, optional fixed grads, and one list per state key (order set by the caller).
struct GroupTensors {
  std::vector<Tensor> params;
  std::optional<std::vector<Tensor>> grads;   // none: each parameter's .grad at step time
  std::vector<std::vector<Tensor>> states;

  std::vector<Tensor> current_grads() const {
    if (grads) return *grads;
    std::vector<Tensor> out;
    out.reserve(params.size());
    for (const Tensor& p : params) out.push_back(p.grad());
    return out;
  }
  // The state list at `index`, or an empty list when the optimizer's options do not use it.
  std::vector<Tensor>& state(size_t index, const char* op, const char* name) {
    EMBER_CHECK(index < states.size(), ValueError, op, ": the group holds ", states.size(),
                " state lists; the ", name, " list (number ", index, ") is missing");
    return states[index];
  }
};

void check_level(const std::optional<std::string>& level, const char* op) {
  if (!level) return;
  EMBER_CHECK(kernels::table_for(level->c_str()) != nullptr, ValueError, op, ": kernel level '", *level,
              "' is not available on this CPU (expected 'ref', 'avx2' or 'avx512')");
}

const std::vector<Tensor> kNoTensors;

}  // namespace

void bind_optim(py::module_& m) {
  py::class_<GroupTensors>(m, "_GroupTensors",
                           "A parameter group's tensors for the fused optimizer steps (private).")
      .def(py::init([](const std::vector<std::optional<Tensor>>& params, const std::optional<TensorList>& grads,
                       const std::vector<TensorList>& states) {
             GroupTensors g;
             g.params = unwrap(params);
             for (size_t i = 0; i < g.params.size(); ++i)
               EMBER_CHECK(g.params[i].defined(), TypeError, "optimizer step: params[", i, "] is None");
             if (grads) g.grads = unwrap(*grads);
             for (const TensorList& list : states) g.states.push_back(unwrap(list));
             return g;
           }), py::arg("params"), py::arg("grads") = py::none(), py::arg("states") = std::vector<TensorList>{})
      .def("state", [](const GroupTensors& g, size_t index) {
             EMBER_CHECK(index < g.states.size(), IndexError, "_GroupTensors.state: no state list ", index);
             TensorList out;
             for (const Tensor& t : g.states[index])
               out.push_back(t.defined() ? std::optional<Tensor>(t) : std::nullopt);
             return out;
           });

  m.def("_sgd_step", [](GroupTensors& g, double lr, double momentum, double dampening, double weight_decay,
                        bool nesterov, bool maximize, const std::optional<std::string>& level) -> py::object {
    check_level(level, "sgd_step");
    std::vector<Tensor> grads = g.current_grads();
    std::vector<Tensor> no_buffers;
    std::vector<Tensor>& buffers = momentum != 0 ? g.state(0, "sgd_step", "momentum_buffers") : no_buffers;
    std::vector<bool> had_buffer;
    for (const Tensor& b : buffers) had_buffer.push_back(b.defined());
    SgdOptions options{lr, momentum, dampening, weight_decay, nesterov, maximize};
    {
      py::gil_scoped_release release;
      sgd_step(g.params, grads, buffers, options, level.value_or(""));
    }
    bool created = false;
    for (size_t i = 0; i < buffers.size(); ++i) created = created || (buffers[i].defined() && !had_buffer[i]);
    if (!created) return py::none();
    py::list out(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) out[i] = buffers[i].defined() ? py::cast(buffers[i]) : py::none();
    return std::move(out);
  }, py::arg("group"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
     py::arg("nesterov"), py::arg("maximize"), py::arg("level") = py::none(),
     "One SGD step over a group (states: [momentum_buffers] when momentum != 0), in place. Returns None, or the "
     "momentum buffers when some were created (PyTorch's first step: buf = grad); the group keeps them.");

  m.def("_adam_step", [](GroupTensors& g, double lr, double beta1, double beta2, double eps, double weight_decay,
                         bool amsgrad, bool maximize, bool decoupled_weight_decay,
                         const std::optional<std::string>& level) {
    const char* op = decoupled_weight_decay ? "adamw_step" : "adam_step";
    check_level(level, op);
    std::vector<Tensor> grads = g.current_grads();
    const auto& steps = g.state(0, op, "state_steps");
    const auto& exp_avgs = g.state(1, op, "exp_avgs");
    const auto& exp_avg_sqs = g.state(2, op, "exp_avg_sqs");
    const auto& max_exp_avg_sqs = amsgrad ? g.state(3, op, "max_exp_avg_sqs") : kNoTensors;
    AdamOptions options{lr, beta1, beta2, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay};
    py::gil_scoped_release release;
    adam_step(g.params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, options, level.value_or(""));
  }, py::arg("group"), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
     py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"), py::arg("level") = py::none(),
     "One Adam/AdamW step over a group (states: [steps, exp_avgs, exp_avg_sqs(, max_exp_avg_sqs)]), in place.");

  m.def("_adagrad_step", [](GroupTensors& g, double lr, double lr_decay, double weight_decay, double eps,
                            bool maximize, const std::optional<std::string>& level) {
    check_level(level, "adagrad_step");
    std::vector<Tensor> grads = g.current_grads();
    const auto& steps = g.state(0, "adagrad_step", "state_steps");
    const auto& sums = g.state(1, "adagrad_step", "state_sums");
    AdagradOptions options{lr, lr_decay, weight_decay, eps, maximize};
    py::gil_scoped_release release;
    adagrad_step(g.params, grads, sums, steps, options, level.value_or(""));
  }, py::arg("group"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"),
     py::arg("maximize"), py::arg("level") = py::none(),
     "One Adagrad step over a group (states: [steps, sums]), in place.");

  m.def("_rmsprop_step", [](GroupTensors& g, double lr, double alpha, double eps, double weight_decay,
                            double momentum, bool centered, bool maximize, const std::optional<std::string>& level) {
    check_level(level, "rmsprop_step");
    std::vector<Tensor> grads = g.current_grads();
    const auto& steps = g.state(0, "rmsprop_step", "state_steps");
    const auto& square_avgs = g.state(1, "rmsprop_step", "square_avgs");
    size_t next = 2;
    const auto& buffers = momentum > 0 ? g.state(next++, "rmsprop_step", "momentum_buffers") : kNoTensors;
    const auto& grad_avgs = centered ? g.state(next, "rmsprop_step", "grad_avgs") : kNoTensors;
    RmspropOptions options{lr, alpha, eps, weight_decay, momentum, centered, maximize};
    py::gil_scoped_release release;
    rmsprop_step(g.params, grads, square_avgs, grad_avgs, buffers, steps, options, level.value_or(""));
  }, py::arg("group"), py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"),
     py::arg("centered"), py::arg("maximize"), py::arg("level") = py::none(),
     "One RMSprop step over a group (states: [steps, square_avgs(, momentum_buffers)(, grad_avgs)]), in place.");
}

}  // namespace ember
