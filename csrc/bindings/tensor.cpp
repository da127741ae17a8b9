// The Tensor class as Python sees it: attributes, autograd fields, NumPy buffer protocol, factories.
#include <pybind11/numpy.h>

#include "ember/autograd.h"
#include "bindings/common.h"
#include "ops/random_state.h"

namespace ember {
namespace {

const char* numpy_format(DType d) {
  switch (d) {
    case DType::Bool: return "?";
    case DType::Int64: return "q";
    case DType::Float32: return "f";
    default: return "d";
  }
}

// Zero-copy NumPy -> Tensor; the array stays alive as long as the storage does.
Tensor from_numpy(py::array arr) {
  py::dtype dt = arr.dtype();
  char kind = dt.kind();
  int64_t isz = dt.itemsize();
  DType d;
  if (kind == 'f' && isz == 4) d = DType::Float32;
  else if (kind == 'f' && isz == 8) d = DType::Float64;
  else if (kind == 'i' && isz == 8) d = DType::Int64;
  else if (kind == 'b') d = DType::Bool;
  else
    throw TypeError(str("from_numpy: can't convert np.ndarray of type ", py::str(dt).cast<std::string>(),
                        ". The only supported types are: float64, float32, int64, and bool."));
  EMBER_CHECK(dt.attr("isnative").cast<bool>(), TypeError, "from_numpy: byte-swapped arrays are not supported");
  Shape shape(arr.ndim()), strides(arr.ndim());
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    shape[i] = arr.shape(i);
    EMBER_CHECK(arr.strides(i) % isz == 0, ValueError, "from_numpy: strides that are not a multiple of the item size");
    EMBER_CHECK(arr.strides(i) >= 0, ValueError,
                "from_numpy: arrays with negative strides are not supported (use np.ascontiguousarray or .copy())");
    strides[i] = arr.strides(i) / isz;
  }
  auto* owner = new py::object(arr);
  Tensor t = from_blob(const_cast<void*>(arr.data()), shape, strides, d, [owner](void*) {
    py::gil_scoped_acquire gil;
    delete owner;
  });
  // the storage must cover the whole strided extent (for as_strided bounds checks)
  int64_t extent = 1;
  for (size_t i = 0; i < shape.size(); ++i) extent += shape[i] > 0 ? (shape[i] - 1) * strides[i] : 0;
  t.storage()->nbytes = static_cast<size_t>(t.numel() == 0 ? 0 : extent) * itemsize(d);
  return t;
}

py::buffer_info buffer_of(const Tensor& t) {
  size_t isz = itemsize(t.dtype());
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
  for (int64_t s : t.strides()) strides.push_back(static_cast<py::ssize_t>(s * static_cast<int64_t>(isz)));
  return py::buffer_info(t.raw_data(), static_cast<py::ssize_t>(isz), numpy_format(t.dtype()), t.dim(), shape, strides);
}

// Tensor -> NumPy sharing memory (the array keeps the tensor alive).
py::array to_numpy(const Tensor& t) {
  EMBER_CHECK(!(t.requires_grad() && autograd::grad_enabled()), RuntimeError,
              "numpy: can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
  py::buffer_info info = buffer_of(t);
  py::object owner = py::cast(t);
  return py::array(py::dtype(info), info.shape, info.strides, info.ptr, owner);
}

}  // namespace

void bind_tensor(py::module_& m) {
  py::enum_<DType>(m, "dtype")
      .value("bool", DType::Bool)
      .value("int64", DType::Int64)
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .def("__repr__", [](DType d) { return std::string("ember.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("ember.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });

  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> cls(m, "Tensor", py::buffer_protocol(), py::dynamic_attr());
  cls.def_buffer([](TensorImpl& impl) { return buffer_of(Tensor(std::shared_ptr<TensorImpl>(std::shared_ptr<TensorImpl>{}, &impl))); });
  cls.def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("dtype", [](const Tensor& t) { return t.dtype(); })
      .def_property_readonly("ndim", [](const Tensor& t) { return t.dim(); })
      .def("dim", [](const Tensor& t) { return t.dim(); })
      .def("numel", [](const Tensor& t) { return t.numel(); })
      .def("nelement", [](const Tensor& t) { return t.numel(); })
      .def("element_size", [](const Tensor& t) { return itemsize(t.dtype()); })
      .def("__len__", [](const Tensor& t) {
        EMBER_CHECK(t.dim() > 0, TypeError, "len() of a 0-d tensor");
        return t.shape()[0];
      })
      .def("size", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return py::tuple(py::cast(t.shape()));
        return py::int_(t.size(dim.cast<int64_t>()));
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return py::tuple(py::cast(t.strides()));
        return py::int_(t.strides()[wrap_dim(dim.cast<int64_t>(), t.dim(), "stride")]);
      }, py::arg("dim") = py::none())
      .def("storage_offset", [](const Tensor& t) { return t.offset(); })
      .def("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t.dtype()); })
      .def_property_readonly("device", [](const Tensor&) { return "cpu"; })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t.is_leaf(); })
      .def_property("requires_grad", [](const Tensor& t) { return t.requires_grad(); },
                    [](Tensor& t, bool r) { t.set_requires_grad(r); })
      .def("requires_grad_", [](Tensor& t, bool r) { t.set_requires_grad(r); return t; }, py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) { return t.grad(); },
                    [](Tensor& t, py::object g) {
                      if (g.is_none()) { t.set_grad(Tensor()); return; }
                      Tensor gt;
                      EMBER_CHECK(try_tensor(g, gt), TypeError, "assigned grad expected to be a Tensor or None");
                      EMBER_CHECK(gt.shape() == t.shape(), RuntimeError, "assigned grad has data of a different size (",
                                  shape_str(gt.shape()), " vs ", shape_str(t.shape()), ")");
                      EMBER_CHECK(gt.dtype() == t.dtype(), TypeError, "assigned grad has data of a different type");
                      t.set_grad(gt);
                    })
      .def_property_readonly("grad_fn", [](const Tensor& t) { return t.grad_fn(); })
      .def_property_readonly("_version", [](const Tensor& t) { return t.storage()->version.load(); })
      .def("detach", [](const Tensor& t) { return detach(t); })
      .def("detach_", [](Tensor& t) {
        EMBER_CHECK(!t.impl()->is_view || !t.requires_grad(), RuntimeError, "detach_: can't detach views in-place");
        t.impl()->grad_fn = nullptr;
        t.impl()->requires_grad = false;
        return t;
      })
      .def("numpy", [](const Tensor& t) { return to_numpy(t); })
      .def("_numpy_view", [](const Tensor& t) {   // ignores requires_grad (for repr and internal use)
        py::buffer_info info = buffer_of(t);
        return py::array(py::dtype(info), info.shape, info.strides, info.ptr, py::cast(t));
      })
      .def("item", [](const Tensor& t) -> py::object {
        double v = item(t);
        if (t.dtype() == DType::Bool) return py::bool_(v != 0.0);
        if (t.dtype() == DType::Int64) return py::int_(*t.data<int64_t>());
        return py::float_(v);
      });

  m.def("from_numpy", &from_numpy, py::arg("ndarray"));
  m.def("empty", [](py::args size, py::object dtype, bool requires_grad) {
    Tensor t = empty(parse_size_args(size, "empty"), parse_optional_dtype(dtype, "empty").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("zeros", [](py::args size, py::object dtype, bool requires_grad) {
    Tensor t = zeros(parse_size_args(size, "zeros"), parse_optional_dtype(dtype, "zeros").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("ones", [](py::args size, py::object dtype, bool requires_grad) {
    Tensor t = ones(parse_size_args(size, "ones"), parse_optional_dtype(dtype, "ones").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("full", [](py::object size, py::object value, py::object dtype, bool requires_grad) {
    Scalar s = parse_scalar(value, "full");
    DType d = parse_optional_dtype(dtype, "full").value_or(
        PyBool_Check(value.ptr()) ? DType::Bool : (s.is_integral ? DType::Int64 : DType::Float32));
    Tensor t = full(parse_shape(size, "full"), s, d);
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("requires_grad") = false);
  m.def("_arange", [](double start, double end, double step, DType dtype) { return arange(start, end, step, dtype); });
  m.def("linspace", [](double start, double end, int64_t steps, py::object dtype, bool requires_grad) {
    Tensor t = linspace(start, end, steps, parse_optional_dtype(dtype, "linspace").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::arg("start"), py::arg("end"), py::arg("steps"), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("requires_grad") = false);
  m.def("eye", [](int64_t n, py::object mcols, py::object dtype, bool requires_grad) {
    Tensor t = eye(n, mcols.is_none() ? n : mcols.cast<int64_t>(), parse_optional_dtype(dtype, "eye").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::arg("n"), py::arg("m") = py::none(), py::kw_only(), py::arg("dtype") = py::none(),
     py::arg("requires_grad") = false);

  m.def("manual_seed", [](int64_t seed) { manual_seed(static_cast<uint64_t>(seed)); }, py::arg("seed"));
  m.def("initial_seed", [] { return initial_seed(); });
  m.def("get_rng_state", [] { RandomState s = get_random_state(); return py::make_tuple(s.seed, s.offset); });
  m.def("set_rng_state", [](py::tuple state) {
    EMBER_CHECK(state.size() == 2, ValueError, "set_rng_state: expected a (seed, offset) tuple");
    set_random_state({state[0].cast<uint64_t>(), state[1].cast<uint64_t>()});
  });
  m.def("rand", [](py::args size, py::object dtype, bool requires_grad) {
    Tensor t = rand(parse_size_args(size, "rand"), parse_optional_dtype(dtype, "rand").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("randn", [](py::args size, py::object dtype, bool requires_grad) {
    Tensor t = randn(parse_size_args(size, "randn"), parse_optional_dtype(dtype, "randn").value_or(DType::Float32));
    if (requires_grad) t.set_requires_grad(true);
    return t;
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("_randint", [](int64_t low, int64_t high, py::object size, DType dtype) {
    return randint(low, high, parse_shape(size, "randint"), dtype);
  });
  auto multinomial_fn = [](const Tensor& probs, int64_t num_samples, bool replacement) {
    return multinomial(probs, num_samples, replacement);
  };
  m.def("multinomial", multinomial_fn, py::arg("input"), py::arg("num_samples"), py::arg("replacement") = false);
  cls.def("multinomial", multinomial_fn, py::arg("num_samples"), py::arg("replacement") = false);
  m.def("randperm", [](int64_t n, py::object dtype) {
    return randperm(n, parse_optional_dtype(dtype, "randperm").value_or(DType::Int64));
  }, py::arg("n"), py::kw_only(), py::arg("dtype") = py::none());
  m.def("_randperm_seeded", [](int64_t n, uint64_t seed, uint64_t stream) { return randperm_seeded(n, seed, stream); },
        py::arg("n"), py::arg("seed"), py::arg("stream"),
        "A permutation of range(n) fixed by (seed, stream); leaves the global RNG alone (DataLoader shuffling).");
}

}  // namespace ember
