// Tensor.__getitem__ / __setitem__ with PyTorch's (NumPy's) rules, parsed in C++: ints, slices, None, ...,
// bools, int64/bool tensors, lists and NumPy arrays. Basic indexing returns views built from slice/select/
// unsqueeze (so autograd flows through them); tensor indices go through index / index_put_.
#include <pybind11/numpy.h>

#include <cstring>

#include "bindings/common.h"

namespace ember {

void bind_join(py::module_& m);   // below

namespace {

enum class ItemKind { Int, Slice, NewAxis, Ellipsis, BoolScalar, TensorIndex };

struct Item {
  ItemKind kind;
  int64_t value = 0;                          // Int: the index; BoolScalar: 0 or 1
  Py_ssize_t start = 0, stop = 0, step = 1;   // Slice: as PySlice_Unpack gives them
  Tensor tensor;                              // TensorIndex: int64 or bool, at least 1-d
};

[[noreturn]] void throw_python_error() { throw py::error_already_set(); }

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")).cast<std::string>(); }

int64_t as_index_int(PyObject* obj) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
  if (overflow) throw IndexError("index is too large to fit in int64");
  if (v == -1 && PyErr_Occurred()) throw_python_error();
  return static_cast<int64_t>(v);
}

PyObject* numpy_bool_type() {
  static PyObject* type = [] {
    return py::object(py::module_::import("numpy").attr("bool_")).release().ptr();   // kept for the process lifetime
  }();
  return type;
}

// A list / tuple / NumPy array used as an index -> an int64 or bool tensor (a copy).
Tensor sequence_index(py::handle obj) {
  py::array arr = py::array::ensure(obj);
  if (!arr) {
    PyErr_Clear();
    throw IndexError(str("index: could not convert an object of type ", type_name(obj), " to an index tensor"));
  }
  char kind = arr.dtype().kind();
  DType dtype;
  if (kind == 'b') dtype = DType::Bool;
  else if (kind == 'i' || kind == 'u' || arr.size() == 0) dtype = DType::Int64;
  else
    throw IndexError(str("tensors used as indices must be long (int64) or bool tensors; got a sequence of dtype ",
                         py::str(arr.dtype()).cast<std::string>()));
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  Tensor t = empty(shape, dtype);
  if (dtype == DType::Bool) {
    auto contiguous = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(arr);
    std::memcpy(t.raw_data(), contiguous.data(), static_cast<size_t>(t.numel()));
  } else {
    auto contiguous = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!contiguous) throw_python_error();
    std::memcpy(t.raw_data(), contiguous.data(), static_cast<size_t>(t.numel()) * sizeof(int64_t));
  }
  return t;
}

Item parse_item(py::handle obj) {
  PyObject* p = obj.ptr();
  Item item{ItemKind::Int};
  if (PyLong_Check(p) && !PyBool_Check(p)) {
    item.value = as_index_int(p);
  } else if (PySlice_Check(p)) {
    item.kind = ItemKind::Slice;
    if (PySlice_Unpack(p, &item.start, &item.stop, &item.step) < 0) throw_python_error();
    EMBER_CHECK(item.step > 0, ValueError, "step must be greater than zero");
  } else if (p == Py_None) {
    item.kind = ItemKind::NewAxis;
  } else if (p == Py_Ellipsis) {
    item.kind = ItemKind::Ellipsis;
  } else if (PyBool_Check(p) || PyObject_IsInstance(p, numpy_bool_type()) == 1) {
    item.kind = ItemKind::BoolScalar;
    item.value = PyObject_IsTrue(p);
  } else if (try_tensor(obj, item.tensor) || PyList_Check(p) || PyTuple_Check(p) || py::isinstance<py::array>(obj)) {
    Tensor t = item.tensor.defined() ? item.tensor : sequence_index(obj);
    item.tensor = Tensor();
    EMBER_CHECK(t.dtype() == DType::Int64 || t.dtype() == DType::Bool, IndexError,
                "tensors used as indices must be long (int64) or bool tensors, got ", dtype_name(t.dtype()));
    if (t.dim() == 0) {   // a 0-d tensor acts as a Python int / bool
      item.kind = t.dtype() == DType::Bool ? ItemKind::BoolScalar : ItemKind::Int;
      item.value = t.dtype() == DType::Bool ? static_cast<int64_t>(*t.data<bool>()) : *t.data<int64_t>();
    } else {
      item.kind = ItemKind::TensorIndex;
      item.tensor = t;
    }
  } else if (PyIndex_Check(p)) {   // NumPy integer scalars and other __index__ types
    PyObject* as_int = PyNumber_Index(p);
    if (!as_int) throw_python_error();
    item.value = as_index_int(as_int);
    Py_DECREF(as_int);
  } else {
    throw IndexError(str("only integers, slices (`:`), ellipsis (`...`), None and long or bool tensors are valid "
                         "indices (got ", type_name(obj), ")"));
  }
  return item;
}

