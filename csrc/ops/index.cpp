// Advanced indexing with tensors (NumPy's rules): index, index_put_, index_select, masked_select, with backward
// nodes. Every index value is bounds-checked while the plan is built, before anything is written.
#include <cstring>

#include "ember/node.h"
#include "ember/threads.h"
#include "ops/odometer.h"
#include "ember/ops.h"
#include "ops/strided_loop.h"

namespace ember {
namespace {

// What x[indices] selects: for every element of the broadcast index shape B, the offset of a sub-tensor of x
// spanning the dims that no index covers ("rest").
struct IndexPlan {
  Shape index_shape;                // B
  std::vector<int64_t> offsets;     // per element of B (row-major): offset into x's data, in elements
  Shape rest_shape, rest_strides;   // the dims of x that no index covers, in order, with x's strides
  int64_t insert_at = 0;            // where B's dims go in the result: the first indexed dim when the indexed
                                    // dims are adjacent, else 0 (NumPy's rule)
  Shape result_shape;               // rest_shape[:insert_at] + B + rest_shape[insert_at:]
};

// Bool masks become one int64 index tensor per mask dim (their nonzero coordinates); int64 passes through.
std::vector<Tensor> expand_masks(const Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  std::vector<Tensor> out;
  out.reserve(indices.size());
  for (const Tensor& idx : indices) {
    if (!idx.defined() || idx.dtype() == DType::Int64) {
      out.push_back(idx);
      continue;
    }
    EMBER_CHECK(idx.dtype() == DType::Bool, IndexError, op,
                ": tensors used as indices must be long (int64) or bool tensors, got ", dtype_name(idx.dtype()));
    EMBER_CHECK(idx.dim() > 0, IndexError, op, ": a 0-d bool index is only supported through Tensor.__getitem__");
    const int64_t at = static_cast<int64_t>(out.size());
    EMBER_CHECK(at + idx.dim() <= x.dim(), IndexError, "too many indices for tensor of dimension ", x.dim());
    for (int64_t j = 0; j < idx.dim(); ++j)
      EMBER_CHECK(idx.shape()[j] == x.shape()[at + j], IndexError, "The shape of the mask ", shape_str(idx.shape()),
                  " at index ", j, " does not match the shape of the indexed tensor ", shape_str(x.shape()),
                  " at index ", at + j);
    Tensor coords = nonzero(idx);   // (n, mask dims)
    for (int64_t j = 0; j < idx.dim(); ++j) out.push_back(select(coords, 1, j));
  }
  return out;
}

IndexPlan plan_index(const Tensor& x, const std::vector<Tensor>& indices, const char* op) {
  const int64_t n = static_cast<int64_t>(indices.size());
  EMBER_CHECK(n <= x.dim(), IndexError, "too many indices for tensor of dimension ", x.dim(), " (got ", n, ")");
  IndexPlan plan;
  int64_t first = -1, last = -1, count = 0;
  std::string shapes;
  for (int64_t k = 0; k < n; ++k) {
    if (!indices[k].defined()) continue;
    shapes += (count ? ", " : "") + shape_str(indices[k].shape());
    try {
      plan.index_shape = broadcast_shapes(plan.index_shape, indices[k].shape(), op);
    } catch (const ValueError&) {
      throw IndexError(str("shape mismatch: indexing tensors could not be broadcast together with shapes ", shapes));
    }
    if (first < 0) first = k;
    last = k;
    ++count;
  }
  const int64_t rows = checked_numel(plan.index_shape, op);
  plan.offsets.assign(rows, 0);
  for (int64_t k = 0; k < n; ++k) {
    const Tensor& idx = indices[k];
    if (!idx.defined()) continue;
    const int64_t size = x.shape()[k], stride = x.strides()[k];
    const int64_t* values = idx.data<int64_t>();
    walk_offsets<1>(plan.index_shape, {broadcast_strides(idx, plan.index_shape)}, [&](int64_t i, auto off) {
      int64_t v = values[off[0]];
      EMBER_CHECK(v >= -size && v < size, IndexError, op, ": index ", v, " is out of bounds for dimension ", k,
                  " with size ", size);
      plan.offsets[i] += (v < 0 ? v + size : v) * stride;
    });
  }
  for (int64_t k = 0; k < x.dim(); ++k) {
    if (k < n && indices[k].defined()) continue;
    plan.rest_shape.push_back(x.shape()[k]);
    plan.rest_strides.push_back(x.strides()[k]);
  }
  plan.insert_at = (count > 0 && last - first + 1 == count) ? first : 0;
  plan.result_shape.assign(plan.rest_shape.begin(), plan.rest_shape.begin() + plan.insert_at);
  plan.result_shape.insert(plan.result_shape.end(), plan.index_shape.begin(), plan.index_shape.end());
  plan.result_shape.insert(plan.result_shape.end(), plan.rest_shape.begin() + plan.insert_at, plan.rest_shape.end());
  return plan;
}

// Splits strides of a tensor laid out as the result (rest[:at] + B + rest[at:]) into B's and the rest's.
void split_result_strides(const Shape& strides, int64_t at, int64_t index_dims, Shape& index_strides,
                          Shape& rest_strides) {
  index_strides.assign(strides.begin() + at, strides.begin() + at + index_dims);
  rest_strides.assign(strides.begin(), strides.begin() + at);
  rest_strides.insert(rest_strides.end(), strides.begin() + at + index_dims, strides.end());
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  return true;
}

std::vector<int64_t> row_offsets(const Shape& index_shape, const Shape& index_strides) {
  std::vector<int64_t> offsets(checked_numel(index_shape, "index"));
  walk_offsets<1>(index_shape, {index_strides}, [&](int64_t i, auto off) { offsets[i] = off[0]; });
  return offsets;
}

// For every row r and every element e of rest_shape: dst[dst_rows[r] + e] = (or +=) src[src_rows[r] + e].
// Gathers (rows_disjoint) split rows across threads; puts split the rest so duplicate rows never race.
template <typename T>
void transfer_rows(T* dst, const std::vector<int64_t>& dst_rows, const Shape& dst_strides,   // dst: rows x rest
                   const T* src, const std::vector<int64_t>& src_rows, const Shape& src_strides,   // src: rows x rest
                   const Shape& rest_shape, bool accumulate, bool rows_disjoint) {
  Shape sizes, dst_st, src_st;   // the rest, coalesced
  for (size_t d = 0; d < rest_shape.size(); ++d) {
    if (rest_shape[d] == 0) return;
    if (rest_shape[d] == 1) continue;
    if (!sizes.empty() && dst_st.back() == dst_strides[d] * rest_shape[d] &&
        src_st.back() == src_strides[d] * rest_shape[d]) {
      sizes.back() *= rest_shape[d];
      dst_st.back() = dst_strides[d];
      src_st.back() = src_strides[d];
      continue;
    }
    sizes.push_back(rest_shape[d]);
    dst_st.push_back(dst_strides[d]);
    src_st.push_back(src_strides[d]);
  }
  const int64_t inner = sizes.empty() ? 1 : sizes.back();
  const int64_t dst_step = sizes.empty() ? 0 : dst_st.back(), src_step = sizes.empty() ? 0 : src_st.back();
  std::vector<int64_t> dst_outer{0}, src_outer{0};
  if (sizes.size() > 1) {
    Shape outer_shape(sizes.begin(), sizes.end() - 1);
    Shape outer_dst(dst_st.begin(), dst_st.end() - 1), outer_src(src_st.begin(), src_st.end() - 1);
    int64_t outer = checked_numel(outer_shape, "index");
    dst_outer.resize(outer);
    src_outer.resize(outer);
    walk_offsets<2>(outer_shape, {outer_dst, outer_src}, [&](int64_t i, auto off) {
      dst_outer[i] = off[0];
      src_outer[i] = off[1];
    });
  }
  const int64_t rows = static_cast<int64_t>(dst_rows.size()), outer = static_cast<int64_t>(dst_outer.size());
  auto run = [&](int64_t row_begin, int64_t row_end, int64_t begin, int64_t end) {
    for (int64_t r = row_begin; r < row_end; ++r) {
      for (int64_t o = 0; o < outer; ++o) {
        T* d = dst + dst_rows[r] + dst_outer[o] + begin * dst_step;
        const T* s = src + src_rows[r] + src_outer[o] + begin * src_step;
        const int64_t n = end - begin;
        if (accumulate) {
          for (int64_t i = 0; i < n; ++i) d[i * dst_step] = static_cast<T>(d[i * dst_step] + s[i * src_step]);
        } else if (dst_step == 1 && src_step == 1) {
          std::memcpy(d, s, static_cast<size_t>(n) * sizeof(T));
        } else {
          for (int64_t i = 0; i < n; ++i) d[i * dst_step] = s[i * src_step];
        }
      }
    }
  };
  const int64_t per_row = outer * inner;
  if (rows_disjoint) {
    parallel_for(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(per_row, 1)),
                 [&](int64_t b, int64_t e) { run(b, e, 0, inner); });
  } else {
    int64_t work = rows * outer;
    parallel_for(inner, std::max<int64_t>(64, 32768 / std::max<int64_t>(work, 1)),
                 [&](int64_t b, int64_t e) { run(0, rows, b, e); });
  }
}

struct IndexBackward : autograd::Node {
  std::vector<autograd::SavedTensor> indices;   // int64 (masks already expanded); undefined = full slice
  Shape input_shape;
  const char* name() const override { return "IndexBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = zeros(input_shape, grads[0].dtype());
    index_put_(g, saved_indices(), grads[0], true);
    return {g};
  }
  std::vector<Tensor> saved_indices() const {
    std::vector<Tensor> out;
    for (const auto& s : indices) out.push_back(s.get());
    return out;
  }
  void release_saved() override {
    for (auto& s : indices) s.reset();
  }
};

struct IndexPutBackward : autograd::Node {   // inputs: the tensor written into, the values
  std::vector<autograd::SavedTensor> indices;
  Shape values_shape;
  DType values_dtype = DType::Float32;
  bool accumulate = false;
  const char* name() const override { return "IndexPutBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    std::vector<Tensor> ind;
    for (const auto& s : indices) ind.push_back(s.get());
    std::vector<Tensor> out(2);
    if (next_edges[0].fn) {
      if (accumulate) {
        out[0] = grads[0];
      } else {   // overwritten elements get no gradient
        out[0] = clone(grads[0]);
        index_put_(out[0], ind, scalar_tensor(Scalar(0.0), grads[0].dtype()), false);
      }
    }
    if (next_edges[1].fn) {
      Tensor g = sum_to(index(grads[0], ind), values_shape);
      out[1] = is_floating(values_dtype) ? to_dtype(g, values_dtype) : Tensor();
    }
    return out;
  }
  void release_saved() override {
    for (auto& s : indices) s.reset();
  }
};

std::vector<autograd::SavedTensor> save_all(const std::vector<Tensor>& tensors) {
  std::vector<autograd::SavedTensor> out;
  for (const Tensor& t : tensors) out.emplace_back(t);
  return out;
}

}  // namespace

