// scaled_dot_product_attention (PyTorch semantics) as one fused op, forward and backward side by side:
// float32 runs the flash kernels (kernels/attention/), float64 the row-at-a-time reference. The forward saves
// q, k, v, the mask, the output and the log-sum-exp; dropout draws come from a counter range of the global
// generator reserved at forward time, so the backward regenerates the same mask. A floating attn_mask that
// requires grad (a learned attention bias) gets the scores' gradient, summed over the dims it broadcast along
// (chunk by chunk of the batch).
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ember/node.h"
#include "kernels/attention/attention.h"
#include "ops/internal.h"
#include "ops/random_state.h"

namespace ember {
namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// Which implementation runs: the flash kernels of a table, or the reference.
struct Implementation {
  const kernels::Table* table = nullptr;   // null: reference
};

Implementation implementation_named(const std::string& name, DType dtype) {
  if (dtype == DType::Float64 || name == "reference") return {nullptr};
  if (name.empty()) return {&kernels::table()};
  const kernels::Table* table = kernels::table_for(name.c_str());
  EMBER_CHECK(table != nullptr, ValueError, kOp, ": implementation '", name,
              "' is not available (expected '', 'reference', 'ref', 'avx2' or 'avx512' on a CPU that has it)");
  return {table};
}

// Unit stride in the last dim (what the kernels need), copying only when necessary.
Tensor with_unit_column_stride(const Tensor& x) {
  if (x.size(-1) <= 1 || x.strides().back() == 1) return x;
  autograd::GradModeGuard no_grad(false);
  return contiguous(x);
}

// Element offsets of each batch index (row-major over batch_dims) of a tensor whose leading dims are the batch.
std::vector<int64_t> batch_offsets(const Tensor& t, int64_t batch_dims, int64_t count) {
  std::vector<int64_t> offsets(static_cast<size_t>(count));
  Shape index(static_cast<size_t>(batch_dims), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    offsets[i] = offset;
    for (int64_t d = batch_dims - 1; d >= 0; --d) {
      if (++index[d] < t.shape()[d]) { offset += t.strides()[d]; break; }
      offset -= t.strides()[d] * (index[d] - 1);
      index[d] = 0;
    }
  }
  return offsets;
}

// A new (..., H, rows, cols) tensor stored as (..., rows, H, cols) when `heads_inner`, else contiguous. As in
// PyTorch, the output and gradients take the layout of their input: heads split from a (B, T, H, D) projection
// give a heads-inner output, whose transpose(-3, -2) is contiguous (merging heads back costs no copy); a
// contiguous (B, H, T, D) query gives a contiguous output (its rows are then dense: ~1% faster to write).
Tensor empty_attention_layout(const Shape& shape, bool heads_inner, DType dtype) {
  const int64_t n = static_cast<int64_t>(shape.size());
  if (!heads_inner || n < 4) return empty(shape, dtype);
  Shape storage_shape = shape;
  std::swap(storage_shape[n - 3], storage_shape[n - 2]);
  Tensor storage = empty(storage_shape, dtype);
  Shape strides = storage.strides();
  std::swap(strides[n - 3], strides[n - 2]);
  return make_view(storage, shape, strides, 0);
}

bool is_heads_inner(const Tensor& x) {
  const int64_t n = x.dim();
  return n >= 4 && x.size(-3) > 1 && x.strides()[n - 3] < x.strides()[n - 2];
}

template <typename T>
kernels::BatchedMatrix<T> matrix(const Tensor& t, const std::vector<int64_t>& offsets) {
  return {static_cast<T*>(t.raw_data()), offsets.data(), t.strides()[t.dim() - 2]};
}

// Everything both passes need, with the per-(batch, head) offsets the kernels read.
struct Prepared {
  Tensor q, k, v, mask;   // mask: additive, expanded to (batch..., T, S), or undefined
  Shape batch;            // query's (k and v have batch[-1] / kv_group heads)
  int64_t batch_heads = 1, T = 0, S = 0, D = 0, Dv = 0;
  int64_t kv_group = 1;   // query heads per key / value head (grouped-query attention)
  double scale = 1.0;
  bool causal = false;
  kernels::AttentionDropout dropout;
  Implementation impl;
};

template <typename T>
kernels::AttentionProblem<T> problem(const Prepared& p, std::vector<std::vector<int64_t>>& offsets) {
  const int64_t nb = static_cast<int64_t>(p.batch.size());
  auto add = [&](const Tensor& t) -> const std::vector<int64_t>& {
    offsets.push_back(batch_offsets(t, nb, p.batch_heads));
    return offsets.back();
  };
  // Key / value offsets: matrix bh of the query uses key head bh / kv_group (heads are the last batch dim).
  auto add_shared = [&](const Tensor& t) -> const std::vector<int64_t>& {
    if (p.kv_group == 1) return add(t);
    const std::vector<int64_t> own = batch_offsets(t, nb, p.batch_heads / p.kv_group);
    std::vector<int64_t> shared(static_cast<size_t>(p.batch_heads));
    for (int64_t bh = 0; bh < p.batch_heads; ++bh) shared[bh] = own[bh / p.kv_group];
    offsets.push_back(std::move(shared));
    return offsets.back();
  };
  offsets.reserve(12);
  kernels::AttentionProblem<T> pr;
  pr.batch_heads = p.batch_heads;
  pr.T = p.T;
  pr.S = p.S;
  pr.D = p.D;
  pr.Dv = p.Dv;
  pr.scale = p.scale;
  pr.causal = p.causal;
  pr.dropout = p.dropout;
  pr.q = matrix<const T>(p.q, add(p.q));
  pr.k = matrix<const T>(p.k, add_shared(p.k));
  pr.v = matrix<const T>(p.v, add_shared(p.v));
  if (p.mask.defined()) pr.mask = matrix<const T>(p.mask, add(p.mask));
  return pr;
}

void run_forward(const Prepared& p, const Tensor& out, const Tensor& lse) {
  std::vector<std::vector<int64_t>> offsets;
  dispatch_floating(p.q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::AttentionProblem<T> pr = problem<T>(p, offsets);
    offsets.push_back(batch_offsets(out, static_cast<int64_t>(p.batch.size()), p.batch_heads));
    pr.out = matrix<T>(out, offsets.back());
    pr.lse = lse.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      if (p.impl.table) return kernels::flash_attention_forward(*p.impl.table, pr);
    }
    kernels::reference_attention_forward(pr);
  });
}

