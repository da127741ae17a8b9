// Reduction bindings: sum, mean, max/min (values + indices), amax/amin, argmax/argmin, var/std, softmax,
// log_softmax, logsumexp, all/any, as module functions and Tensor methods with PyTorch's signatures.
#include "bindings/common.h"

namespace ember {
namespace {

Tensor maybe_cast(const Tensor& x, py::handle dtype, const char* op = "sum") {
  if (dtype.is_none()) return x;
  return to_dtype(x, parse_dtype(dtype, op));
}

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")).cast<std::string>(); }

// One dim: a Python int (or anything with __index__), never a bool or a tuple.
int64_t parse_dim(py::handle obj, const char* op) {
  if (PyBool_Check(obj.ptr()) || !(PyLong_Check(obj.ptr()) || py::hasattr(obj, "__index__")) ||
      py::isinstance<Tensor>(obj))
    throw TypeError(str(op, ": dim must be an int, got ", type_name(obj)));
  return py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr())).cast<int64_t>();
}

Dims parse_reduce_dims(py::handle obj, const char* op) {
  if (PyBool_Check(obj.ptr())) throw TypeError(str(op, ": dim must be an int or a tuple of ints, got bool"));
  if (!obj.is_none() && !PyLong_Check(obj.ptr()) && !py::isinstance<py::sequence>(obj) && !py::hasattr(obj, "__index__"))
    throw TypeError(str(op, ": dim must be an int or a tuple of ints, got ", type_name(obj)));
  if (!obj.is_none() && !PyLong_Check(obj.ptr()) && py::hasattr(obj, "__index__")) return {parse_dim(obj, op)};
  return parse_dims(obj, op);
}

// (values, indices) as a named tuple type created once at import: ember.max(x, 1).values / [0] / unpacking.
PyObject* g_max_result = nullptr;
PyObject* g_min_result = nullptr;
PyObject* g_topk_result = nullptr;
PyObject* g_sort_result = nullptr;

py::object named_pair(PyObject* type, const std::pair<Tensor, Tensor>& p) {
  return py::reinterpret_borrow<py::object>(type)(py::cast(p.first), py::cast(p.second));
}

// max(x) | max(x, dim, keepdim=False) | max(x, other): PyTorch's three overloads.
py::object select_py(bool is_max, const Tensor& x, py::object dim, py::object keepdim, py::object other) {
  const char* op = is_max ? "max" : "min";
  Tensor t;
  if (!other.is_none() || try_tensor(dim, t)) {
    if (!other.is_none()) {
      if (!dim.is_none()) throw TypeError(str(op, ": got both 'dim' and 'other'"));
      if (!try_tensor(other, t)) throw TypeError(str(op, ": 'other' must be a Tensor, got ", type_name(other)));
    }
    if (!keepdim.is_none()) throw TypeError(str(op, ": 'keepdim' is not accepted together with a Tensor 'other'"));
    return py::cast(is_max ? maximum(x, t) : minimum(x, t));
  }
  if (dim.is_none()) {
    if (!keepdim.is_none()) throw TypeError(str(op, ": 'keepdim' needs 'dim'"));
    return py::cast(is_max ? max(x) : min(x));
  }
  int64_t d = parse_dim(dim, op);
  bool k = !keepdim.is_none() && PyObject_IsTrue(keepdim.ptr()) == 1;
  return named_pair(is_max ? g_max_result : g_min_result, is_max ? max(x, d, k) : min(x, d, k));
}

std::optional<int64_t> optional_dim(py::handle dim, const char* op) {
  if (dim.is_none()) return std::nullopt;
  return parse_dim(dim, op);
}

// var(x, dim=None, unbiased=None, keepdim=False, *, correction=None), also var(x, unbiased) with a bool.
Tensor moments_py(bool is_std, const Tensor& x, py::object dim, py::object unbiased, bool keepdim,
                  py::object correction) {
  const char* op = is_std ? "std" : "var";
  if (PyBool_Check(dim.ptr())) {
    if (!unbiased.is_none()) throw TypeError(str(op, ": got 'unbiased' twice"));
    unbiased = dim;
    dim = py::none();
  }
  if (!unbiased.is_none() && !correction.is_none())
    throw TypeError(str(op, ": pass either 'unbiased' or 'correction', not both"));
  double c = 1.0;
  if (!unbiased.is_none()) {
    if (!PyBool_Check(unbiased.ptr())) throw TypeError(str(op, ": 'unbiased' must be a bool, got ", type_name(unbiased)));
    c = unbiased.ptr() == Py_True ? 1.0 : 0.0;
  } else if (!correction.is_none()) {
    c = parse_scalar(correction, op).value;
  }
  Dims dims = parse_reduce_dims(dim, op);
  return is_std ? std(x, dims, c, keepdim) : var(x, dims, c, keepdim);
}