namespace {

// x[mask] with a bool mask of x's own shape (the common case): one compaction pass, out[k] = x[i] then k += mask[i]
// (no branch on the mask; elements after the last hit go to a sink), and its backward the reverse scatter.
struct MaskedSelectBackward : autograd::Node {
  autograd::SavedTensor mask;
  const char* name() const override { return "MaskedSelectBackward0"; }
  void release_saved() override { mask.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    const Tensor m = contiguous(mask.get()), g = contiguous(grads[0]);
    Tensor gx = empty(m.shape(), g.dtype());
    dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const bool* mp = m.data<bool>();
      const T* gp = g.data<T>();
      T* out = gx.data<T>();
      const int64_t n = m.numel(), last = std::max<int64_t>(g.numel() - 1, 0);
      if (g.numel() == 0) return std::fill(out, out + n, T(0));
      int64_t k = 0;
      for (int64_t i = 0; i < n; ++i) {
        out[i] = mp[i] ? gp[std::min(k, last)] : T(0);
        k += mp[i];
      }
    });
    return {gx};
  }
};

Tensor select_by_full_mask(const Tensor& x, const Tensor& mask) {
  const Tensor xc = contiguous(x), m = contiguous(mask);
  const bool* mp = m.data<bool>();
  const int64_t n = xc.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += mp[i];
  Tensor out = empty({count}, x.dtype());
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* xp = xc.data<T>();
    T* o = out.data<T>();
    T sink;   // where the elements after the last hit land
    int64_t k = 0;
    for (int64_t i = 0; i < n; ++i) {
      *(k < count ? o + k : &sink) = xp[i];
      k += mp[i];
    }
  });
  if (auto node = autograd::make_node<MaskedSelectBackward>({&x})) {
    node->mask = autograd::SavedTensor(mask);
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace

Tensor index(const Tensor& x, const std::vector<Tensor>& indices) {
  if (indices.size() == 1 && indices[0].defined() && indices[0].dtype() == DType::Bool && x.dim() > 0 &&
      indices[0].shape() == x.shape())
    return select_by_full_mask(x, indices[0]);
  std::vector<Tensor> int_indices = expand_masks(x, indices, "index");
  IndexPlan plan = plan_index(x, int_indices, "index");
  Tensor out = empty(plan.result_shape, x.dtype());
  Shape out_index_strides, out_rest_strides;
  const int64_t index_dims = static_cast<int64_t>(plan.index_shape.size());
  split_result_strides(out.strides(), plan.insert_at, index_dims, out_index_strides, out_rest_strides);
  std::vector<int64_t> out_rows = row_offsets(plan.index_shape, out_index_strides);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    transfer_rows<T>(out.data<T>(), out_rows, out_rest_strides, x.data<T>(), plan.offsets, plan.rest_strides,
                     plan.rest_shape, false, true);
  });
  if (auto node = autograd::make_node<IndexBackward>({&x})) {
    node->indices = save_all(int_indices);
    node->input_shape = x.shape();
    autograd::set_history(out, node);
  }
  return out;
}