// Runs the backward kernels (flash for float32 with a table, else the reference).
template <typename T>
void run_backward(const Prepared& p, const kernels::AttentionProblem<T>& pr) {
  if constexpr (std::is_same_v<T, float>) {
    if (p.impl.table) return kernels::flash_attention_backward(*p.impl.table, pr);
  }
  kernels::reference_attention_backward(pr);
}

// The gradient of a learned additive mask is dL/dscores (batch..., T, S) summed over the dims the mask broadcasts
// along. It is built in chunks of the first batch dim of about this many elements, each summed as soon as it is
// written, so a bias shared by the batch costs a chunk, not B x H x T x S (32 x 8 heads x 512^2: 268 MB).
constexpr int64_t kMaskGradChunkElements = int64_t{1} << 20;

// The backward over pairs [first, first + count) of pr (whole indices of the first batch dim), writing their
// dL/dscores into `scores_grad` (count pairs of (T, S)).
template <typename T>
void run_backward_pairs(const Prepared& p, kernels::AttentionProblem<T> pr, int64_t first, int64_t count,
                        const Tensor& scores_grad, const std::vector<int64_t>& scores_grad_offsets) {
  for (kernels::BatchedMatrix<const T>* m : {&pr.q, &pr.k, &pr.v, &pr.mask, &pr.out_const, &pr.dout})
    if (m->data) m->offsets += first;
  for (kernels::BatchedMatrix<T>* m : {&pr.dq, &pr.dk, &pr.dv}) m->offsets += first;
  pr.batch_heads = count;
  pr.lse += first * p.T;
  pr.dropout.first += static_cast<uint64_t>(first * p.T * p.S);   // draw (bh, i, j) keeps its global counter
  pr.dmask = matrix<T>(scores_grad, scores_grad_offsets);
  run_backward(p, pr);
}

