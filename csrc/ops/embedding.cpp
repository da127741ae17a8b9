// embedding (row lookup, backward = index-add of the output gradient into a zero weight gradient, skipping
// padding_idx) and constant_pad (F.pad's constant mode; its backward is the opposite pad, i.e. a crop).
#include <algorithm>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/nn.h"
#include "ember/ops.h"

namespace ember {
namespace {

constexpr int64_t kGrain = 16384;

struct EmbeddingBackward : autograd::Node {
  autograd::SavedTensor indices;
  Shape weight_shape;
  int64_t padding_idx = -1;
  const char* name() const override { return "EmbeddingBackward0"; }
  void release_saved() override { indices.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor idx = contiguous(indices.get()), g = contiguous(grads[0]);
    const int64_t n = idx.numel(), D = weight_shape[1];
    Tensor grad_weight = zeros(weight_shape, g.dtype());
    dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      // threads split the columns: each writes its own slice of every row, so there are no conflicts
      parallel_for(D, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)), [&](int64_t d0, int64_t d1) {
        kernels::ref::embedding_backward<T>(g.data<T>(), idx.data<int64_t>(), grad_weight.data<T>(), n, D,
                                            padding_idx, d0, d1);
      });
    });
    return {grad_weight, Tensor()};
  }
};

struct ConstantPadBackward : autograd::Node {
  std::vector<int64_t> pad;
  const char* name() const override { return "ConstantPadNdBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    std::vector<int64_t> crop(pad.size());
    for (size_t i = 0; i < pad.size(); ++i) crop[i] = -pad[i];
    return {constant_pad(grads[0], crop, 0.0)};
  }
};

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx) {
  const char* op = "embedding";
  EMBER_CHECK(weight.dim() == 2, ValueError, op, ": expected a 2-D weight (num_embeddings, embedding_dim), got ",
              shape_str(weight.shape()));
  EMBER_CHECK(is_floating(weight.dtype()), TypeError, op, ": expected a floating point weight, got ",
              dtype_name(weight.dtype()));
  EMBER_CHECK(indices.dtype() == DType::Int64, TypeError, op, ": expected int64 indices, got ",
              dtype_name(indices.dtype()));
  const int64_t V = weight.shape()[0], D = weight.shape()[1];
  if (padding_idx) {
    EMBER_CHECK(*padding_idx >= 0 && *padding_idx < V, IndexError, op, ": padding_idx ", *padding_idx,
                " is out of range for ", V, " embeddings");
  }
  Tensor idx = contiguous(detach(indices));
  const int64_t* ip = idx.data<int64_t>();
  const int64_t n = idx.numel();
  for (int64_t i = 0; i < n; ++i)
    EMBER_CHECK(ip[i] >= 0 && ip[i] < V, IndexError, op, ": index ", ip[i], " is out of range for ", V,
                " embeddings (valid: 0..", V - 1, ")");
  Shape out_shape = indices.shape();
  out_shape.push_back(D);
  Tensor w = contiguous(detach(weight));
  Tensor out = empty(out_shape, weight.dtype());
  dispatch_floating(weight.dtype(), [&](auto tag) {
    using T = decltype(tag);
    parallel_for(n, std::max<int64_t>(1, kGrain / std::max<int64_t>(D, 1)), [&](int64_t i0, int64_t i1) {
      kernels::ref::embedding_forward<T>(w.data<T>(), ip + i0, out.data<T>() + i0 * D, i1 - i0, D);
    });
  });
  if (auto node = autograd::make_node<EmbeddingBackward>({&weight, &indices})) {
    node->indices = autograd::SavedTensor(idx);
    node->weight_shape = weight.shape();
    node->padding_idx = padding_idx.value_or(-1);
    autograd::set_history(out, node);
  }
  return out;
}

Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& pad, double value) {
  const char* op = "pad";
  EMBER_CHECK(pad.size() % 2 == 0, ValueError, op, ": padding length must be divisible by 2, got ", pad.size());
  const int64_t padded_dims = static_cast<int64_t>(pad.size() / 2);
  EMBER_CHECK(padded_dims <= x.dim(), ValueError, op, ": padding length ", pad.size(),
              " is too large for an input of ", x.dim(), " dims (at most ", 2 * x.dim(), ")");
  Shape out_shape = x.shape();
  Tensor source = detach(x);
  std::vector<std::pair<int64_t, int64_t>> destination;   // (dim, start) in the output for each padded dim
  for (int64_t k = 0; k < padded_dims; ++k) {
    const int64_t d = x.dim() - 1 - k, before = pad[2 * k], after = pad[2 * k + 1];
    const int64_t size = x.shape()[d] + before + after;
    EMBER_CHECK(size >= 0, ValueError, op, ": the padded size of dim ", d, " would be ", size, " (input size ",
                x.shape()[d], ", pad ", before, ", ", after, ")");
    out_shape[d] = size;
    // negative pads crop the source; positive ones offset it in the output
    const int64_t crop_before = std::max<int64_t>(0, -before), crop_after = std::max<int64_t>(0, -after);
    const int64_t kept = std::max<int64_t>(0, x.shape()[d] - crop_before - crop_after);
    source = slice(source, d, crop_before, crop_before + kept);
    destination.emplace_back(d, std::max<int64_t>(0, before));
  }
  Tensor out = full(out_shape, Scalar(value), x.dtype());
  Tensor target = out;
  for (size_t k = 0; k < destination.size(); ++k) {
    const auto [d, start] = destination[k];
    target = slice(target, d, start, start + source.shape()[d]);
  }
  if (source.numel() > 0) copy_into(target, source);
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<ConstantPadBackward>({&x})) {
      node->pad = pad;
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace ember
