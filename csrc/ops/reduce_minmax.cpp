// Value-selecting reductions: max/min (values + indices), amax/amin, argmax/argmin, full max()/min(), and the
// logical reductions all/any, with PyTorch's NaN and tie rules (NaN wins and propagates; first index on ties).
// Kernels here are plain templated loops over the (outer, inner) layout from reduce_plan.h.
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "ember/node.h"
#include "ember/threads.h"
#include "ember/ops.h"
#include "kernels/kernels.h"
#include "ops/reduce_plan.h"

namespace ember {
namespace {

constexpr int64_t kReduceGrain = 32768;
constexpr int64_t kBlock = 32768;   // fixed split of one long row, so results never depend on the thread count

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// Does `v` replace the running `best`? Strict comparison keeps the first occurrence; the first NaN wins for good.
template <bool IsMax, typename T>
bool better(T v, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return false;
    if (v != v) return true;
  }
  if constexpr (std::is_same_v<T, bool>) return IsMax ? (v && !best) : (!v && best);
  else return IsMax ? v > best : v < best;
}

// Best value and its index in x[0..n) with stride `stride`; n >= 1.
template <bool IsMax, typename T>
void scan(const T* x, int64_t n, int64_t stride, T* value, int64_t* index) {
  if constexpr (IsMax && std::is_same_v<T, float>) {
    if (stride == 1) {
      // the table's SIMD max (the first NaN if any), then the first position holding it: no data-dependent
      // branch per element (the running-best loop mispredicts on every new best)
      const float best = kernels::table().max(x, n);
      int64_t at = 0;
      if (best != best) while (x[at] == x[at]) ++at;
      else while (x[at] != best) ++at;
      *value = x[at];   // the element itself: -0.0 stays -0.0 when it comes first among equal zeros
      *index = at;
      return;
    }
  }
  T best = x[0];
  int64_t at = 0;
  for (int64_t i = 1; i < n; ++i) {
    T v = x[i * stride];
    if (better<IsMax>(v, best)) {
      best = v;
      at = i;
      if (is_nan(best)) break;
    }
  }
  *value = best;
  *index = at;
}

// For each o < outer: the best of row o of a contiguous (outer, inner) matrix, or of column o of an (inner, outer)
// one when `columns`. `values` is (outer) or null; `indices` is (outer) or null (position within the row). inner >= 1.
template <bool IsMax, typename T>
void select_kernel(const T* x, int64_t outer, int64_t inner, bool columns, T* values, int64_t* indices) {
  auto store = [&](int64_t o, T v, int64_t i) {
    if (values) values[o] = v;
    if (indices) indices[o] = i;
  };
  if (columns) {
    parallel_for(outer, std::max<int64_t>(1, kReduceGrain / inner), [&](int64_t b, int64_t e) {
      std::unique_ptr<T[]> best(new T[e - b]);   // not std::vector: vector<bool> has no bool& elements
      std::copy(x + b, x + e, best.get());
      std::vector<int64_t> at(e - b, 0);
      for (int64_t r = 1; r < inner; ++r) {
        const T* row = x + r * outer;
        for (int64_t o = b; o < e; ++o)
          if (better<IsMax>(row[o], best[o - b])) { best[o - b] = row[o]; at[o - b] = r; }
      }
      for (int64_t o = b; o < e; ++o) store(o, best[o - b], at[o - b]);
    });
    return;
  }
  if (outer == 1 && inner > 2 * kBlock) {
    // one long row: fixed blocks in parallel, combined in order (earlier block wins ties)
    int64_t blocks = (inner + kBlock - 1) / kBlock;
    std::unique_ptr<T[]> block_best(new T[blocks]);
    std::vector<int64_t> block_at(blocks);
    parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t lo = k * kBlock, hi = std::min(inner, lo + kBlock);
        scan<IsMax>(x + lo, hi - lo, 1, &block_best[k], &block_at[k]);
        block_at[k] += lo;
      }
    });
    T best = block_best[0];
    int64_t at = block_at[0];
    for (int64_t k = 1; k < blocks; ++k)
      if (better<IsMax>(block_best[k], best)) { best = block_best[k]; at = block_at[k]; }
    store(0, best, at);
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kReduceGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      T v;
      int64_t i;
      scan<IsMax>(x + o * inner, inner, 1, &v, &i);
      store(o, v, i);
    }
  });
}