// The backward of pr with the gradient of the mask (of shape mask_shape, in the query's dtype).
template <typename T>
Tensor backward_with_mask_gradient(const Prepared& p, const kernels::AttentionProblem<T>& pr, const Shape& mask_shape) {
  const int64_t nb = static_cast<int64_t>(p.batch.size());
  const int64_t outer = nb > 0 ? p.batch[0] : 1, pairs_per_index = outer > 0 ? p.batch_heads / outer : 0;
  const int64_t steps = std::max<int64_t>(outer, 1);   // an empty batch still runs once (zero pairs)
  const int64_t chunk =
      std::clamp<int64_t>(kMaskGradChunkElements / std::max<int64_t>(pairs_per_index * p.T * p.S, 1), 1, steps);
  // The mask's shape with leading 1s up to the scores' rank; its first dim is 1 (broadcast: chunks add up) or
  // the batch's (chunks fill their own rows).
  Shape mask_full(static_cast<size_t>(nb + 2) - mask_shape.size(), 1);
  mask_full.insert(mask_full.end(), mask_shape.begin(), mask_shape.end());
  const bool shared = nb == 0 || mask_full[0] == 1;
  Tensor grad = chunk < outer ? zeros(mask_full, p.q.dtype()) : Tensor();
  for (int64_t b0 = 0; b0 < steps; b0 += chunk) {
    const int64_t n = std::min(chunk, outer - b0);
    Shape part_shape = p.batch;
    part_shape.push_back(p.T);
    part_shape.push_back(p.S);
    if (nb > 0) part_shape[0] = n;
    Tensor part = zeros(part_shape, p.q.dtype());
    run_backward_pairs(p, pr, b0 * pairs_per_index, n * pairs_per_index, part,
                       batch_offsets(part, nb, n * pairs_per_index));
    if (!grad.defined()) return sum_to(part, mask_shape);   // one chunk: the whole gradient
    Shape part_mask = mask_full;
    if (!shared) part_mask[0] = n;
    Tensor summed = sum_to(part, part_mask);
    if (shared) add_(grad, summed);
    else copy_into(slice(grad, 0, b0, b0 + n), summed);
  }
  return reshape(grad, mask_shape);
}

struct ScaledDotProductAttentionBackward : autograd::Node {
  Prepared prepared;   // sizes and options; its tensors live in the SavedTensors below
  bool has_mask = false;
  Shape mask_shape;    // the attn_mask as given, when it needs a gradient (next_edges[3])
  DType mask_dtype = DType::Float32;
  autograd::SavedTensor q, k, v, mask, out, lse;

  const char* name() const override { return "ScaledDotProductAttentionBackward0"; }
  void release_saved() override {
    q.reset(); k.reset(); v.reset(); mask.reset(); out.reset(); lse.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Prepared p = prepared;
    p.q = q.get();
    p.k = k.get();
    p.v = v.get();
    if (has_mask) p.mask = mask.get();
    Tensor o = out.get(), log_sum_exp = lse.get();
    Tensor dout = with_unit_column_stride(grads[0]);
    Tensor dq, dk, dv, dmask;
    const bool mask_gradient = next_edges.size() > 3 && next_edges[3].fn;
    const bool grouped = p.kv_group > 1;
    if (grouped) {
      // Grouped-query attention: each query head's key / value gradients, summed over the group at the end.
      dq = empty_attention_layout(p.q.shape(), is_heads_inner(p.q), p.q.dtype());
      Shape dk_shape = p.batch;
      dk_shape.push_back(p.S);
      Shape dv_shape = dk_shape;
      dk_shape.push_back(p.D);
      dv_shape.push_back(p.Dv);
      dk = empty(dk_shape, p.q.dtype());
      dv = empty(dv_shape, p.q.dtype());
    } else if (Tensor joined = joined_parts({p.q, p.k, p.v}, 0); joined.defined()) {
      // q, k, v split from one projection (unbind of (..., 3, H, D)): their gradients take the same places in one
      // buffer, so the unbind's backward joins them without a copy.
      Tensor buffer = empty({joined.numel()}, p.q.dtype());
      const int64_t step = p.k.offset() - p.q.offset();
      dq = make_view(buffer, p.q.shape(), p.q.strides(), 0);
      dk = make_view(buffer, p.k.shape(), p.k.strides(), step);
      dv = make_view(buffer, p.v.shape(), p.v.strides(), 2 * step);
    } else {
      dq = empty_attention_layout(p.q.shape(), is_heads_inner(p.q), p.q.dtype());
      dk = empty_attention_layout(p.k.shape(), is_heads_inner(p.k), p.k.dtype());
      dv = empty_attention_layout(p.v.shape(), is_heads_inner(p.v), p.v.dtype());
    }
    std::vector<std::vector<int64_t>> offsets;
    const int64_t nb = static_cast<int64_t>(p.batch.size());
    dispatch_floating(p.q.dtype(), [&](auto tag) {
      using T = decltype(tag);
      kernels::AttentionProblem<T> pr = problem<T>(p, offsets);
      auto add = [&](const Tensor& t) -> const std::vector<int64_t>& {
        offsets.push_back(batch_offsets(t, nb, p.batch_heads));
        return offsets.back();
      };
      pr.out_const = matrix<const T>(o, add(o));
      pr.dout = matrix<const T>(dout, add(dout));
      pr.dq = matrix<T>(dq, add(dq));
      pr.dk = matrix<T>(dk, add(dk));
      pr.dv = matrix<T>(dv, add(dv));
      pr.lse = log_sum_exp.data<T>();
      if (mask_gradient) dmask = to_dtype(backward_with_mask_gradient(p, pr, mask_shape), mask_dtype);
      else run_backward(p, pr);
    });
    if (grouped) {
      dk = sum_group(dk, p.kv_group);
      dv = sum_group(dv, p.kv_group);
    }
    return {dq, dk, dv, dmask};
  }

