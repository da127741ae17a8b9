// Joining and splitting along a dim: cat, stack, split, split_with_sizes, chunk, unbind, with backward nodes.
// cat copies into one new tensor; the split family returns views of the input (no copies).
#include <algorithm>

#include "ember/node.h"
#include "ember/ops.h"
#include "ops/internal.h"

namespace ember {
namespace {

struct CatBackward : autograd::Node {
  int64_t dim = 0;
  std::vector<int64_t> sizes;        // per input: its extent along `dim` (-1: a skipped legacy empty tensor)
  std::vector<DType> input_dtypes;
  const char* name() const override { return "CatBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    std::vector<Tensor> out(sizes.size());
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0) continue;
      if (next_edges[i].fn) {
        Tensor g = slice(grads[0], dim, offset, offset + sizes[i], 1);
        out[i] = is_floating(input_dtypes[i]) ? to_dtype(g, input_dtypes[i]) : Tensor();
      }
      offset += sizes[i];
    }
    return out;
  }
};

// One node for all outputs of split/chunk: the input's gradient is the concatenation of the outputs' gradients
// (the engine supplies zeros for outputs that received none).
struct SplitBackward : autograd::Node {
  int64_t dim = 0;
  const char* name() const override { return "SplitWithSizesBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {cat(grads, dim)}; }
};

// One node for all outputs of unbind: the input's gradient is the outputs' gradients stacked (a view when they
// already lie side by side in one buffer, as attention's q, k, v gradients do).
struct UnbindBackward : autograd::Node {
  int64_t dim = 0;
  const char* name() const override { return "UnbindBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor joined = joined_parts(grads, dim);
    return {joined.defined() ? joined : stack(grads, dim)};
  }
};

// PyTorch keeps accepting 1-D empty tensors of shape (0,) in cat with tensors of any rank: they are skipped.
bool is_legacy_empty(const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; }

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "cat: expected a non-empty list of Tensors");
  const Tensor* reference = nullptr;   // the first tensor that is not a skipped legacy empty one
  DType dtype = tensors[0].dtype();
  for (size_t i = 0; i < tensors.size(); ++i) {
    EMBER_CHECK(tensors[i].defined(), TypeError, "cat: expected a Tensor at position ", i, ", got None");
    dtype = promote(dtype, tensors[i].dtype());
    if (!reference && !is_legacy_empty(tensors[i])) reference = &tensors[i];
  }
  if (!reference) reference = &tensors[0];
  EMBER_CHECK(reference->dim() > 0, ValueError, "cat: zero-dimensional tensor (at position ",
              reference - tensors.data(), ") cannot be concatenated");
  const int64_t ndim = reference->dim();
  const int64_t d = wrap_dim(dim, ndim, "cat");
  Shape shape = reference->shape();
  shape[d] = 0;
  std::vector<int64_t> sizes(tensors.size(), -1);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (&t != reference && is_legacy_empty(t) && ndim != 1) continue;
    EMBER_CHECK(t.dim() > 0, ValueError, "cat: zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    EMBER_CHECK(t.dim() == ndim, ValueError, "cat: tensors must have same number of dimensions: got ", ndim, " and ",
                t.dim(), " (tensor number ", i, " in the list)");
    for (int64_t k = 0; k < ndim; ++k) {
      EMBER_CHECK(k == d || t.shape()[k] == reference->shape()[k], ValueError,
                  "cat: sizes of tensors must match except in dimension ", d, ". Expected size ",
                  reference->shape()[k], " but got size ", t.shape()[k], " in dimension ", k, " for tensor number ", i,
                  " in the list");
    }
    sizes[i] = t.shape()[d];
    shape[d] += sizes[i];
  }
  Tensor out = empty(shape, dtype);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i] <= 0) continue;
    Shape part_shape = shape;
    part_shape[d] = sizes[i];
    copy_into(make_view(out, part_shape, out.strides(), offset * out.strides()[d]), tensors[i]);
    offset += sizes[i];
  }
  if (autograd::needs_grad(tensors)) {
    auto node = std::make_shared<CatBackward>();
    autograd::collect_edges(*node, tensors);
    node->dim = d;
    node->sizes = sizes;
    for (const Tensor& t : tensors) node->input_dtypes.push_back(t.dtype());
    autograd::set_history(out, node);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  EMBER_CHECK(!tensors.empty(), ValueError, "stack: expected a non-empty list of Tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    EMBER_CHECK(tensors[i].defined(), TypeError, "stack: expected a Tensor at position ", i, ", got None");
    EMBER_CHECK(tensors[i].shape() == tensors[0].shape(), ValueError,
                "stack: expects each tensor to be equal size, but got ", shape_str(tensors[0].shape()),
                " at entry 0 and ", shape_str(tensors[i].shape()), " at entry ", i);
  }
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  expanded.reserve(tensors.size());
  for (const Tensor& t : tensors) expanded.push_back(unsqueeze(t, d));
  return cat(expanded, d);
}

