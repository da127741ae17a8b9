// DLPack interop: Tensor.__dlpack__/__dlpack_device__ (export, zero-copy) and ember.from_dlpack (import from
// NumPy, PyTorch or a raw capsule, zero-copy). The DLPack ABI structs are declared here (dlpack.h v1.0 layout).
#include <cstdint>
#include <cstring>

#include "bindings/common.h"

namespace ember {
namespace {

// ---- the DLPack ABI (https://dmlc.github.io/dlpack/latest/c_api.html), only what ember needs
enum : int32_t { kDLCPU = 1 };
enum : uint8_t { kDLInt = 0, kDLFloat = 2, kDLBool = 6 };
constexpr uint64_t kDLFlagReadOnly = 1ULL << 0;
constexpr uint64_t kDLFlagIsCopied = 1ULL << 1;
struct DLDevice { int32_t device_type; int32_t device_id; };
struct DLDataType { uint8_t code; uint8_t bits; uint16_t lanes; };
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;     // ndim entries
  int64_t* strides;   // ndim entries, in elements; NULL = compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
struct DLPackVersion { uint32_t major; uint32_t minor; };
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};

constexpr const char* kLegacyName = "dltensor";
constexpr const char* kVersionedName = "dltensor_versioned";
constexpr const char* kUsedLegacyName = "used_dltensor";
constexpr const char* kUsedVersionedName = "used_dltensor_versioned";

// ---- export

// Owns what an exported DLTensor points into: the tensor (and so its storage) and the shape/strides arrays.
template <typename Managed>
struct ExportContext {
  Managed managed{};
  Tensor tensor;
  Shape shape, strides;
};

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    default: return {kDLFloat, 64, 1};
  }
}

template <typename Managed>
void fill_dl_tensor(ExportContext<Managed>& ctx) {
  DLTensor& dl = ctx.managed.dl_tensor;
  dl.data = ctx.tensor.raw_data();
  dl.device = {kDLCPU, 0};
  dl.ndim = static_cast<int32_t>(ctx.tensor.dim());
  dl.dtype = dl_dtype(ctx.tensor.dtype());
  dl.shape = ctx.shape.data();
  dl.strides = ctx.strides.data();
  dl.byte_offset = 0;
}

template <typename Managed>
void delete_export(Managed* self) {
  // the tensor may own NumPy memory whose release takes the GIL itself; nothing here needs it
  delete static_cast<ExportContext<Managed>*>(self->manager_ctx);
}

// Capsule destructors: free the tensor only if no consumer took it (a consumer renames the capsule).
void legacy_capsule_destructor(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kLegacyName)) return;
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kLegacyName));
  if (m && m->deleter) m->deleter(m);
}

void versioned_capsule_destructor(PyObject* capsule) {
  if (!PyCapsule_IsValid(capsule, kVersionedName)) return;
  auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersionedName));
  if (m && m->deleter) m->deleter(m);
}

py::capsule make_capsule(void* pointer, const char* name, PyCapsule_Destructor destructor) {
  PyObject* cap = PyCapsule_New(pointer, name, destructor);
  if (!cap) throw py::error_already_set();
  return py::reinterpret_steal<py::capsule>(cap);
}

template <typename Managed>
ExportContext<Managed>* new_export(const Tensor& t) {
  auto* ctx = new ExportContext<Managed>();
  ctx->tensor = t;
  ctx->shape = t.shape();
  ctx->strides = t.strides();
  ctx->managed.manager_ctx = ctx;
  ctx->managed.deleter = &delete_export<Managed>;
  fill_dl_tensor(*ctx);
  return ctx;
}

py::capsule to_dlpack_legacy(const Tensor& t) {
  auto* ctx = new_export<DLManagedTensor>(t);
  try {
    return make_capsule(&ctx->managed, kLegacyName, legacy_capsule_destructor);
  } catch (...) {
    delete ctx;
    throw;
  }
}

py::capsule to_dlpack_versioned(const Tensor& t, bool copied) {
  auto* ctx = new_export<DLManagedTensorVersioned>(t);
  ctx->managed.version = {1, 0};
  ctx->managed.flags = copied ? kDLFlagIsCopied : 0;   // writable: NumPy then gives a writable array
  try {
    return make_capsule(&ctx->managed, kVersionedName, versioned_capsule_destructor);
  } catch (...) {
    delete ctx;
    throw;
  }
}

