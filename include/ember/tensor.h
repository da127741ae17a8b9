// The Tensor: a cheap handle (shared_ptr) to a TensorImpl holding storage, shape, strides, offset, dtype and
// autograd metadata. Views share storage. No ops here (see ember/ops.h); no Python here.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ember/dtype.h"
#include "ember/error.h"
#include "ember/storage.h"

namespace ember {

namespace autograd { struct Node; }
using Shape = std::vector<int64_t>;
class Tensor;
using TensorHook = std::function<Tensor(const Tensor&)>;  // returns an undefined Tensor to keep the gradient

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;        // in elements
  int64_t offset = 0;   // in elements, into storage
  int64_t numel = 1;
  DType dtype = DType::Float32;
  bool is_view = false;

  // autograd
  bool requires_grad = false;   // set on leaves by the user; non-leaves have grad_fn
  bool retains_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  std::weak_ptr<autograd::Node> grad_accumulator;   // cached AccumulateGrad node of a leaf
  std::vector<TensorHook> leaf_hooks;               // hooks of a leaf, run before accumulation

  void* data() const { return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype)); }
};

Shape contiguous_strides(const Shape& shape);
// Number of elements; throws ValueError for negative sizes and std::bad_alloc on overflow.
int64_t checked_numel(const Shape& shape, const char* op);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return static_cast<bool>(impl_); }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
  int64_t numel() const { return impl_->numel; }
  int64_t size(int64_t d) const;        // negative d counts from the end
  DType dtype() const { return impl_->dtype; }
  bool is_contiguous() const;
  void* raw_data() const { return impl_->data(); }
  template <typename T> T* data() const { return static_cast<T*>(impl_->data()); }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }

  // autograd
  bool requires_grad() const { return impl_->requires_grad || impl_->grad_fn != nullptr; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl_->grad_fn; }
  Tensor& set_requires_grad(bool r);
  void bump_version() const { impl_->storage->version.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A new contiguous tensor with uninitialised data.
Tensor empty(const Shape& shape, DType dtype = DType::Float32);
// A view of `base`'s storage with the given geometry (no autograd history attached).
Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// The same data without autograd history (a new TensorImpl sharing storage and geometry).
Tensor detach(const Tensor& t);
// Wraps foreign memory (NumPy, DLPack); `release` is called when the last tensor using it dies.
Tensor from_blob(void* data, const Shape& shape, const Shape& strides, DType dtype,
                 std::function<void(void*)> release);

std::string shape_str(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); IndexError naming `op` otherwise.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);

}  // namespace ember
