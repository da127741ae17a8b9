// Bindings for the nn area: the fused layer/loss ops behind ember.nn.functional (layer_norm, batch_norm,
// cross_entropy, nll_loss, embedding, constant_pad) and the Tensor constructor that nn.Parameter builds on.
// Bindings only: argument parsing, no computation.
#include <string>

#include "bindings/common.h"
#include "ember/nn.h"

namespace ember {
namespace {

Reduction parse_reduction(const std::string& name, const char* op) {
  if (name == "mean") return Reduction::Mean;
  if (name == "sum") return Reduction::Sum;
  if (name == "none") return Reduction::None;
  throw ValueError(str(op, ": reduction must be 'mean', 'sum' or 'none', got '", name, "'"));
}

Tensor optional_tensor(const py::object& obj, const char* op, const char* name) {
  if (obj.is_none()) return Tensor();
  Tensor t;
  EMBER_CHECK(try_tensor(obj, t), TypeError, op, ": ", name, " must be a Tensor or None, got ",
              py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  return t;
}

Tensor required_tensor(const py::object& obj, const char* op, const char* name) {
  Tensor t;
  EMBER_CHECK(try_tensor(obj, t), TypeError, op, ": ", name, " must be a Tensor, got ",
              py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  return t;
}

}  // namespace

void bind_nn(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  // Tensor(_shared_from=t): a new tensor object aliasing t's data without its history (what nn.Parameter's
  // constructor calls on itself, so that Parameter is a true subclass that every op accepts).
  cls.def(py::init([](const py::object& source) {
            return detach(required_tensor(source, "Tensor", "_shared_from")).impl_ptr();
          }),
          py::kw_only(), py::arg("_shared_from"));

  m.def("layer_norm", [](py::object input, py::object normalized_shape, py::object weight, py::object bias, double eps) {
    const char* op = "layer_norm";
    Tensor x = required_tensor(input, op, "input"), w = optional_tensor(weight, op, "weight"),
           b = optional_tensor(bias, op, "bias");
    Shape shape = parse_shape(normalized_shape, op);
    return without_gil_if(big_enough_to_release_gil(x), [&] { return layer_norm(x, shape, w, b, eps); });
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5, "Layer normalisation over the trailing dims normalized_shape, fused forward and backward.");

  m.def("batch_norm", [](py::object input, py::object running_mean, py::object running_var, py::object weight,
                         py::object bias, bool training, double momentum, double eps) {
    const char* op = "batch_norm";
    return batch_norm(required_tensor(input, op, "input"), optional_tensor(running_mean, op, "running_mean"),
                      optional_tensor(running_var, op, "running_var"), optional_tensor(weight, op, "weight"),
                      optional_tensor(bias, op, "bias"), training, momentum, eps);
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5,
     "Batch normalisation of an (N, C, *) input; updates the running statistics in place when training.");

  m.def("cross_entropy", [](py::object input, py::object target, py::object weight, const std::string& reduction,
                            int64_t ignore_index, double label_smoothing) {
    const char* op = "cross_entropy";
    Tensor x = required_tensor(input, op, "input"), t = required_tensor(target, op, "target"),
           w = optional_tensor(weight, op, "weight");
    auto r = parse_reduction(reduction, op);
    return without_gil_if(big_enough_to_release_gil(x),
                          [&] { return cross_entropy(x, t, w, r, ignore_index, label_smoothing); });
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean",
     py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
     "Fused log-softmax + negative log-likelihood (class indices or probabilities), fused backward.");

  m.def("nll_loss", [](py::object input, py::object target, py::object weight, const std::string& reduction,
                       int64_t ignore_index) {
    const char* op = "nll_loss";
    return nll_loss(required_tensor(input, op, "input"), required_tensor(target, op, "target"),
                    optional_tensor(weight, op, "weight"), parse_reduction(reduction, op), ignore_index);
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("reduction") = "mean",
     py::arg("ignore_index") = -100, "Negative log-likelihood of log-probabilities at class-index targets.");

  m.def("mse_loss", [](py::object input, py::object target, const std::string& reduction) {
    const char* op = "mse_loss";
    return nn::functional::mse_loss(required_tensor(input, op, "input"), required_tensor(target, op, "target"),
                                    parse_reduction(reduction, op));
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean",
     "Mean squared error; one fused pass each way when the target has the input's shape and dtype.");

  m.def("huber_loss", [](py::object input, py::object target, const std::string& reduction, double delta,
                         bool smooth_l1) {
    const char* op = smooth_l1 ? "smooth_l1_loss" : "huber_loss";
    Reduction r = parse_reduction(reduction, op);
    EMBER_CHECK(r != Reduction::None, ValueError, op, ": the fused loss reduces ('mean' or 'sum')");
    return huber_loss_reduced(required_tensor(input, op, "input"), required_tensor(target, op, "target"), delta,
                              r == Reduction::Mean, smooth_l1);
  }, py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", py::arg("delta") = 1.0,
     py::arg("smooth_l1") = false,
     "Reduced Huber loss (or smooth L1 with beta = delta > 0) of same-shape, same-dtype tensors, fused both ways.");

  m.def("binary_cross_entropy", [](py::object input, py::object target) {
    const char* op = "binary_cross_entropy";
    return binary_cross_entropy(required_tensor(input, op, "input"), required_tensor(target, op, "target"));
  }, py::arg("input"), py::arg("target"), "Elementwise BCE of probabilities (logs clamped at -100), unreduced.");

  m.def("binary_cross_entropy_with_logits", [](py::object input, py::object target, py::object pos_weight) {
    const char* op = "binary_cross_entropy_with_logits";
    return binary_cross_entropy_with_logits(required_tensor(input, op, "input"), required_tensor(target, op, "target"),
                                            optional_tensor(pos_weight, op, "pos_weight"));
  }, py::arg("input"), py::arg("target"), py::arg("pos_weight") = py::none(),
     "Elementwise, numerically stable BCE from logits, unreduced; pos_weight has the input's shape.");

  m.def("embedding", [](py::object weight, py::object indices, py::object padding_idx) {
    const char* op = "embedding";
    std::optional<int64_t> pad;
    if (!padding_idx.is_none()) pad = padding_idx.cast<int64_t>();
    return embedding(required_tensor(weight, op, "weight"), required_tensor(indices, op, "input"), pad);
  }, py::arg("weight"), py::arg("indices"), py::arg("padding_idx") = py::none(),
     "Rows of weight at int64 indices; the gradient is index-added into weight (none for padding_idx).");

  m.def("constant_pad", [](py::object input, std::vector<int64_t> pad, double value) {
    return constant_pad(required_tensor(input, "pad", "input"), pad, value);
  }, py::arg("input"), py::arg("pad"), py::arg("value") = 0.0,
     "Constant padding as F.pad(mode='constant'): pad pairs start from the last dim; negative values crop.");
}

}  // namespace ember