std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  EMBER_CHECK(x.dim() > 0, ValueError, "split: expected a tensor with at least one dimension, got a 0-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 0, ValueError, "split_with_sizes: split sizes must be non-negative, got ", shape_str(sizes));
    total += s;
  }
  EMBER_CHECK(total == x.shape()[d], ValueError, "split_with_sizes: expects split_sizes to sum exactly to ",
              x.shape()[d], " (input tensor's size at dimension ", d, "), but got split_sizes=", shape_str(sizes));
  std::shared_ptr<SplitBackward> node;
  if (autograd::needs_grad({&x})) {
    node = std::make_shared<SplitBackward>();
    autograd::collect_edges(*node, {&x});
    node->dim = d;
  }
  std::vector<Tensor> parts;
  parts.reserve(sizes.size());
  int64_t offset = 0;
  for (int64_t s : sizes) {
    Shape shape = x.shape();
    shape[d] = s;
    Tensor part = make_view(x, shape, x.strides(), x.offset() + offset * x.strides()[d]);
    if (node) autograd::set_history(part, node);
    parts.push_back(part);
    offset += s;
  }
  return parts;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  EMBER_CHECK(x.dim() > 0, ValueError, "split: expected a tensor with at least one dimension, got a 0-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t size = x.shape()[d];
  EMBER_CHECK(split_size >= 0, ValueError, "split: expects split_size be non-negative, but got split_size=", split_size);
  EMBER_CHECK(split_size > 0 || size == 0, ValueError,
              "split: split_size can only be 0 if dimension size is 0, but got dimension size of ", size);
  int64_t count = split_size == 0 ? 1 : std::max<int64_t>((size + split_size - 1) / split_size, 1);
  std::vector<int64_t> sizes(count, split_size);
  sizes.back() = size - split_size * (count - 1);
  return split_with_sizes(x, sizes, d);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  EMBER_CHECK(x.dim() > 0, ValueError, "chunk: expected a tensor with at least one dimension, got a 0-d tensor");
  EMBER_CHECK(chunks > 0, ValueError, "chunk: expects `chunks` to be greater than 0, got: ", chunks);
  int64_t d = wrap_dim(dim, x.dim(), "chunk");
  int64_t size = x.shape()[d];
  if (size == 0) return split_with_sizes(x, std::vector<int64_t>(chunks, 0), d);
  return split(x, (size + chunks - 1) / chunks, d);
}

Tensor joined_parts(const std::vector<Tensor>& parts, int64_t dim) {
  if (parts.size() < 2 || !parts[0].defined() || !parts[1].defined() || parts[0].numel() == 0) return Tensor();
  const Tensor& first = parts[0];
  const int64_t step = parts[1].offset() - first.offset();
  if (step <= 0) return Tensor();
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    if (!p.defined() || p.storage() != first.storage() || p.dtype() != first.dtype() || p.shape() != first.shape() ||
        p.strides() != first.strides() || p.offset() != first.offset() + static_cast<int64_t>(i) * step)
      return Tensor();
  }
  Shape shape = first.shape(), strides = first.strides();
  shape.insert(shape.begin() + dim, static_cast<int64_t>(parts.size()));
  strides.insert(strides.begin() + dim, step);
  // Dense: ordered by stride, each dim's stride is the product of the sizes below it (no overlap, no gap).
  std::vector<std::pair<int64_t, int64_t>> dims;   // (stride, size) of the dims longer than 1
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1) dims.emplace_back(strides[d], shape[d]);
  std::sort(dims.begin(), dims.end());
  int64_t expected = 1;
  for (const auto& [stride, size] : dims) {
    if (stride != expected) return Tensor();
    expected *= size;
  }
  return make_view(first, shape, strides, first.offset());
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim) {
  EMBER_CHECK(x.dim() > 0, ValueError, "unbind: dimension specified as ", dim, " but tensor has no dimensions");
  int64_t d = wrap_dim(dim, x.dim(), "unbind");
  std::shared_ptr<UnbindBackward> node;
  if (autograd::needs_grad({&x})) {
    node = std::make_shared<UnbindBackward>();
    autograd::collect_edges(*node, {&x});
    node->dim = d;
  }
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  std::vector<Tensor> parts;
  parts.reserve(x.shape()[d]);
  for (int64_t i = 0; i < x.shape()[d]; ++i) {
    Tensor part = make_view(x, shape, strides, x.offset() + i * x.strides()[d]);
    if (node) autograd::set_history(part, node);
    parts.push_back(part);
  }
  return parts;
}

}  // namespace ember