// Runs the selection for `x` reduced by `plan`; either output may be undefined (not wanted).
void run_select(bool is_max, const Tensor& x, const ReducePlan& plan, const Tensor& values, const Tensor& indices) {
  bool columns = false;
  Tensor laid = reduce_layout(x, plan, true, &columns);
  int64_t* index_ptr = indices.defined() ? indices.data<int64_t>() : nullptr;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* value_ptr = values.defined() ? values.data<T>() : nullptr;
    if (is_max) select_kernel<true>(laid.data<T>(), plan.outer, plan.inner, columns, value_ptr, index_ptr);
    else select_kernel<false>(laid.data<T>(), plan.outer, plan.inner, columns, value_ptr, index_ptr);
  });
}

// PyTorch refuses to select from an empty reduced dim.
void check_nonempty_dims(const Tensor& x, const ReducePlan& plan, const char* op) {
  if (x.numel() != 0) return;
  for (int64_t d = 0; d < x.dim(); ++d)
    EMBER_CHECK(!(plan.reduced[d] && x.shape()[d] == 0), IndexError, op, ": Expected reduction dim ", d,
                " to have non-zero size.");
}

// (pre, size, post) of x around `dim` (0-d counts as (1, 1, 1)).
void split_at(const Shape& shape, int64_t dim, int64_t* pre, int64_t* size, int64_t* post) {
  *pre = 1; *size = 1; *post = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) *pre *= shape[d];
    else if (d == dim) *size = shape[d];
    else *post *= shape[d];
  }
}

// max/min along one dim: the gradient goes to the selected position only.
struct SelectDimBackward : autograd::Node {
  const char* label;
  Shape input_shape, kept_shape;
  int64_t dim = 0;
  autograd::SavedTensor indices;   // int64, kept_shape
  const char* name() const override { return label; }
  void release_saved() override { indices.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor idx = contiguous(indices.get());
    Tensor g = contiguous(reshape(grads[0], kept_shape));
    Tensor gx = zeros(input_shape, g.dtype());
    int64_t pre, size, post;
    split_at(input_shape, dim, &pre, &size, &post);
    const int64_t* ip = idx.data<int64_t>();
    dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* gp = g.data<T>();
      T* out = gx.data<T>();
      parallel_for(pre * post, kReduceGrain, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          int64_t p = o / post, q = o % post;
          out[(p * size + ip[o]) * post + q] = gp[o];
        }
      });
    });
    return {gx};
  }
};

// amax/amin: the gradient is split evenly among the elements equal to the result.
struct SelectDimsBackward : autograd::Node {
  const char* label;
  Dims dims;
  Shape kept_shape;
  autograd::SavedTensor x, result;   // result in kept_shape
  const char* name() const override { return label; }
  void release_saved() override { x.reset(); result.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = x.get();
    Tensor mask = to_dtype(binary(BinaryOp::Eq, xv, result.get()), grads[0].dtype());
    Tensor count = sum(mask, dims, true);
    return {mul(div(reshape(grads[0], kept_shape), count), mask)};
  }
};

// max()/min() of everything: evenly among the equal elements, or among the NaNs when the result is NaN.
struct SelectAllBackward : autograd::Node {
  const char* label;
  autograd::SavedTensor x, result;   // result is 0-d
  const char* name() const override { return label; }
  void release_saved() override { x.reset(); result.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = x.get(), r = result.get();
    Tensor mask = std::isnan(item(r)) ? binary(BinaryOp::Ne, xv, xv) : binary(BinaryOp::Eq, xv, r);
    Tensor count = sum(mask);
    Tensor share = div(grads[0], to_dtype(count, grads[0].dtype()));
    return {where(mask, share, zeros({}, grads[0].dtype()))};
  }
};

std::pair<Tensor, Tensor> select_dim(bool is_max, const Tensor& x, int64_t dim, bool keepdim) {
  const char* op = is_max ? "max" : "min";
  ReducePlan plan = plan_reduce(x, {dim}, keepdim, op);
  int64_t wrapped = wrap_dim(dim, x.dim(), op);
  check_nonempty_dims(x, plan, op);
  Tensor values = empty(plan.out_shape, x.dtype());
  Tensor indices = empty(plan.out_shape, DType::Int64);
  if (plan.outer > 0) run_select(is_max, x, plan, values, indices);
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<SelectDimBackward>({&x})) {
      node->label = is_max ? "MaxBackward0" : "MinBackward0";
      node->input_shape = x.shape();
      node->kept_shape = plan.kept_shape;
      node->dim = x.dim() == 0 ? 0 : wrapped;
      node->indices = autograd::SavedTensor(indices);
      autograd::set_history(values, node);
    }
  }
  return {values, indices};
}

