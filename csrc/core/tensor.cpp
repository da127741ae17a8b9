// Tensor geometry helpers and constructors.
#include "ember/tensor.h"

#include <limits>
#include <new>

namespace ember {

Shape contiguous_strides(const Shape& shape) {
  Shape s(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i] > 1 ? shape[i] : 1;
  }
  return s;
}

int64_t checked_numel(const Shape& shape, const char* op) {
  int64_t n = 1;
  for (int64_t d : shape) {
    EMBER_CHECK(d >= 0, ValueError, op, ": negative dimension ", d, " in size ", shape_str(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw OutOfMemory(str(op, ": size ", shape_str(shape), " has more elements than an int64 can count"));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = ndim > 0 ? ndim : 1;
  EMBER_CHECK(d >= -n && d < n, IndexError, op, ": dimension out of range (expected to be in range of [", -n, ", ",
              n - 1, "], but got ", d, ")");
  return d < 0 ? d + n : d;
}

int64_t Tensor::size(int64_t d) const { return impl_->shape[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  if (impl_->numel == 0) return true;   // as PyTorch: an empty tensor is contiguous whatever its strides
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    int64_t sz = impl_->shape[i];
    if (sz == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= sz;
  }
  return true;
}

Tensor& Tensor::set_requires_grad(bool r) {
  if (r) {
    EMBER_CHECK(is_floating(dtype()), RuntimeError, "requires_grad_: only tensors of floating point dtype can require ",
                "gradients, got ", dtype_name(dtype()));
  }
  if (!r && !is_leaf())
    throw RuntimeError("requires_grad_: you can only change requires_grad flags of leaf variables");
  impl_->requires_grad = r;
  return *this;
}

Tensor empty(const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = checked_numel(shape, "empty");
  size_t isz = itemsize(dtype);
  if (static_cast<uint64_t>(impl->numel) > std::numeric_limits<uint64_t>::max() / 64 / isz)
    throw OutOfMemory(str("empty: size ", shape_str(shape), " needs more bytes than a size_t can count"));
  try {
    impl->storage = Storage::allocate(static_cast<size_t>(impl->numel) * isz);
  } catch (const OutOfMemory&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw OutOfMemory(str("empty: cannot allocate ", static_cast<uint64_t>(impl->numel) * isz, " bytes for a ",
                          dtype_name(dtype), " tensor of size ", shape_str(shape)));
  }
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->numel = checked_numel(shape, "view");
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->is_view = true;
  return Tensor(std::move(impl));
}

Tensor detach(const Tensor& t) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage();
  impl->shape = t.shape();
  impl->strides = t.strides();
  impl->offset = t.offset();
  impl->numel = t.numel();
  impl->dtype = t.dtype();
  impl->is_view = t.impl()->is_view;
  return Tensor(std::move(impl));
}

Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void(void*)> release) {
  auto impl = std::make_shared<TensorImpl>();
  impl->numel = checked_numel(shape, "from_blob");
  impl->storage = Storage::wrap(data, static_cast<size_t>(impl->numel) * itemsize(dtype), std::move(release));
  impl->shape = shape;
  impl->strides = strides;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace ember
