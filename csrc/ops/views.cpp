// View ops: new geometry over the same storage (no copies), each with its backward node.
#include <algorithm>
#include <optional>

#include "ember/node.h"
#include "ember/ops.h"

namespace ember {
namespace {

struct ReshapeBackward : autograd::Node {
  Shape input_shape;
  const char* name() const override { return "ViewBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {reshape(grads[0], input_shape)}; }
};

struct PermuteBackward : autograd::Node {
  Dims inverse;
  const char* name() const override { return "PermuteBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {permute(grads[0], inverse)}; }
};

struct ExpandBackward : autograd::Node {
  Shape input_shape;
  const char* name() const override { return "ExpandBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {sum_to(grads[0], input_shape)}; }
};

struct SliceBackward : autograd::Node {   // also select (squeezed = true) and as_strided-free slicing
  Shape input_shape;
  DType dtype;
  int64_t dim, start, end, step;
  bool squeezed = false;
  const char* name() const override { return squeezed ? "SelectBackward0" : "SliceBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = zeros(input_shape, grads[0].dtype());
    Tensor part = slice(g, dim, start, end, step);
    copy_into(part, squeezed ? unsqueeze(grads[0], dim) : grads[0]);
    return {g};
  }
};

template <typename NodeT>
Tensor record(const Tensor& x, Tensor out, std::shared_ptr<NodeT> node) {
  if (node) autograd::set_history(out, node);
  return out;
}

// Replaces a single -1 by the size that keeps numel; checks the total.
Shape infer_size(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      EMBER_CHECK(infer_at < 0, ValueError, op, ": only one dimension can be inferred");
      infer_at = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(shape[i] >= 0, ValueError, op, ": invalid shape dimension ", shape[i]);
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, ValueError, op, ": shape '", shape_str(shape),
                "' is invalid for input of size ", numel);
    out[infer_at] = numel / known;
  } else {
    EMBER_CHECK(known == numel, ValueError, op, ": shape '", shape_str(shape), "' is invalid for input of size ",
                numel);
  }
  return out;
}

// Strides that let `new_shape` view memory laid out as (old_shape, old_strides), if any (as PyTorch's).
std::optional<Shape> view_strides(Shape old_shape, Shape old_strides, const Shape& new_shape, int64_t numel) {
  Shape strides(new_shape.size());
  if (numel == 0) return contiguous_strides(new_shape);
  if (old_shape.empty()) { old_shape = {1}; old_strides = {1}; }
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

Tensor reshape_view(const Tensor& x, const Shape& shape, const Shape& strides) {
  Tensor out = make_view(x, shape, strides, x.offset());
  auto node = autograd::make_node<ReshapeBackward>({&x});
  if (node) node->input_shape = x.shape();
  return record(x, out, node);
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape) {
  Shape target = infer_size(shape, x.numel(), "view");
  auto strides = view_strides(x.shape(), x.strides(), target, x.numel());
  EMBER_CHECK(strides.has_value(), RuntimeError, "view: size ", shape_str(target),
              " is not compatible with input tensor's size and stride (at least one dimension spans across two "
              "contiguous subspaces). Use .reshape(...) instead.");
  return reshape_view(x, target, *strides);
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape target = infer_size(shape, x.numel(), "reshape");
  if (target == x.shape()) return reshape_view(x, target, x.strides());
  if (auto strides = view_strides(x.shape(), x.strides(), target, x.numel())) return reshape_view(x, target, *strides);
  Tensor c = clone(x);   // clone records its own history; the view on top records the reshape
  return reshape_view(c, target, contiguous_strides(target));
}

Tensor permute(const Tensor& x, const Dims& dims) {
  int64_t n = x.dim();
  EMBER_CHECK(static_cast<int64_t>(dims.size()) == n, ValueError, "permute: number of dims don't match (got ",
              dims.size(), " for a tensor of ", n, " dims)");
  Shape shape(n), strides(n);
  Dims inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    EMBER_CHECK(inverse[d] == -1, ValueError, "permute: repeated dim ", dims[i]);
    inverse[d] = i;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  auto node = autograd::make_node<PermuteBackward>({&x});
  if (node) node->inverse = inverse;
  return record(x, out, node);
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  int64_t n = x.dim();
  if (n == 0) return permute(x, {});
  int64_t a = wrap_dim(dim0, n, "transpose"), b = wrap_dim(dim1, n, "transpose");
  Dims dims(n);
  for (int64_t i = 0; i < n; ++i) dims[i] = i;
  std::swap(dims[a], dims[b]);
  return permute(x, dims);
}

Tensor t(const Tensor& x) {
  EMBER_CHECK(x.dim() <= 2, ValueError, "t: expects a tensor with <= 2 dimensions, but self is ", x.dim(), "D");
  return x.dim() < 2 ? transpose(x, 0, 0) : transpose(x, 0, 1);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  int64_t n = static_cast<int64_t>(shape.size()), xd = x.dim();
  EMBER_CHECK(n >= xd, ValueError, "expand: the number of sizes provided (", n,
              ") must be greater or equal to the number of dimensions in the tensor (", xd, ")");
  Shape out_shape(n), out_strides(n);
  for (int64_t i = n - 1; i >= 0; --i) {
    int64_t xi = i - (n - xd);
    int64_t size = shape[i];
    if (xi >= 0) {
      int64_t have = x.shape()[xi];
      if (size == -1) size = have;
      EMBER_CHECK(size >= 0, ValueError, "expand: negative size ", size, " in target sizes ", shape_str(shape));
      EMBER_CHECK(have == size || have == 1, ValueError, "expand: the expanded size of the tensor (", size,
                  ") must match the existing size (", have, ") at non-singleton dimension ", i, ". Target sizes: ",
                  shape_str(shape), ". Tensor sizes: ", shape_str(x.shape()));
      out_strides[i] = have == size ? x.strides()[xi] : 0;
    } else {
      EMBER_CHECK(size >= 0, ValueError, "expand: the expanded size -1 is not allowed in a leading, non-existing dimension");
      out_strides[i] = 0;
    }
    out_shape[i] = size;
  }
  Tensor out = make_view(x, out_shape, out_strides, x.offset());
  auto node = autograd::make_node<ExpandBackward>({&x});
  if (node) node->input_shape = x.shape();
  return record(x, out, node);
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Shape shape, strides;
  int64_t d = dim ? wrap_dim(*dim, x.dim(), "squeeze") : -1;
  for (int64_t i = 0; i < x.dim(); ++i) {
    bool drop = x.shape()[i] == 1 && (d < 0 || i == d);
    if (!drop) {
      shape.push_back(x.shape()[i]);
      strides.push_back(x.strides()[i]);
    }
  }
  return reshape_view(x, shape, strides);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = d < x.dim() ? x.strides()[d] * x.shape()[d] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return reshape_view(x, shape, strides);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  EMBER_CHECK(s <= e, ValueError, "flatten: start_dim cannot come after end_dim");
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t merged = 1;
  for (int64_t i = s; i <= e; ++i) merged *= x.shape()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  EMBER_CHECK(x.dim() > 0, IndexError, "slice: cannot slice a 0-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "slice");
  EMBER_CHECK(step > 0, ValueError, "slice: step must be greater than zero, got ", step);
  int64_t size = x.shape()[d];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  int64_t len = (end - start + step - 1) / step;
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = len;
  strides[d] *= step;
  Tensor out = make_view(x, shape, strides, x.offset() + start * x.strides()[d]);
  auto node = autograd::make_node<SliceBackward>({&x});
  if (node) {
    node->input_shape = x.shape();
    node->dim = d;
    node->start = start;
    node->end = end;
    node->step = step;
  }
  return record(x, out, node);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  EMBER_CHECK(x.dim() > 0, IndexError, "select: invalid index of a 0-dim tensor");
  int64_t d = wrap_dim(dim, x.dim(), "select");
  int64_t size = x.shape()[d];
  EMBER_CHECK(index >= -size && index < size, IndexError, "select: index ", index,
              " is out of bounds for dimension ", d,
              " with size ", size);
  if (index < 0) index += size;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  Tensor out = make_view(x, shape, strides, x.offset() + index * x.strides()[d]);
  auto node = autograd::make_node<SliceBackward>({&x});
  if (node) {
    node->input_shape = x.shape();
    node->dim = d;
    node->start = index;
    node->end = index + 1;
    node->step = 1;
    node->squeezed = true;
  }
  return record(x, out, node);
}

Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  EMBER_CHECK(shape.size() == strides.size(), ValueError, "as_strided: mismatch in length of strides and shape");
  EMBER_CHECK(!(autograd::grad_enabled() && x.requires_grad()), NotImplementedError,
              "as_strided: autograd through as_strided is not supported");
  int64_t max_index = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    EMBER_CHECK(shape[i] >= 0 && strides[i] >= 0, ValueError, "as_strided: negative size or stride");
    if (shape[i] == 0) { max_index = -1; break; }
    max_index += (shape[i] - 1) * strides[i];
  }
  int64_t capacity = static_cast<int64_t>(x.storage()->nbytes / itemsize(x.dtype()));
  EMBER_CHECK(offset >= 0 && max_index < capacity, ValueError, "as_strided: the requested view reaches element ",
              max_index, " but the storage holds ", capacity);
  return make_view(x, shape, strides, offset);
}

}  // namespace ember
