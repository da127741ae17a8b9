// Parsing of Python arguments shared by all bindings.
#include "bindings/common.h"
#include "ember/threads.h"

namespace ember {

PyTypeObject* tensor_type() {
  static PyTypeObject* type = nullptr;
  if (!type) {
    py::handle h = py::detail::get_type_handle(typeid(TensorImpl), false);
    type = reinterpret_cast<PyTypeObject*>(h.ptr());
  }
  return type;
}

bool try_tensor(py::handle obj, Tensor& out) {
  py::detail::make_caster<Tensor> caster;
  if (!caster.load(obj, false)) return false;
  out = py::detail::cast_op<Tensor>(caster);
  return true;
}

DType parse_dtype(py::handle obj, const char* op) {
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float32;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  std::string name;
  if (py::isinstance<py::str>(obj)) {
    name = obj.cast<std::string>();
  } else {
    try {   // numpy dtypes and scalar types
      name = py::module_::import("numpy").attr("dtype")(obj).attr("name").cast<std::string>();
    } catch (py::error_already_set&) {
      throw TypeError(str(op, ": expected a dtype, got ", py::repr(obj).cast<std::string>()));
    }
  }
  if (name == "float32" || name == "float") return DType::Float32;
  if (name == "float64" || name == "double") return DType::Float64;
  if (name == "int64" || name == "long") return DType::Int64;
  if (name == "bool") return DType::Bool;
  throw TypeError(str(op, ": unsupported dtype '", name, "' (ember supports float32, float64, int64 and bool)"));
}

std::optional<DType> parse_optional_dtype(py::handle obj, const char* op) {
  if (obj.is_none()) return std::nullopt;
  return parse_dtype(obj, op);
}

static int64_t parse_index_int(py::handle item, const char* op, const char* what) {
  if (py::isinstance<py::bool_>(item) || !(py::isinstance<py::int_>(item) || py::hasattr(item, "__index__")))
    throw TypeError(str(op, ": ", what, " must be a tuple of ints, but found element of type ",
                        py::str(py::type::of(item).attr("__name__")).cast<std::string>()));
  return py::reinterpret_steal<py::object>(PyNumber_Index(item.ptr())).cast<int64_t>();
}

Shape parse_shape(py::handle obj, const char* op) {
  Shape shape;
  if (py::isinstance<py::int_>(obj) && !py::isinstance<py::bool_>(obj)) return {obj.cast<int64_t>()};
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj))
    throw TypeError(str(op, ": size must be a tuple of ints, got ", py::repr(obj).cast<std::string>()));
  for (auto item : py::reinterpret_borrow<py::sequence>(obj)) shape.push_back(parse_index_int(item, op, "size"));
  return shape;
}

Shape parse_size_args(const py::args& args, const char* op) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return parse_shape(args[0], op);
  Shape shape;
  for (auto item : args) shape.push_back(parse_index_int(item, op, "size"));
  return shape;
}

Dims parse_dims(py::handle obj, const char* op) {
  if (obj.is_none()) return {};
  if (py::isinstance<py::int_>(obj)) return {obj.cast<int64_t>()};
  Dims dims;
  for (auto item : py::reinterpret_borrow<py::sequence>(obj)) dims.push_back(parse_index_int(item, op, "dim"));
  return dims;
}

bool is_number(py::handle obj) {
  return PyFloat_Check(obj.ptr()) || PyLong_Check(obj.ptr());   // bool is a subclass of int
}

Scalar parse_scalar(py::handle obj, const char* op) {
  if (PyBool_Check(obj.ptr())) return Scalar(obj.ptr() == Py_True);
  if (PyLong_Check(obj.ptr())) return Scalar(static_cast<int64_t>(obj.cast<int64_t>()));
  if (PyFloat_Check(obj.ptr())) return Scalar(PyFloat_AS_DOUBLE(obj.ptr()));
  if (py::hasattr(obj, "__float__") && !py::hasattr(obj, "shape")) return Scalar(obj.cast<double>());
  throw TypeError(str(op, ": expected a number, got ", py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
}

Tensor as_tensor_operand(py::handle obj, const Tensor& like, const char* op) {
  Tensor t;
  if (try_tensor(obj, t)) return t;
  Scalar s = parse_scalar(obj, op);
  DType d = like.dtype();
  if (s.is_integral) d = d == DType::Bool && !PyBool_Check(obj.ptr()) ? DType::Int64 : d;
  else if (!is_floating(d)) d = DType::Float32;
  return scalar_tensor(s, d);
}

void keep_interrupt_handler() {
  if (interrupt_handler_installed()) return;
  py::module_ signal = py::module_::import("signal");
  py::object handler = signal.attr("getsignal")(signal.attr("SIGINT"));
  install_interrupt_handler(handler.is(signal.attr("default_int_handler")));
}

}  // namespace ember