void index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate) {
  EMBER_CHECK(values.defined(), TypeError, "index_put_: expected a values Tensor, got None");
  const bool track = autograd::grad_enabled() && is_floating(x.dtype()) && (x.requires_grad() || values.requires_grad());
  if (track) {
    EMBER_CHECK(!(x.is_leaf() && x.impl()->requires_grad), RuntimeError,
                "index_put_: a leaf Variable that requires grad is being used in an in-place operation");
    EMBER_CHECK(!x.impl()->is_view, NotImplementedError,
                "index_put_: in-place operation on a view of a tensor that takes part in autograd is not supported; "
                "clone() the tensor first or use the out-of-place form");
  }
  for (int64_t d = 0; d < x.dim(); ++d)
    EMBER_CHECK(x.strides()[d] != 0 || x.shape()[d] <= 1, RuntimeError,
                "index_put_: unsupported operation: more than one element of the written-to tensor refers to a single "
                "memory location. Please clone() the tensor before performing the operation");
  std::vector<Tensor> int_indices = expand_masks(x, indices, "index_put_");
  IndexPlan plan = plan_index(x, int_indices, "index_put_");
  EMBER_CHECK(broadcasts_to(values.shape(), plan.result_shape), ValueError, "index_put_: shape mismatch: value tensor of shape ",
              shape_str(values.shape()), " cannot be broadcast to indexing result of shape ",
              shape_str(plan.result_shape));
  std::shared_ptr<IndexPutBackward> node;
  if (track) {   // edges first: they must point at x's history before this write
    node = std::make_shared<IndexPutBackward>();
    autograd::collect_edges(*node, {&x, &values});
  }
  Tensor v;
  {
    autograd::GradModeGuard no_grad(false);
    v = to_dtype(detach(values), x.dtype());
    if (v.storage() == x.storage()) v = clone(v);   // values that alias the destination are read before writing
  }
  Shape v_index_strides, v_rest_strides;
  split_result_strides(broadcast_strides(v, plan.result_shape), plan.insert_at,
                       static_cast<int64_t>(plan.index_shape.size()), v_index_strides, v_rest_strides);
  std::vector<int64_t> v_rows = row_offsets(plan.index_shape, v_index_strides);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    transfer_rows<T>(x.data<T>(), plan.offsets, plan.rest_strides, v.data<T>(), v_rows, v_rest_strides,
                     plan.rest_shape, accumulate, false);
  });
  x.bump_version();
  if (node) {
    node->indices = save_all(int_indices);
    node->values_shape = values.shape();
    node->values_dtype = values.dtype();
    node->accumulate = accumulate;
    autograd::set_history(x, node);
  }
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index_tensor) {
  EMBER_CHECK(index_tensor.dtype() == DType::Int64, TypeError, "index_select: expected an int64 index tensor, got ",
              dtype_name(index_tensor.dtype()));
  EMBER_CHECK(index_tensor.dim() <= 1, IndexError, "index_select: index is supposed to be a vector, got a ",
              index_tensor.dim(), "-d tensor");
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = index_tensor.dim() == 0 ? reshape(index_tensor, {1}) : index_tensor;
  if (x.dim() == 0) {
    EMBER_CHECK(idx.numel() == 1, IndexError, "index_select: index to a 0-d tensor can have only 1 value, got ",
                idx.numel());
    return reshape(index(reshape(x, {1}), {idx}), {});
  }
  {
    const Tensor values = contiguous(idx);
    const int64_t size = x.shape()[d], count = values.numel(), *v = values.data<int64_t>();
    for (int64_t i = 0; i < count; ++i)
      EMBER_CHECK(v[i] >= -size && v[i] < size, IndexError, "index_select: index ", v[i],
                  " is out of bounds for dimension ", d, " with size ", size);
  }
  std::vector<Tensor> indices(d + 1);
  indices[d] = idx;
  return index(x, indices);
}

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  EMBER_CHECK(mask.dtype() == DType::Bool, TypeError, "masked_select: expected a bool mask, got ",
              dtype_name(mask.dtype()));
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_select");
  if (shape.empty()) shape = {1};
  return index(expand(x, shape), {expand(detach(mask), shape)});
}

}  // namespace ember
