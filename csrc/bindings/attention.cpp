// Bindings for attention: scaled_dot_product_attention (the fused op) and a hook that picks its
// implementation (kernel table or reference) for tests and benchmarks. Bindings only.
#include "bindings/common.h"
#include "ops/attention.h"

namespace ember {
namespace {

Tensor optional_mask(const py::object& mask) {
  Tensor t;
  if (mask.is_none()) return t;
  EMBER_CHECK(try_tensor(mask, t), TypeError, "scaled_dot_product_attention: attn_mask must be a Tensor or None, got ",
              std::string(py::str(py::type::of(mask).attr("__name__"))));
  return t;
}

std::optional<double> optional_scale(const py::object& scale) {
  if (scale.is_none()) return std::nullopt;
  EMBER_CHECK(is_number(scale), TypeError, "scaled_dot_product_attention: scale must be a number or None");
  return scale.cast<double>();
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def(
      "scaled_dot_product_attention",
      [](const Tensor& query, const Tensor& key, const Tensor& value, const py::object& attn_mask, double dropout_p,
         bool is_causal, const py::object& scale, bool enable_gqa) {
        Tensor mask = optional_mask(attn_mask);
        auto s = optional_scale(scale);
        return without_gil(
            [&] { return scaled_dot_product_attention(query, key, value, mask, dropout_p, is_causal, s, enable_gqa); });
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
      py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::arg("scale") = py::none(),
      py::arg("enable_gqa") = false,
      "softmax(query @ key^T * scale + mask) @ value as one fused op (PyTorch semantics). query (..., T, D), key\n"
      "(..., S, D), value (..., S, Dv); attn_mask bool (True = attend) or additive float, broadcast to (..., T, S);\n"
      "is_causal: query i attends key j <= i (top-left aligned); dropout on the attention probabilities;\n"
      "enable_gqa: key / value with fewer heads than query (grouped-query attention).");
  m.def(
      "_scaled_dot_product_attention_using",
      [](const std::string& implementation, const Tensor& query, const Tensor& key, const Tensor& value,
         const py::object& attn_mask, double dropout_p, bool is_causal, const py::object& scale, bool enable_gqa) {
        return scaled_dot_product_attention_using(implementation, query, key, value, optional_mask(attn_mask),
                                                  dropout_p, is_causal, optional_scale(scale), enable_gqa);
      },
      py::arg("implementation"), py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(),
      py::arg("dropout_p") = 0.0, py::arg("is_causal") = false, py::arg("scale") = py::none(),
      py::arg("enable_gqa") = false,
      "Test hook: implementation '' (active table), 'ref', 'avx2', 'avx512' (that table's flash kernels) or\n"
      "'reference' (row-at-a-time reference, also what float64 always uses).");
}

}  // namespace ember