template <typename Class, typename F, typename... Extra>
void def_both(py::module_& m, Class& cls, const char* name, F f, const Extra&... method_args) {
  m.def(name, f, py::arg("input"), method_args...);
  cls.def(name, f, method_args...);
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

  py::object namedtuple = py::module_::import("collections").attr("namedtuple");
  py::object fields = py::make_tuple("values", "indices");
  g_max_result = namedtuple("max", fields, py::arg("module") = "ember.return_types").release().ptr();
  g_min_result = namedtuple("min", fields, py::arg("module") = "ember.return_types").release().ptr();
  m.attr("_max_result") = py::reinterpret_borrow<py::object>(g_max_result);
  m.attr("_min_result") = py::reinterpret_borrow<py::object>(g_min_result);
  g_topk_result = namedtuple("topk", fields, py::arg("module") = "ember.return_types").release().ptr();
  g_sort_result = namedtuple("sort", fields, py::arg("module") = "ember.return_types").release().ptr();

  auto max_fn = [](const Tensor& x, py::object dim, py::object keepdim, py::object other) {
    return select_py(true, x, dim, keepdim, other);
  };
  auto min_fn = [](const Tensor& x, py::object dim, py::object keepdim, py::object other) {
    return select_py(false, x, dim, keepdim, other);
  };
  def_both(m, cls, "max", max_fn, py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::kw_only(),
           py::arg("other") = py::none());
  def_both(m, cls, "min", min_fn, py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::kw_only(),
           py::arg("other") = py::none());
  auto topk_fn = [](const Tensor& x, int64_t k, py::object dim, bool largest, bool sorted) {
    return named_pair(g_topk_result, topk(x, k, dim.is_none() ? -1 : parse_dim(dim, "topk"), largest, sorted));
  };
  def_both(m, cls, "topk", topk_fn, py::arg("k"), py::arg("dim") = py::none(), py::arg("largest") = true,
           py::arg("sorted") = true);
  // stable=False may keep equal values in input order too (PyTorch leaves their order unspecified then).
  auto sort_fn = [](const Tensor& x, int64_t dim, bool descending, bool) {
    return named_pair(g_sort_result, sort(x, dim, descending));
  };
  def_both(m, cls, "sort", sort_fn, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(),
           py::arg("stable") = false);
  auto argsort_fn = [](const Tensor& x, int64_t dim, bool descending, bool) { return argsort(x, dim, descending); };
  def_both(m, cls, "argsort", argsort_fn, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(),
           py::arg("stable") = false);
  auto cumsum_fn = [](const Tensor& x, int64_t dim, py::object dtype) {
    return cumsum(x, dim, parse_optional_dtype(dtype, "cumsum"));
  };
  def_both(m, cls, "cumsum", cumsum_fn, py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());

  auto amax_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return amax(x, parse_reduce_dims(dim, "amax"), keepdim);
  };
  auto amin_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return amin(x, parse_reduce_dims(dim, "amin"), keepdim);
  };
  def_both(m, cls, "amax", amax_fn, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);
  def_both(m, cls, "amin", amin_fn, py::arg("dim") = py::tuple(), py::arg("keepdim") = false);

  auto argmax_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return argmax(x, optional_dim(dim, "argmax"), keepdim);
  };
  auto argmin_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return argmin(x, optional_dim(dim, "argmin"), keepdim);
  };
  def_both(m, cls, "argmax", argmax_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_both(m, cls, "argmin", argmin_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false);

  auto var_fn = [](const Tensor& x, py::object dim, py::object unbiased, bool keepdim, py::object correction) {
    return moments_py(false, x, dim, unbiased, keepdim, correction);
  };
  auto std_fn = [](const Tensor& x, py::object dim, py::object unbiased, bool keepdim, py::object correction) {
    return moments_py(true, x, dim, unbiased, keepdim, correction);
  };
  def_both(m, cls, "var", var_fn, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(),
           py::arg("keepdim") = false, py::kw_only(), py::arg("correction") = py::none());
  def_both(m, cls, "std", std_fn, py::arg("dim") = py::none(), py::arg("unbiased") = py::none(),
           py::arg("keepdim") = false, py::kw_only(), py::arg("correction") = py::none());

  auto softmax_fn = [](const Tensor& x, py::object dim, py::object dtype) {
    return softmax(maybe_cast(x, dtype, "softmax"), parse_dim(dim, "softmax"));
  };
  auto log_softmax_fn = [](const Tensor& x, py::object dim, py::object dtype) {
    return log_softmax(maybe_cast(x, dtype, "log_softmax"), parse_dim(dim, "log_softmax"));
  };
  def_both(m, cls, "softmax", softmax_fn, py::arg("dim"), py::arg("dtype") = py::none());
  def_both(m, cls, "log_softmax", log_softmax_fn, py::arg("dim"), py::arg("dtype") = py::none());

  auto logsumexp_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return logsumexp(x, parse_reduce_dims(dim, "logsumexp"), keepdim);
  };
  def_both(m, cls, "logsumexp", logsumexp_fn, py::arg("dim"), py::arg("keepdim") = false);

  auto all_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return all(x, parse_reduce_dims(dim, "all"), keepdim);
  };
  auto any_fn = [](const Tensor& x, py::object dim, bool keepdim) {
    return any(x, parse_reduce_dims(dim, "any"), keepdim);
  };
  def_both(m, cls, "all", all_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false);
  def_both(m, cls, "any", any_fn, py::arg("dim") = py::none(), py::arg("keepdim") = false);
}

}  // namespace ember
