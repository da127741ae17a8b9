// Elementwise, view, copy and in-place ops: module functions (ember.exp) and Tensor methods (x.exp()).
#include "bindings/common.h"

namespace ember {
namespace {

// a (op) b where either side may be a Python number; reflected = the number is on the left.
Tensor binary_py(BinaryOp op, const Tensor& self, py::handle other, bool reflected, const char* name) {
  Tensor t;
  if (try_tensor(other, t))
    return without_gil_if(big_enough_to_release_gil(self) || big_enough_to_release_gil(t),
                          [&] { return reflected ? binary(op, t, self) : binary(op, self, t); });
  if (!is_number(other)) throw py::type_error(str(name, ": unsupported operand type ",
                                                  py::str(py::type::of(other).attr("__name__")).cast<std::string>()));
  Scalar s = parse_scalar(other, name);
  return without_gil_if(big_enough_to_release_gil(self),
                        [&] { return reflected ? binary(op, s, self) : binary(op, self, s); });
}

Tensor tensor_arg(py::handle obj, const char* name) {
  Tensor t;
  if (try_tensor(obj, t)) return t;
  throw TypeError(str(name, ": expected a Tensor, got ", py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
}

std::optional<double> opt_double(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  return obj.cast<double>();
}

template <typename Class>
void def_binary(py::module_& m, Class& cls, const char* name, const char* dunder, const char* rdunder, BinaryOp op) {
  m.def(name, [op, name](const Tensor& a, py::object b) { return binary_py(op, a, b, false, name); });
  cls.def(name, [op, name](const Tensor& a, py::object b) { return binary_py(op, a, b, false, name); });
  if (dunder)
    cls.def(dunder, [op, name](const Tensor& a, py::object b) -> py::object {
      Tensor t;
      if (!try_tensor(b, t) && !is_number(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
      return py::cast(binary_py(op, a, b, false, name));
    }, py::is_operator());
  if (rdunder)
    cls.def(rdunder, [op, name](const Tensor& a, py::object b) -> py::object {
      if (!is_number(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
      return py::cast(binary_py(op, a, b, true, name));
    }, py::is_operator());
}

template <typename Class, typename F>
void def_both(py::module_& m, Class& cls, const char* name, F f) {
  m.def(name, f);
  cls.def(name, f);
}

}  // namespace

void bind_ops(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));

  // arithmetic with broadcasting and Python numbers on either side
  m.def("add", [](const Tensor& a, py::object b, py::object alpha) {
    if (alpha.is_none()) return binary_py(BinaryOp::Add, a, b, false, "add");
    return add(a, as_tensor_operand(b, a, "add"), parse_scalar(alpha, "add"));
  }, py::arg("input"), py::arg("other"), py::kw_only(), py::arg("alpha") = py::none());
  cls.def("add", [](const Tensor& a, py::object b, py::object alpha) {
    if (alpha.is_none()) return binary_py(BinaryOp::Add, a, b, false, "add");
    return add(a, as_tensor_operand(b, a, "add"), parse_scalar(alpha, "add"));
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = py::none());
  cls.def("__add__", [](const Tensor& a, py::object b) -> py::object {
    Tensor t;
    if (try_tensor(b, t))
      return py::cast(without_gil_if(big_enough_to_release_gil(a) || big_enough_to_release_gil(t),
                                     [&] { return binary(BinaryOp::Add, a, t); }));
    if (!is_number(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    return py::cast(binary(BinaryOp::Add, a, parse_scalar(b, "add")));
  }, py::is_operator());
  cls.def("__radd__", [](const Tensor& a, py::object b) -> py::object {
    if (!is_number(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    return py::cast(binary(BinaryOp::Add, parse_scalar(b, "add"), a));
  }, py::is_operator());
  def_binary(m, cls, "sub", "__sub__", "__rsub__", BinaryOp::Sub);
  auto sub_alpha = [](const Tensor& a, py::object b, py::object alpha) {   // replaces the plain sub above
    if (alpha.is_none()) return binary_py(BinaryOp::Sub, a, b, false, "sub");
    return sub(a, as_tensor_operand(b, a, "sub"), parse_scalar(alpha, "sub"));
  };
  m.attr("sub") = py::cpp_function(sub_alpha, py::name("sub"), py::arg("input"), py::arg("other"), py::kw_only(),
                                   py::arg("alpha") = py::none());
  cls.attr("sub") = py::cpp_function(sub_alpha, py::name("sub"), py::is_method(cls), py::arg("other"), py::kw_only(),
                                     py::arg("alpha") = py::none());
  def_binary(m, cls, "mul", "__mul__", "__rmul__", BinaryOp::Mul);
  def_binary(m, cls, "div", "__truediv__", "__rtruediv__", BinaryOp::Div);
  def_binary(m, cls, "pow", "__pow__", "__rpow__", BinaryOp::Pow);
  def_binary(m, cls, "maximum", nullptr, nullptr, BinaryOp::Maximum);
  def_binary(m, cls, "minimum", nullptr, nullptr, BinaryOp::Minimum);
  def_binary(m, cls, "eq", "__eq__", nullptr, BinaryOp::Eq);
  def_binary(m, cls, "ne", "__ne__", nullptr, BinaryOp::Ne);
  def_binary(m, cls, "lt", "__lt__", nullptr, BinaryOp::Lt);
  def_binary(m, cls, "le", "__le__", nullptr, BinaryOp::Le);
  def_binary(m, cls, "gt", "__gt__", nullptr, BinaryOp::Gt);
  def_binary(m, cls, "ge", "__ge__", nullptr, BinaryOp::Ge);
  def_binary(m, cls, "logical_and", "__and__", "__rand__", BinaryOp::LogicalAnd);
  def_binary(m, cls, "logical_or", "__or__", "__ror__", BinaryOp::LogicalOr);
  m.attr("multiply") = m.attr("mul");
  m.attr("subtract") = m.attr("sub");
  m.attr("divide") = m.attr("div");
  m.attr("true_divide") = m.attr("div");
  cls.attr("__hash__") = py::module_::import("builtins").attr("object").attr("__hash__");
  cls.def("__neg__", [](const Tensor& x) { return neg(x); });
  cls.def("__pos__", [](const Tensor& x) { return x; });
  cls.def("__abs__", [](const Tensor& x) { return abs(x); });
  cls.def("__invert__", [](const Tensor& x) {
    EMBER_CHECK(x.dtype() == DType::Bool, TypeError, "~ (bitwise_not) is only supported for bool tensors");
    return unary(UnaryOp::LogicalNot, x);
  });

  // unary math and activations
  def_both(m, cls, "neg", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return neg(x); });
  });
  def_both(m, cls, "exp", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return exp(x); });
  });
  def_both(m, cls, "log", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return log(x); });
  });
  def_both(m, cls, "sqrt", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return sqrt(x); });
  });
  def_both(m, cls, "rsqrt", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return rsqrt(x); });
  });
  def_both(m, cls, "abs", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return abs(x); });
  });
  def_both(m, cls, "tanh", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return tanh(x); });
  });
  def_both(m, cls, "sigmoid", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return sigmoid(x); });
  });
  def_both(m, cls, "relu", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return relu(x); });
  });
  def_both(m, cls, "silu", [](const Tensor& x) {
    return without_gil_if(big_enough_to_release_gil(x), [&] { return silu(x); });
  });
  def_both(m, cls, "sign", [](const Tensor& x) { return unary(UnaryOp::Sign, x); });
  def_both(m, cls, "logical_not", [](const Tensor& x) { return unary(UnaryOp::LogicalNot, x); });
  m.def("gelu", [](const Tensor& x, const std::string& approximate) {
    EMBER_CHECK(approximate == "none" || approximate == "tanh", ValueError,
                "gelu: approximate must be 'none' or 'tanh', got '", approximate, "'");
    return gelu(x, approximate == "tanh");
  }, py::arg("input"), py::arg("approximate") = "none");
  m.def("leaky_relu", [](const Tensor& x, double slope) { return leaky_relu(x, slope); }, py::arg("input"),
        py::arg("negative_slope") = 0.01);
  auto clamp_fn = [](const Tensor& x, py::object min, py::object max) { return clamp(x, opt_double(min), opt_double(max)); };
  m.def("clamp", clamp_fn, py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("clamp", clamp_fn, py::arg("min") = py::none(), py::arg("max") = py::none());
  m.attr("clip") = m.attr("clamp");
  cls.attr("clip") = cls.attr("clamp");
  m.def("where", [](const Tensor& c, py::object a, py::object b) {
    Tensor ta, tb;
    bool has_a = try_tensor(a, ta), has_b = try_tensor(b, tb);
    EMBER_CHECK(has_a || has_b, TypeError, "where: at least one of the values must be a Tensor");
    if (!has_a) ta = as_tensor_operand(a, tb, "where");
    if (!has_b) tb = as_tensor_operand(b, ta, "where");
    return where(c, ta, tb);
  }, py::arg("condition"), py::arg("input"), py::arg("other"));
  auto masked_fill_fn = [](const Tensor& x, const Tensor& mask, py::object value) {
    Tensor v;
    if (try_tensor(value, v)) {
      EMBER_CHECK(v.dim() == 0, ValueError, "masked_fill: only supports a 0-dimensional value tensor, but got tensor with ",
                  v.dim(), " dimension(s)");
      return masked_fill(x, mask, Scalar(item(v)));
    }
    return masked_fill(x, mask, parse_scalar(value, "masked_fill"));
  };
  m.def("tril", [](const Tensor& x, int64_t diagonal) { return tril(x, diagonal); }, py::arg("input"),
        py::arg("diagonal") = 0);
  cls.def("tril", [](const Tensor& x, int64_t diagonal) { return tril(x, diagonal); }, py::arg("diagonal") = 0);
  m.def("triu", [](const Tensor& x, int64_t diagonal) { return triu(x, diagonal); }, py::arg("input"),
        py::arg("diagonal") = 0);
  cls.def("triu", [](const Tensor& x, int64_t diagonal) { return triu(x, diagonal); }, py::arg("diagonal") = 0);
  m.def("masked_fill", masked_fill_fn);
  cls.def("masked_fill", masked_fill_fn);

  // dtype conversion and copies
  cls.def("to", [](const Tensor& x, py::object dtype, bool copy) {
    if (py::isinstance<py::str>(dtype) && (dtype.cast<std::string>() == "cpu")) return copy ? clone(x) : x;
    Tensor y = to_dtype(x, parse_dtype(dtype, "to"));
    return copy && y.same(x) ? clone(x) : y;
  }, py::arg("dtype"), py::arg("copy") = false);
  cls.def("float", [](const Tensor& x) { return to_dtype(x, DType::Float32); });
  cls.def("double", [](const Tensor& x) { return to_dtype(x, DType::Float64); });
  cls.def("long", [](const Tensor& x) { return to_dtype(x, DType::Int64); });
  cls.def("bool", [](const Tensor& x) { return to_dtype(x, DType::Bool); });
  cls.def("type", [](const Tensor& x, py::object dtype) -> py::object {
    if (dtype.is_none()) return py::str(std::string("ember.") + dtype_name(x.dtype()));
    return py::cast(to_dtype(x, parse_dtype(dtype, "type")));
  }, py::arg("dtype") = py::none());
  def_both(m, cls, "clone", [](const Tensor& x) { return clone(x); });
  cls.def("contiguous", [](const Tensor& x) { return contiguous(x); });
  cls.def("cpu", [](const Tensor& x) { return x; });

  // views
  cls.def("view", [](const Tensor& x, py::args shape) {
    if (shape.size() == 1 && !py::isinstance<py::int_>(shape[0]) && !py::isinstance<py::sequence>(shape[0]))
      return to_dtype(x, parse_dtype(shape[0], "view"));   // view(dtype) of same itemsize is rare; convert
    return view(x, parse_size_args(shape, "view"));
  });
  cls.def("reshape", [](const Tensor& x, py::args shape) { return reshape(x, parse_size_args(shape, "reshape")); });
  m.def("reshape", [](const Tensor& x, py::object shape) { return reshape(x, parse_shape(shape, "reshape")); },
        py::arg("input"), py::arg("shape"));
  cls.def("view_as", [](const Tensor& x, const Tensor& other) { return view(x, other.shape()); });
  cls.def("reshape_as", [](const Tensor& x, const Tensor& other) { return reshape(x, other.shape()); });
  cls.def("permute", [](const Tensor& x, py::args dims) { return permute(x, parse_size_args(dims, "permute")); });
  m.def("permute", [](const Tensor& x, py::object dims) { return permute(x, parse_dims(dims, "permute")); },
        py::arg("input"), py::arg("dims"));
  def_both(m, cls, "transpose", [](const Tensor& x, int64_t d0, int64_t d1) { return transpose(x, d0, d1); });
  m.attr("swapaxes") = m.attr("transpose");
  cls.attr("swapaxes") = cls.attr("transpose");
  def_both(m, cls, "t", [](const Tensor& x) { return t(x); });
  cls.def_property_readonly("T", [](const Tensor& x) {
    Dims dims;
    for (int64_t i = x.dim() - 1; i >= 0; --i) dims.push_back(i);
    return permute(x, dims);
  });
  cls.def_property_readonly("mT", [](const Tensor& x) {
    EMBER_CHECK(x.dim() >= 2, ValueError, "tensor.mT is only supported on matrices or batches of matrices. Got ",
                x.dim(), "-D tensor.");
    return transpose(x, -2, -1);
  });
  cls.def("expand", [](const Tensor& x, py::args shape) { return expand(x, parse_size_args(shape, "expand")); });
  cls.def("expand_as", [](const Tensor& x, const Tensor& other) { return expand(x, other.shape()); });
  m.def("broadcast_to", [](const Tensor& x, py::object shape) { return expand(x, parse_shape(shape, "broadcast_to")); });
  m.def("squeeze", [](const Tensor& x, py::object dim) {
    if (dim.is_none()) return squeeze(x);
    return squeeze(x, dim.cast<int64_t>());
  }, py::arg("input"), py::arg("dim") = py::none());
  cls.def("squeeze", [](const Tensor& x, py::object dim) {
    if (dim.is_none()) return squeeze(x);
    return squeeze(x, dim.cast<int64_t>());
  }, py::arg("dim") = py::none());
  def_both(m, cls, "unsqueeze", [](const Tensor& x, int64_t dim) { return unsqueeze(x, dim); });
  auto flatten_fn = [](const Tensor& x, int64_t start_dim, int64_t end_dim) { return flatten(x, start_dim, end_dim); };
  m.def("flatten", flatten_fn, py::arg("input"), py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  cls.def("flatten", flatten_fn, py::arg("start_dim") = 0, py::arg("end_dim") = -1);
  m.def("as_strided", [](const Tensor& x, py::object size, py::object stride, int64_t offset) {
    return as_strided(x, parse_shape(size, "as_strided"), parse_shape(stride, "as_strided"), offset);
  }, py::arg("input"), py::arg("size"), py::arg("stride"), py::arg("storage_offset") = 0);
  def_both(m, cls, "select", [](const Tensor& x, int64_t dim, int64_t index) { return select(x, dim, index); });
  def_both(m, cls, "narrow", [](const Tensor& x, int64_t dim, int64_t start, int64_t length) {
    EMBER_CHECK(length >= 0, ValueError, "narrow: length must be non-negative");
    int64_t d = wrap_dim(dim, x.dim(), "narrow");
    int64_t size = x.shape()[d];
    if (start < 0) start += size;
    EMBER_CHECK(start >= 0 && start + length <= size, IndexError, "narrow: start (", start, ") + length (", length,
                ") exceeds dimension size (", size, ")");
    return slice(x, d, start, start + length, 1);
  });

  // in-place
  cls.def("add_", [](Tensor& x, py::object other, py::object alpha) {
    Tensor o = as_tensor_operand(other, x, "add_");
    return add_(x, o, alpha.is_none() ? Scalar(1) : parse_scalar(alpha, "add_"));
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = py::none());
  cls.def("sub_", [](Tensor& x, py::object other, py::object alpha) {
    Tensor o = as_tensor_operand(other, x, "sub_");
    return sub_(x, o, alpha.is_none() ? Scalar(1) : parse_scalar(alpha, "sub_"));
  }, py::arg("other"), py::kw_only(), py::arg("alpha") = py::none());
  cls.def("mul_", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "mul_"); return mul_(x, o); });
  cls.def("div_", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "div_"); return div_(x, o); });
  cls.def("__iadd__", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "add_"); return add_(x, o); });
  cls.def("__isub__", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "sub_"); return sub_(x, o); });
  cls.def("__imul__", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "mul_"); return mul_(x, o); });
  cls.def("__itruediv__", [](Tensor& x, py::object other) { Tensor o = as_tensor_operand(other, x, "div_"); return div_(x, o); });
  cls.def("zero_", [](Tensor& x) { return zero_(x); });
  cls.def("fill_", [](Tensor& x, py::object v) {
    Tensor vt;
    if (try_tensor(v, vt)) return fill_(x, Scalar(item(vt)));
    return fill_(x, parse_scalar(v, "fill_"));
  });
  cls.def("copy_", [](Tensor& x, py::object src) {
    Tensor s;
    if (!try_tensor(src, s)) s = as_tensor_operand(src, x, "copy_");
    return copy_(x, s);
  });
  cls.def("clamp_", [](Tensor& x, py::object min, py::object max) { return clamp_(x, opt_double(min), opt_double(max)); },
          py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("masked_fill_", [](Tensor& x, const Tensor& mask, py::object value) {
    return masked_fill_(x, mask, parse_scalar(value, "masked_fill_"));
  });
}

}  // namespace ember