  // (..., H * group, S, E) -> (..., H, S, E): the sum over each group of consecutive heads.
  static Tensor sum_group(const Tensor& g, int64_t group) {
    Shape grouped = g.shape();
    const size_t heads = grouped.size() - 3;
    grouped[heads] /= group;
    grouped.insert(grouped.begin() + static_cast<int64_t>(heads) + 1, group);
    return sum(reshape(g, grouped), {static_cast<int64_t>(heads) + 1}, false);
  }
};

// Validates the arguments and brings them into the kernels' form.
Prepared prepare(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask,
                 double dropout_p, bool is_causal, std::optional<double> scale, bool enable_gqa) {
  EMBER_CHECK(query.defined() && key.defined() && value.defined(), TypeError, kOp,
              ": query, key and value must be tensors");
  EMBER_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2, ValueError, kOp,
              ": expected query, key and value to be at least 2-D, got query ", shape_str(query.shape()), ", key ",
              shape_str(key.shape()), ", value ", shape_str(value.shape()));
  EMBER_CHECK(is_floating(query.dtype()) && query.dtype() == key.dtype() && query.dtype() == value.dtype(), TypeError,
              kOp, ": query, key and value must have the same floating dtype, got ", dtype_name(query.dtype()), ", ",
              dtype_name(key.dtype()), ", ", dtype_name(value.dtype()));
  const Shape batch(query.shape().begin(), query.shape().end() - 2);
  Shape kv_batch = batch;
  int64_t kv_group = 1;
  if (enable_gqa) {
    EMBER_CHECK(query.dim() >= 3 && key.dim() == query.dim() && value.dim() == query.dim(), ValueError, kOp,
                ": enable_gqa needs (..., heads, L, E) query, key and value of one rank, got query ",
                shape_str(query.shape()), ", key ", shape_str(key.shape()), ", value ", shape_str(value.shape()));
    const int64_t heads = query.size(-3), kv_heads = key.size(-3);
    EMBER_CHECK(kv_heads > 0 && value.size(-3) == kv_heads && heads % kv_heads == 0, ValueError, kOp,
                ": with enable_gqa, key and value need the same number of heads, dividing query's ", heads,
                "; got key ", shape_str(key.shape()), ", value ", shape_str(value.shape()));
    kv_group = heads / kv_heads;
    kv_batch.back() = kv_heads;
  }
  EMBER_CHECK(Shape(key.shape().begin(), key.shape().end() - 2) == kv_batch &&
                  Shape(value.shape().begin(), value.shape().end() - 2) == kv_batch,
              ValueError, kOp, ": batch dimensions of query ", shape_str(query.shape()), ", key ",
              shape_str(key.shape()), " and value ", shape_str(value.shape()), " must match",
              enable_gqa ? " (but for the heads)" : "");
  EMBER_CHECK(query.size(-1) == key.size(-1), ValueError, kOp, ": query and key must have the same head dim, got ",
              query.size(-1), " and ", key.size(-1));
  EMBER_CHECK(key.size(-2) == value.size(-2), ValueError, kOp,
              ": key and value must have the same sequence length, got ", key.size(-2), " and ", value.size(-2));
  EMBER_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, ValueError, kOp, ": dropout_p must be in [0, 1], got ", dropout_p);
  EMBER_CHECK(!(is_causal && attn_mask.defined()), RuntimeError, kOp,
              ": explicit attn_mask should not be set when is_causal=True");
  Prepared p;
  p.batch = batch;
  p.kv_group = kv_group;
  for (int64_t s : batch) p.batch_heads *= s;
  p.T = query.size(-2);
  p.S = key.size(-2);
  p.D = query.size(-1);
  p.Dv = value.size(-1);
  p.causal = is_causal;
  p.scale = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(p.D));
  p.q = with_unit_column_stride(query);
  p.k = with_unit_column_stride(key);
  p.v = with_unit_column_stride(value);
  if (attn_mask.defined()) {
    const DType dtype = query.dtype();
    EMBER_CHECK(attn_mask.dtype() == DType::Bool || is_floating(attn_mask.dtype()), TypeError, kOp,
                ": attn_mask must be bool or floating, got ", dtype_name(attn_mask.dtype()));
    Shape target = batch;
    target.push_back(p.T);
    target.push_back(p.S);
    bool broadcasts = attn_mask.dim() <= static_cast<int64_t>(target.size());
    for (int64_t d = 1; broadcasts && d <= attn_mask.dim(); ++d) {
      const int64_t m = attn_mask.shape()[attn_mask.dim() - d], t = target[target.size() - d];
      broadcasts = m == t || m == 1;
    }
    EMBER_CHECK(broadcasts, ValueError, kOp, ": attn_mask of shape ", shape_str(attn_mask.shape()),
                " cannot be broadcast to ", shape_str(target));
    autograd::GradModeGuard no_grad(false);
    Tensor additive = attn_mask.dtype() == DType::Bool
                          ? where(attn_mask, scalar_tensor(0.0, dtype),
                                  scalar_tensor(-std::numeric_limits<double>::infinity(), dtype))
                          : to_dtype(attn_mask, dtype);
    Tensor expanded = expand(additive, target);
    p.mask = expanded.strides().back() == 1 || p.S <= 1 ? expanded : contiguous(expanded);
  }
  return p;
}