std::vector<Item> parse_index(py::handle index) {
  std::vector<Item> items;
  if (PyTuple_Check(index.ptr())) {
    Py_ssize_t n = PyTuple_GET_SIZE(index.ptr());
    items.reserve(n);
    for (Py_ssize_t i = 0; i < n; ++i) items.push_back(parse_item(PyTuple_GET_ITEM(index.ptr(), i)));
  } else {
    items.push_back(parse_item(index));
  }
  return items;
}

int64_t dims_consumed(const Item& item) {
  switch (item.kind) {
    case ItemKind::Int:
    case ItemKind::Slice: return 1;
    case ItemKind::TensorIndex: return item.tensor.dtype() == DType::Bool ? item.tensor.dim() : 1;
    default: return 0;
  }
}

Tensor apply_slice(const Tensor& view, int64_t dim, const Item& item) {
  Py_ssize_t start = item.start, stop = item.stop;
  Py_ssize_t length = view.shape()[dim];
  PySlice_AdjustIndices(length, &start, &stop, item.step);
  if (start == 0 && stop >= length && item.step == 1) return view;   // a full slice: nothing to do
  return slice(view, dim, start, stop, item.step);
}

// The basic part of an index expression applied as views; tensor indices come back in `advanced`, aligned with
// the dims of the returned view (undefined = not indexed; a bool mask covers as many dims as it has).
Tensor apply_basic(const Tensor& x, const std::vector<Item>& items, std::vector<Tensor>& advanced) {
  int64_t consumed = 0, ellipses = 0;
  for (const Item& item : items) {
    consumed += dims_consumed(item);
    ellipses += item.kind == ItemKind::Ellipsis;
  }
  EMBER_CHECK(ellipses <= 1, IndexError, "an index can only have a single ellipsis ('...')");
  if (consumed > x.dim()) {
    if (x.dim() == 0)
      throw IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python to convert a 0-dim tensor "
                       "to a number");
    throw IndexError(str("too many indices for tensor of dimension ", x.dim()));
  }
  Tensor view = x;
  int64_t dim = 0, covered = 0;   // dim: position in `view`; covered: dims of `view` accounted for in `advanced`
  int64_t source_dim = 0;         // the dim of x that the current item indexes (for error messages)
  for (const Item& item : items) {
    switch (item.kind) {
      case ItemKind::Int: {
        const int64_t size = view.shape()[dim];
        EMBER_CHECK(item.value >= -size && item.value < size, IndexError, "index ", item.value,
                    " is out of bounds for dimension ", source_dim, " with size ", size);
        view = select(view, dim, item.value);
        break;
      }
      case ItemKind::Slice: view = apply_slice(view, dim, item); ++dim; break;
      case ItemKind::NewAxis: view = unsqueeze(view, dim); ++dim; break;
      case ItemKind::Ellipsis: dim += x.dim() - consumed; source_dim += x.dim() - consumed; break;
      case ItemKind::BoolScalar:
        view = unsqueeze(view, dim);
        if (!item.value) view = slice(view, dim, 0, 0, 1);
        ++dim;
        break;
      case ItemKind::TensorIndex:
        for (; covered < dim; ++covered) advanced.emplace_back();
        advanced.push_back(item.tensor);
        dim += dims_consumed(item);
        covered = dim;
        break;
    }
    source_dim += dims_consumed(item);
  }
  return view;
}

