// Shared pybind11 glue: Tensor <-> Python conversion (the Python Tensor is the bound TensorImpl itself),
// and parsing of dtypes, shapes, dims and numbers from Python arguments. Bindings only: no computation.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "ember/node.h"
#include "ember/tensor.h"
#include "ember/ops.h"

namespace ember {
// The Python type of ember.Tensor (null before bind_tensor ran). Used to reject non-tensors cheaply: pybind11's
// generic loader would otherwise look up a module-local attribute on e.g. `float`, raising and formatting an
// AttributeError on every `tensor * 2.0`.
PyTypeObject* tensor_type();
}  // namespace ember

namespace pybind11 {
namespace detail {

template <>
struct type_caster<ember::Tensor> {
 public:
  PYBIND11_TYPE_CASTER(ember::Tensor, const_name("Tensor"));
  bool load(handle src, bool convert) {
    PyTypeObject* type = ember::tensor_type();
    if (type && !PyObject_TypeCheck(src.ptr(), type)) return false;
    copyable_holder_caster<ember::TensorImpl, std::shared_ptr<ember::TensorImpl>> inner;
    if (!inner.load(src, convert)) return false;
    value = ember::Tensor(static_cast<std::shared_ptr<ember::TensorImpl>&>(inner));
    return true;
  }
  static handle cast(const ember::Tensor& t, return_value_policy, handle parent) {
    if (!t.defined()) return none().release();
    return copyable_holder_caster<ember::TensorImpl, std::shared_ptr<ember::TensorImpl>>::cast(
        t.impl_ptr(), return_value_policy::take_ownership, parent);
  }
};

}  // namespace detail
}  // namespace pybind11

namespace ember {
namespace py = pybind11;

// ember.float32 / np.float32 / torch-style names / Python float, int, bool.
DType parse_dtype(py::handle obj, const char* op);
std::optional<DType> parse_optional_dtype(py::handle obj, const char* op);
// (2, 3), [2, 3], or varargs *size given as a tuple.
Shape parse_shape(py::handle obj, const char* op);
Shape parse_size_args(const py::args& args, const char* op);
// None (all dims), an int, or a tuple/list of ints.
Dims parse_dims(py::handle obj, const char* op);
// Python bool/int/float (or a 0-d tensor's value is NOT taken: tensors stay tensors).
bool is_number(py::handle obj);
Scalar parse_scalar(py::handle obj, const char* op);
// Tensor as is; a Python number becomes a 0-d tensor next to `like` (PyTorch's wrapped-number rule).
Tensor as_tensor_operand(py::handle obj, const Tensor& like, const char* op);
bool try_tensor(py::handle obj, Tensor& out);

// Runs f() with the GIL released, so its kernels overlap other Python threads. Every Python argument must be
// converted to C++ values before (nothing inside f may touch a Python object). Below kGilFreeElements the
// release (plus re-taking a contended GIL) costs more than it frees, so small ops keep the GIL.
constexpr int64_t kGilFreeElements = 16384;
// Before a long op (GIL held): puts ember's SIGINT hook back in front of Python's if signal.signal() replaced it,
// aborting kernels on Ctrl-C only while Python's default handler (KeyboardInterrupt) is the one installed.
void keep_interrupt_handler();
template <typename F>
auto without_gil(F&& f) {
  keep_interrupt_handler();
  py::gil_scoped_release release;
  return f();
}
template <typename F>
auto without_gil_if(bool release, F&& f) {
  if (!release) return f();
  keep_interrupt_handler();
  py::gil_scoped_release unlocked;
  return f();
}
inline bool big_enough_to_release_gil(const Tensor& t) { return t.defined() && t.numel() >= kGilFreeElements; }

void bind_tensor(py::module_& m);
void bind_ops(py::module_& m);
void bind_autograd(py::module_& m);
void bind_indexing(py::module_& m);
void bind_interop(py::module_& m);
void bind_reductions(py::module_& m);
void bind_linalg(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_kernel_hooks(py::module_& m);   // private test hooks: one kernel of a chosen SIMD level
void bind_conv(py::module_& m);
void bind_attention(py::module_& m);

}  // namespace ember