// (major, minor) from a max_version argument; None -> (0, 0) meaning "legacy only".
std::pair<int64_t, int64_t> parse_version(py::handle obj) {
  if (obj.is_none()) return {0, 0};
  if (!py::isinstance<py::tuple>(obj) || py::len(obj) != 2)
    throw TypeError("__dlpack__: max_version must be a (major, minor) tuple or None");
  auto tup = py::reinterpret_borrow<py::tuple>(obj);
  return {tup[0].cast<int64_t>(), tup[1].cast<int64_t>()};
}

py::capsule dlpack_export(const Tensor& t, py::handle stream, py::handle max_version, py::handle dl_device,
                          py::handle copy) {
  if (!stream.is_none()) {
    // CPU has no streams; the array API allows -1 ("no synchronisation") too
    bool minus_one = py::isinstance<py::int_>(stream) && stream.cast<int64_t>() == -1;
    if (!minus_one) throw py::buffer_error("__dlpack__: stream must be None for CPU tensors");
  }
  if (!dl_device.is_none()) {
    auto dev = py::reinterpret_borrow<py::tuple>(dl_device);
    if (py::len(dev) != 2 || dev[0].cast<int64_t>() != kDLCPU)
      throw py::buffer_error(str("__dlpack__: ember tensors live on the CPU (device (1, 0)); cannot export to ",
                                 py::repr(dl_device).cast<std::string>()));
  }
  EMBER_CHECK(!t.requires_grad(), RuntimeError,
              "__dlpack__: can't export a tensor that requires grad; use tensor.detach()");
  bool copied = !copy.is_none() && copy.cast<bool>();
  Tensor source = copied ? clone(t) : t;
  if (parse_version(max_version).first >= 1) return to_dlpack_versioned(source, copied);
  return to_dlpack_legacy(source);
}

// ---- import

DType parse_dl_dtype(DLDataType d) {
  EMBER_CHECK(d.lanes == 1, TypeError, "from_dlpack: vector dtypes (lanes=", d.lanes, ") are not supported");
  if (d.code == kDLFloat && d.bits == 32) return DType::Float32;
  if (d.code == kDLFloat && d.bits == 64) return DType::Float64;
  if (d.code == kDLInt && d.bits == 64) return DType::Int64;
  if (d.code == kDLBool && d.bits == 8) return DType::Bool;
  throw TypeError(str("from_dlpack: unsupported dtype (DLPack type code ", static_cast<int>(d.code), ", ",
                      static_cast<int>(d.bits), " bits); ember supports float32, float64, int64 and bool"));
}

// Checks a DLTensor and describes it as ember geometry; throws before anything is consumed.
struct Imported {
  void* data;
  Shape shape, strides;
  DType dtype;
};

Imported describe(const DLTensor& dl) {
  EMBER_CHECK(dl.device.device_type == kDLCPU, ValueError, "from_dlpack: only CPU tensors can be imported (device type ",
              dl.device.device_type, "); move the tensor to the CPU first");
  EMBER_CHECK(dl.ndim >= 0, ValueError, "from_dlpack: negative ndim ", dl.ndim);
  Imported out;
  out.dtype = parse_dl_dtype(dl.dtype);
  int64_t isz = static_cast<int64_t>(itemsize(out.dtype));
  EMBER_CHECK(dl.byte_offset % static_cast<uint64_t>(isz) == 0, ValueError, "from_dlpack: byte_offset ",
              dl.byte_offset, " is not a multiple of the item size ", isz);
  char* data = static_cast<char*>(dl.data) + dl.byte_offset;
  out.shape.assign(dl.shape, dl.shape + dl.ndim);
  int64_t numel = checked_numel(out.shape, "from_dlpack");
  EMBER_CHECK(numel == 0 || reinterpret_cast<uintptr_t>(data) % static_cast<uintptr_t>(isz) == 0, ValueError,
              "from_dlpack: data pointer is not aligned to the item size ", isz);
  if (dl.strides) {
    out.strides.assign(dl.strides, dl.strides + dl.ndim);
    for (int64_t s : out.strides)
      EMBER_CHECK(s >= 0 || numel == 0, ValueError,
                  "from_dlpack: negative strides are not supported (make a contiguous copy first)");
  } else {
    out.strides = contiguous_strides(out.shape);
  }
  out.data = data;
  return out;
}