Tensor getitem(const Tensor& x, py::handle index) {
  PyObject* p = index.ptr();
  if (PyLong_CheckExact(p)) {   // fast path: x[i]
    EMBER_CHECK(x.dim() > 0, IndexError,
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python to convert a 0-dim tensor to a number");
    return select(x, 0, as_index_int(p));
  }
  if (PySlice_Check(p)) {   // fast path: x[a:b:c]
    EMBER_CHECK(x.dim() > 0, IndexError, "too many indices for tensor of dimension 0");
    Tensor view = apply_slice(x, 0, parse_item(index));
    return view.same(x) ? reshape(x, x.shape()) : view;
  }
  std::vector<Item> items = parse_index(index);
  std::vector<Tensor> advanced;
  Tensor view = apply_basic(x, items, advanced);
  if (!advanced.empty()) return ember::index(view, advanced);
  if (view.same(x)) return reshape(x, x.shape());   // x[...], x[()], x[:]: still a new view of the same data
  return view;
}

Tensor value_tensor(py::handle value, const Tensor& like) {
  Tensor t;
  if (try_tensor(value, t)) return t;
  if (is_number(value) || PyObject_IsInstance(value.ptr(), numpy_bool_type()) == 1 ||
      (PyIndex_Check(value.ptr()) && !py::isinstance<py::array>(value)))
    return scalar_tensor(parse_scalar(value, "__setitem__"), like.dtype());
  if (py::hasattr(value, "__float__") && !py::hasattr(value, "shape"))   // NumPy float scalars
    return scalar_tensor(Scalar(value.cast<double>()), like.dtype());
  return py::module_::import("ember").attr("tensor")(value, py::arg("dtype") = like.dtype()).cast<Tensor>();
}

// For every element of x[index], its coordinates in x: one int64 tensor per dim of x, each shaped as x[index].
std::vector<Tensor> coordinates_of(const Tensor& x, const std::vector<Item>& items) {
  Tensor positions;
  {
    autograd::GradModeGuard no_grad(false);
    positions = reshape(arange(0, static_cast<double>(x.numel()), 1, DType::Int64), x.shape());
    std::vector<Tensor> advanced;
    Tensor view = apply_basic(positions, items, advanced);
    positions = contiguous(advanced.empty() ? view : ember::index(view, advanced));
  }
  const Shape strides = contiguous_strides(x.shape());
  const int64_t* flat = positions.data<int64_t>();
  std::vector<Tensor> coords;
  for (int64_t d = 0; d < x.dim(); ++d) {
    Tensor c = empty(positions.shape(), DType::Int64);
    int64_t* out = c.data<int64_t>();
    for (int64_t i = 0; i < positions.numel(); ++i) out[i] = (flat[i] / strides[d]) % x.shape()[d];
    coords.push_back(c);
  }
  return coords;
}

void setitem(Tensor& x, py::handle index, py::handle value_obj) {
  Tensor value = value_tensor(value_obj, x);
  std::vector<Item> items = parse_index(index);
  const bool tracked = autograd::grad_enabled() && is_floating(x.dtype()) &&
                       (x.requires_grad() || value.requires_grad());
  if (tracked) {   // written as index_put_ over x's own coordinates, so that x gets the history of the write
    EMBER_CHECK(!(x.is_leaf() && x.impl()->requires_grad), RuntimeError,
                "__setitem__: a leaf Variable that requires grad is being used in an in-place operation");
    EMBER_CHECK(!x.impl()->is_view, NotImplementedError,
                "__setitem__: assigning into a view of a tensor that takes part in autograd is not supported; "
                "clone() the tensor first, or assign under ember.no_grad()");
    index_put_(x, coordinates_of(x, items), value, false);
    return;
  }
  std::vector<Tensor> advanced;
  Tensor view;
  {
    autograd::GradModeGuard no_grad(false);
    view = apply_basic(x, items, advanced);
  }
  if (!advanced.empty()) {
    index_put_(view, advanced, value, false);
    return;
  }
  const Shape& target = view.shape();
  bool broadcasts = value.dim() <= view.dim();
  for (int64_t i = 0; broadcasts && i < value.dim(); ++i) {
    int64_t size = value.shape()[i];
    broadcasts = size == 1 || size == target[target.size() - value.shape().size() + i];
  }
  EMBER_CHECK(broadcasts, ValueError, "__setitem__: shape mismatch: value tensor of shape ",
              shape_str(value.shape()), " cannot be broadcast to indexing result of shape ", shape_str(view.shape()));
  if (value.storage() == x.storage()) value = clone(detach(value));   // overlapping source: read before writing
  copy_into(view, value);
  x.bump_version();
}

std::vector<Tensor> tensor_list(py::handle obj, const char* op) {
  Tensor single;
  EMBER_CHECK(!try_tensor(obj, single), TypeError, op, ": expected a sequence of Tensors, but got a single Tensor");
  EMBER_CHECK(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), TypeError, op,
              ": expected a sequence of Tensors, got ", type_name(obj));
  std::vector<Tensor> out;
  for (auto item : py::reinterpret_borrow<py::sequence>(obj)) {
    Tensor t;
    EMBER_CHECK(try_tensor(item, t), TypeError, op, ": expected a sequence of Tensors, but element ", out.size(),
                " is of type ", type_name(item));
    out.push_back(t);
  }
  return out;
}

py::tuple as_tuple(const std::vector<Tensor>& tensors) {
  py::tuple out(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) out[i] = py::cast(tensors[i]);
  return out;
}

}  // namespace

