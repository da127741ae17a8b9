// Reduction bindings: sum, mean (more reductions join here).
#include "bindings/common.h"

namespace ember {
namespace {

Tensor maybe_cast(const Tensor& x, py::handle dtype) {
  if (dtype.is_none()) return x;
  return to_dtype(x, parse_dtype(dtype, "sum"));
}

}  // namespace

void bind_reductions(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  auto sum_fn = [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    return sum(maybe_cast(x, dtype), parse_dims(dim, "sum"), keepdim);
  };
  auto mean_fn = [](const Tensor& x, py::object dim, bool keepdim, py::object dtype) {
    return mean(maybe_cast(x, dtype), parse_dims(dim, "mean"), keepdim);
  };
  m.def("sum", sum_fn, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
        py::arg("dtype") = py::none());
  cls.def("sum", sum_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
          py::arg("dtype") = py::none());
  m.def("mean", mean_fn, py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
        py::arg("dtype") = py::none());
  cls.def("mean", mean_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false, py::kw_only(),
          py::arg("dtype") = py::none());
  m.def("_sum_to", [](const Tensor& x, py::object shape) { return sum_to(x, parse_shape(shape, "sum_to")); });
}

}  // namespace ember