Tensor attention(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask,
                 double dropout_p, bool is_causal, std::optional<double> scale, bool enable_gqa,
                 const std::string& implementation) {
  Prepared p = prepare(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa);
  p.impl = implementation_named(implementation, query.dtype());
  if (p.D == 0) p.impl.table = nullptr;   // empty dot products: the reference handles them
  const uint64_t draws = static_cast<uint64_t>(p.batch_heads * p.T * p.S);
  if (dropout_p > 0.0 && draws > 0) p.dropout = {dropout_p, reserve_random(draws), random_bits};
  Shape out_shape = p.batch;
  out_shape.push_back(p.T);
  out_shape.push_back(p.Dv);
  Tensor out = empty_attention_layout(out_shape, is_heads_inner(p.q), query.dtype());
  Tensor lse = empty({p.batch_heads, p.T}, query.dtype());
  run_forward(p, out, lse);
  if (auto node = autograd::make_node<ScaledDotProductAttentionBackward>({&query, &key, &value, &attn_mask})) {
    node->mask_shape = attn_mask.defined() ? attn_mask.shape() : Shape{};
    node->mask_dtype = attn_mask.defined() ? attn_mask.dtype() : query.dtype();
    node->q = autograd::SavedTensor(p.q);
    node->k = autograd::SavedTensor(p.k);
    node->v = autograd::SavedTensor(p.v);
    node->has_mask = p.mask.defined();
    if (node->has_mask) node->mask = autograd::SavedTensor(p.mask);
    node->lse = autograd::SavedTensor(lse);
    p.q = p.k = p.v = p.mask = Tensor();
    node->prepared = p;
    autograd::set_history(out, node);
    node->out = autograd::SavedTensor(out);
  }
  return out;
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa) {
  return attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, "");
}

Tensor scaled_dot_product_attention_using(const std::string& implementation, const Tensor& query, const Tensor& key,
                                          const Tensor& value, const Tensor& attn_mask, double dropout_p,
                                          bool is_causal, std::optional<double> scale, bool enable_gqa) {
  return attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa, implementation);
}

}  // namespace ember