Tensor select_dims(bool is_max, const Tensor& x, const Dims& dims, bool keepdim) {
  const char* op = is_max ? "amax" : "amin";
  ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  check_nonempty_dims(x, plan, op);
  Tensor values = empty(plan.out_shape, x.dtype());
  if (plan.outer > 0) run_select(is_max, x, plan, values, Tensor());
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<SelectDimsBackward>({&x})) {
      node->label = is_max ? "AmaxBackward0" : "AminBackward0";
      node->dims = dims;
      node->kept_shape = plan.kept_shape;
      node->x = autograd::SavedTensor(x);
      node->result = autograd::SavedTensor(reshape(detach(values), plan.kept_shape));
      autograd::set_history(values, node);
    }
  }
  return values;
}

Tensor select_all(bool is_max, const Tensor& x) {
  const char* op = is_max ? "max" : "min";
  EMBER_CHECK(x.numel() > 0, RuntimeError, op, "(): Expected reduction dim to be specified for input.numel() == 0. ",
              "Specify the reduction dim with the 'dim' argument.");
  ReducePlan plan = plan_reduce(x, {}, false, op);
  Tensor values = empty({}, x.dtype());
  run_select(is_max, x, plan, values, Tensor());
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<SelectAllBackward>({&x})) {
      node->label = is_max ? "MaxBackward1" : "MinBackward1";
      node->x = autograd::SavedTensor(x);
      node->result = autograd::SavedTensor(values);
      autograd::set_history(values, node);
    }
  }
  return values;
}

Tensor arg_select(bool is_max, const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  const char* op = is_max ? "argmax" : "argmin";
  EMBER_CHECK(x.dtype() != DType::Bool, TypeError, op, "(): does not support bool input");
  if (!dim) {
    EMBER_CHECK(x.numel() > 0, IndexError, op, "(): Expected reduction dim to be specified for input.numel() == 0.");
    ReducePlan plan = plan_reduce(x, {}, keepdim, op);
    Tensor indices = empty(plan.out_shape, DType::Int64);
    run_select(is_max, x, plan, Tensor(), indices);
    return indices;
  }
  ReducePlan plan = plan_reduce(x, {*dim}, keepdim, op);
  check_nonempty_dims(x, plan, op);
  Tensor indices = empty(plan.out_shape, DType::Int64);
  if (plan.outer > 0) run_select(is_max, x, plan, Tensor(), indices);
  return indices;
}

// all/any: out[o] = whether every / some element of row o (or column o) is nonzero (NaN counts as nonzero).
template <typename T>
void logical_kernel(bool is_all, const T* x, int64_t outer, int64_t inner, bool columns, bool* out) {
  auto truthy = [](T v) { return v != T(0); };
  if (columns) {
    parallel_for(outer, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) out[o] = is_all;
      for (int64_t r = 0; r < inner; ++r) {
        const T* row = x + r * outer;
        for (int64_t o = b; o < e; ++o) out[o] = is_all ? (out[o] && truthy(row[o])) : (out[o] || truthy(row[o]));
      }
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* row = x + o * inner;
      bool result = is_all;
      for (int64_t i = 0; i < inner; ++i)
        if (truthy(row[i]) != is_all) { result = !is_all; break; }
      out[o] = result;
    }
  });
}

Tensor logical_reduce(bool is_all, const Tensor& x, const Dims& dims, bool keepdim) {
  const char* op = is_all ? "all" : "any";
  ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  Tensor out = empty(plan.out_shape, DType::Bool);
  if (plan.outer == 0) return out;
  if (plan.inner == 0) return full(plan.out_shape, Scalar(is_all), DType::Bool);
  bool columns = false;
  Tensor laid = reduce_layout(x, plan, true, &columns);
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    logical_kernel<T>(is_all, laid.data<T>(), plan.outer, plan.inner, columns, out.data<bool>());
  });
  return out;
}

}  // namespace

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) { return select_dim(true, x, dim, keepdim); }
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) { return select_dim(false, x, dim, keepdim); }
Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) { return select_dims(true, x, dims, keepdim); }
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) { return select_dims(false, x, dims, keepdim); }
Tensor max(const Tensor& x) { return select_all(true, x); }
Tensor min(const Tensor& x) { return select_all(false, x); }
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_select(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_select(false, x, dim, keepdim); }
Tensor all(const Tensor& x, const Dims& dims, bool keepdim) { return logical_reduce(true, x, dims, keepdim); }
Tensor any(const Tensor& x, const Dims& dims, bool keepdim) { return logical_reduce(false, x, dims, keepdim); }

}  // namespace ember