// Wraps the memory; `release` runs the producer's deleter when the last ember tensor using it dies.
Tensor wrap_imported(const Imported& info, std::function<void(void*)> release) {
  Tensor t = from_blob(info.data, info.shape, info.strides, info.dtype, std::move(release));
  int64_t extent = 1;
  for (size_t i = 0; i < info.shape.size(); ++i)
    extent += info.shape[i] > 0 ? (info.shape[i] - 1) * info.strides[i] : 0;
  t.storage()->nbytes = static_cast<size_t>(t.numel() == 0 ? 0 : extent) * itemsize(info.dtype);
  return t;
}

// Runs a producer deleter with the GIL held (NumPy's and PyTorch's may touch Python objects).
template <typename Managed>
std::function<void(void*)> producer_release(Managed* m) {
  return [m](void*) {
    if (!m->deleter || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    m->deleter(m);
  };
}

Tensor from_capsule(py::capsule cap) {
  PyObject* p = cap.ptr();
  if (PyCapsule_IsValid(p, kVersionedName)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(p, kVersionedName));
    EMBER_CHECK(m->version.major == 1, ValueError, "from_dlpack: unsupported DLPack version ", m->version.major, ".",
                m->version.minor, " (ember understands 1.x)");
    EMBER_CHECK(!(m->flags & kDLFlagReadOnly), ValueError,
                "from_dlpack: the producer exported read-only memory, but ember tensors are always writable; "
                "pass a writable array or a copy");
    Imported info = describe(m->dl_tensor);
    Tensor t = wrap_imported(info, producer_release(m));
    PyCapsule_SetName(p, kUsedVersionedName);
    return t;
  }
  if (PyCapsule_IsValid(p, kLegacyName)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(p, kLegacyName));
    Imported info = describe(m->dl_tensor);
    Tensor t = wrap_imported(info, producer_release(m));
    PyCapsule_SetName(p, kUsedLegacyName);
    return t;
  }
  const char* name = PyCapsule_GetName(p);
  PyErr_Clear();
  throw ValueError(str("from_dlpack: expected an unconsumed DLPack capsule ('dltensor' or 'dltensor_versioned'), got "
                       "one named '", name ? name : "(null)", "' (a capsule can be imported only once)"));
}

Tensor from_dlpack(py::object obj) {
  if (PyCapsule_CheckExact(obj.ptr())) return from_capsule(py::reinterpret_borrow<py::capsule>(obj));
  if (!py::hasattr(obj, "__dlpack__"))
    throw TypeError(str("from_dlpack: expected an object with __dlpack__ (NumPy array, torch tensor, ...) or a "
                        "DLPack capsule, got ", py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
  if (py::hasattr(obj, "__dlpack_device__")) {
    py::tuple dev = obj.attr("__dlpack_device__")();
    int64_t type = dev[0].cast<int64_t>();
    EMBER_CHECK(type == kDLCPU, ValueError, "from_dlpack: only CPU tensors can be imported (device type ", type,
                "); move the tensor to the CPU first");
  }
  py::object cap;
  try {
    cap = obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    cap = obj.attr("__dlpack__")();   // a producer older than DLPack 1.0
  }
  EMBER_CHECK(PyCapsule_CheckExact(cap.ptr()), TypeError, "from_dlpack: __dlpack__ did not return a capsule");
  return from_capsule(py::reinterpret_borrow<py::capsule>(cap));
}

}  // namespace

void bind_interop(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  cls.def("__dlpack__", [](const Tensor& t, py::object stream, py::object max_version, py::object dl_device,
                           py::object copy) { return dlpack_export(t, stream, max_version, dl_device, copy); },
          py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
          py::arg("dl_device") = py::none(), py::arg("copy") = py::none(),
          "Exports the tensor as a DLPack capsule (versioned when max_version >= (1, 0)), sharing memory.");
  cls.def("__dlpack_device__", [](const Tensor&) { return py::make_tuple(static_cast<int>(kDLCPU), 0); });
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"),
        "A tensor sharing memory with a DLPack producer (NumPy array, torch tensor, capsule); CPU only.");
}

}  // namespace ember