void bind_indexing(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  cls.def("__getitem__", [](const Tensor& x, py::handle index) { return getitem(x, index); });
  cls.def("__setitem__", [](Tensor& x, py::handle index, py::handle value) { setitem(x, index, value); });

  auto index_put_fn = [](Tensor& x, py::object indices, const Tensor& values, bool accumulate) {
    std::vector<Tensor> list;
    EMBER_CHECK(py::isinstance<py::tuple>(indices) || py::isinstance<py::list>(indices), TypeError,
                "index_put_: indices must be a tuple of Tensors, got ", type_name(indices));
    for (auto item : py::reinterpret_borrow<py::sequence>(indices)) {
      Tensor t;
      EMBER_CHECK(item.is_none() || try_tensor(item, t), TypeError,
                  "index_put_: indices must be a tuple of Tensors (or None), got an element of type ", type_name(item));
      list.push_back(t);
    }
    index_put_(x, list, values, accumulate);
    return x;
  };
  cls.def("index_put_", index_put_fn, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  cls.def("index_put", [index_put_fn](const Tensor& x, py::object indices, const Tensor& values, bool accumulate) {
    Tensor out = clone(x);
    return index_put_fn(out, indices, values, accumulate);
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);

  auto index_select_fn = [](const Tensor& x, int64_t dim, const Tensor& index) { return index_select(x, dim, index); };
  m.def("index_select", index_select_fn, py::arg("input"), py::arg("dim"), py::arg("index"));
  cls.def("index_select", index_select_fn, py::arg("dim"), py::arg("index"));
  auto masked_select_fn = [](const Tensor& x, const Tensor& mask) { return masked_select(x, mask); };
  m.def("masked_select", masked_select_fn, py::arg("input"), py::arg("mask"));
  cls.def("masked_select", masked_select_fn, py::arg("mask"));
  auto gather_fn = [](const Tensor& x, int64_t dim, const Tensor& index) { return gather(x, dim, index); };
  m.def("gather", gather_fn, py::arg("input"), py::arg("dim"), py::arg("index"));
  cls.def("gather", gather_fn, py::arg("dim"), py::arg("index"));
  auto scatter_add_fn = [](const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    return scatter_add(x, dim, index, src);
  };
  m.def("scatter_add", scatter_add_fn, py::arg("input"), py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_add", scatter_add_fn, py::arg("dim"), py::arg("index"), py::arg("src"));
  auto nonzero_fn = [](const Tensor& x, bool as_tuple_result) -> py::object {
    Tensor coords = nonzero(x);
    if (!as_tuple_result) return py::cast(coords);
    if (x.dim() == 0) return as_tuple({zeros({coords.shape()[0]}, DType::Int64)});   // seen as 1-D
    return as_tuple(unbind(coords, 1));
  };
  m.def("nonzero", nonzero_fn, py::arg("input"), py::kw_only(), py::arg("as_tuple") = false);
  cls.def("nonzero", nonzero_fn, py::kw_only(), py::arg("as_tuple") = false);

  bind_join(m);
}

// ---- joining and splitting: cat, stack, split, chunk, unbind

void bind_join(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  m.def("cat", [](py::object tensors, int64_t dim) { return cat(tensor_list(tensors, "cat"), dim); },
        py::arg("tensors"), py::arg("dim") = 0);
  m.attr("concatenate") = m.attr("cat");
  m.attr("concat") = m.attr("cat");
  m.def("stack", [](py::object tensors, int64_t dim) { return stack(tensor_list(tensors, "stack"), dim); },
        py::arg("tensors"), py::arg("dim") = 0);

  auto split_fn = [](const Tensor& x, py::object sections, int64_t dim) {
    if (PyLong_Check(sections.ptr()) && !PyBool_Check(sections.ptr())) return as_tuple(split(x, sections.cast<int64_t>(), dim));
    EMBER_CHECK(py::isinstance<py::sequence>(sections), TypeError,
                "split: split_size_or_sections must be an int or a list of ints, got ", type_name(sections));
    return as_tuple(split_with_sizes(x, parse_shape(sections, "split"), dim));
  };
  m.def("split", split_fn, py::arg("tensor"), py::arg("split_size_or_sections"), py::arg("dim") = 0);
  cls.def("split", split_fn, py::arg("split_size"), py::arg("dim") = 0);
  cls.def("split_with_sizes", [](const Tensor& x, py::object sizes, int64_t dim) {
    return as_tuple(split_with_sizes(x, parse_shape(sizes, "split_with_sizes"), dim));
  }, py::arg("split_sizes"), py::arg("dim") = 0);
  auto chunk_fn = [](const Tensor& x, int64_t chunks, int64_t dim) { return as_tuple(chunk(x, chunks, dim)); };
  m.def("chunk", chunk_fn, py::arg("input"), py::arg("chunks"), py::arg("dim") = 0);
  cls.def("chunk", chunk_fn, py::arg("chunks"), py::arg("dim") = 0);
  auto unbind_fn = [](const Tensor& x, int64_t dim) { return as_tuple(unbind(x, dim)); };
  m.def("unbind", unbind_fn, py::arg("input"), py::arg("dim") = 0);
  cls.def("unbind", unbind_fn, py::arg("dim") = 0);
}

}  // namespace ember
