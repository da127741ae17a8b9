// In-place ops. Without autograd they write straight into the tensor; with autograd they compute the
// out-of-place result with history, write it back, and move the tensor's history onto it (as PyTorch).
#include <functional>

#include "ember/node.h"
#include "ops/internal.h"
#include "ember/ops.h"
#include "ops/strided_loop.h"

namespace ember {
namespace {

bool tracks(const Tensor& x, const Tensor* other) {
  return autograd::grad_enabled() && (x.requires_grad() || (other && other->defined() && other->requires_grad()));
}

void check_inplace(const Tensor& x, const char* name, const Tensor* other) {
  if (!autograd::grad_enabled()) return;
  EMBER_CHECK(!(x.is_leaf() && x.impl()->requires_grad), RuntimeError, name,
              ": a leaf Variable that requires grad is being used in an in-place operation");
  EMBER_CHECK(!(x.impl()->is_view && tracks(x, other)), NotImplementedError, name,
              ": in-place operation on a view of a tensor that takes part in autograd is not supported; "
              "use the out-of-place form");
}

// Writes `result` (computed with history) into x and makes x's history that of `result`.
Tensor& rebase(Tensor& x, const Tensor& result) {
  {
    autograd::GradModeGuard no_grad(false);
    copy_into(x, result);
  }
  x.bump_version();
  if (result.grad_fn()) {
    x.impl()->grad_fn = result.impl()->grad_fn;
    x.impl()->output_nr = result.impl()->output_nr;
  }
  return x;
}

Tensor& binary_inplace(Tensor& x, BinaryOp op, const Tensor& other, Scalar alpha, const char* name) {
  check_inplace(x, name, &other);
  Shape shape = broadcast_shapes(x.shape(), other.shape(), name);
  EMBER_CHECK(shape == x.shape(), ValueError, name, ": output with shape ", shape_str(x.shape()),
              " doesn't match the broadcast shape ", shape_str(shape));
  DType result = promote(x.dtype(), other.dtype());
  if (op == BinaryOp::Div && !is_floating(result)) result = DType::Float32;
  // as PyTorch's can_cast: no float -> integer and no integer -> bool
  auto category = [](DType d) { return d == DType::Bool ? 0 : (d == DType::Int64 ? 1 : 2); };
  EMBER_CHECK(category(result) <= category(x.dtype()), TypeError, name, ": result type ",
              dtype_name(result), " can't be cast to the desired output type ", dtype_name(x.dtype()));
  EMBER_CHECK(alpha.is_integral || is_floating(result), TypeError, name,
              ": for integral input tensors, alpha must not be a float");
  if (tracks(x, &other)) {
    bool saves_self = op != BinaryOp::Add && op != BinaryOp::Sub;
    Tensor self = saves_self ? clone(x) : x;
    Tensor r = op == BinaryOp::Add ? add(self, other, alpha) : op == BinaryOp::Sub ? sub(self, other, alpha)
                                                                               : binary(op, self, other);
    return rebase(x, r);
  }
  Tensor b = other.dtype() == x.dtype() ? other : to_dtype(other, x.dtype());
  if (alpha.value != 1.0) b = binary(BinaryOp::Mul, b, alpha);
  if (x.is_contiguous()) {
    binary_into(op, x, b, x);
  } else {
    Tensor r = binary(op, x, b);
    copy_into(x, r);
  }
  x.bump_version();
  return x;
}

}  // namespace

Tensor& add_(Tensor& x, const Tensor& other, Scalar alpha) { return binary_inplace(x, BinaryOp::Add, other, alpha, "add_"); }
Tensor& add_(Tensor& x, Scalar other) { return add_(x, scalar_tensor(other, scalar_operand_dtype(x.dtype(), other))); }
Tensor& sub_(Tensor& x, const Tensor& other, Scalar alpha) { return binary_inplace(x, BinaryOp::Sub, other, alpha, "sub_"); }
Tensor& mul_(Tensor& x, const Tensor& other) { return binary_inplace(x, BinaryOp::Mul, other, 1, "mul_"); }
Tensor& mul_(Tensor& x, Scalar other) { return mul_(x, scalar_tensor(other, scalar_operand_dtype(x.dtype(), other))); }
Tensor& div_(Tensor& x, const Tensor& other) { return binary_inplace(x, BinaryOp::Div, other, 1, "div_"); }
Tensor& div_(Tensor& x, Scalar other) {
  return div_(x, scalar_tensor(other, is_floating(x.dtype()) ? x.dtype() : DType::Float32));
}

Tensor& fill_(Tensor& x, Scalar value) {
  check_inplace(x, "fill_", nullptr);
  if (tracks(x, nullptr)) {
    // the old values get a zero gradient
    Tensor r = binary(BinaryOp::Add, binary(BinaryOp::Mul, x, Scalar(0.0)), value);
    rebase(x, r);
  }
  copy_into(x, scalar_tensor(value, x.dtype()));
  x.bump_version();
  return x;
}

Tensor& zero_(Tensor& x) { return fill_(x, Scalar(0.0)); }

Tensor& copy_(Tensor& x, const Tensor& src) {
  check_inplace(x, "copy_", &src);
  if (tracks(x, &src)) {
    Tensor r = add(binary(BinaryOp::Mul, x, Scalar(0.0)), to_dtype(src, x.dtype()));
    x.impl()->grad_fn = r.impl()->grad_fn;
    x.impl()->output_nr = r.impl()->output_nr;
  }
  {
    autograd::GradModeGuard no_grad(false);
    copy_into(x, src);
  }
  x.bump_version();
  return x;
}

Tensor& clamp_(Tensor& x, std::optional<double> min, std::optional<double> max) {
  check_inplace(x, "clamp_", nullptr);
  return rebase(x, clamp(x, min, max));
}

Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value) {
  check_inplace(x, "masked_fill_", nullptr);
  return rebase(x, masked_fill(x, mask, value));
}

}  // namespace ember
