// Sum and mean over any dims (and sum_to for broadcast gradients), with their backward.
#include <algorithm>
#include <cmath>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/kernels.h"
#include "ember/ops.h"
#include "ops/reduce_plan.h"

namespace ember {

ReducePlan plan_reduce(const Tensor& x, const Dims& dims, bool keepdim, const char* op) {
  ReducePlan p;
  int64_t n = x.dim();
  p.reduced.assign(n, dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n, op);
    if (n == 0) continue;   // a 0-d tensor accepts dim 0 / -1 and has nothing to reduce
    EMBER_CHECK(!p.reduced[w] || dims.empty(), ValueError, op, ": dim ", w, " appears multiple times in the list of dims");
    p.reduced[w] = true;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = x.shape()[i];
    if (p.reduced[i]) {
      p.inner *= s;
      p.kept_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.outer *= s;
      p.kept_shape.push_back(s);
      p.out_shape.push_back(s);
    }
  }
  return p;
}

Tensor reduce_layout(const Tensor& x, const ReducePlan& plan, bool allow_columns, bool* columns) {
  *columns = false;
  int64_t n = x.dim();
  Dims order;
  for (int64_t i = 0; i < n; ++i) if (!plan.reduced[i]) order.push_back(i);
  for (int64_t i = 0; i < n; ++i) if (plan.reduced[i]) order.push_back(i);
  autograd::GradModeGuard no_grad(false);
  if (x.is_contiguous()) {
    // reduced dims already trailing (ignoring size-1 dims)?
    bool trailing = true, leading = true, seen_reduced = false, seen_kept = false;
    for (int64_t i = 0; i < n; ++i) {
      if (x.shape()[i] == 1) continue;
      if (plan.reduced[i]) { seen_reduced = true; if (seen_kept) leading = false; }
      else { seen_kept = true; if (seen_reduced) trailing = false; }
    }
    if (trailing) return x;
    if (leading && allow_columns) { *columns = true; return x; }
  }
  return contiguous(permute(x, order));
}

namespace {

constexpr int64_t kReduceGrain = 32768;

// out[o] = sum of row o of a contiguous (outer, inner) matrix, or of column o when `columns`.
template <typename T, typename Acc>
void sum_kernel(const T* x, T* out, int64_t outer, int64_t inner, bool columns) {
  if (columns) {
    // accumulate the inner rows into the outputs; threads split the output columns
    parallel_for(outer, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      std::vector<Acc> acc(e - b, Acc(0));
      for (int64_t r = 0; r < inner; ++r) {
        const T* row = x + r * outer;
        for (int64_t o = b; o < e; ++o) acc[o - b] += static_cast<Acc>(row[o]);
      }
      for (int64_t o = b; o < e; ++o) out[o] = static_cast<T>(acc[o - b]);
    });
    return;
  }
  if (outer == 1) {
    // one long row: partial sums over fixed blocks, combined in order, so the result is the same for any
    // thread count
    constexpr int64_t kBlock = 65536;
    int64_t blocks = (inner + kBlock - 1) / kBlock;
    using Partial = std::conditional_t<std::is_integral_v<T>, int64_t, double>;   // exact for integer sums
    std::vector<Partial> partial(blocks, Partial(0));
    parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        int64_t lo = blk * kBlock, hi = std::min(inner, lo + kBlock);
        if constexpr (std::is_same_v<T, float>) {
          partial[blk] = kernels::table().sum(x + lo, hi - lo);
        } else {
          Acc s = Acc(0);
          for (int64_t i = lo; i < hi; ++i) s += static_cast<Acc>(x[i]);
          partial[blk] = static_cast<Partial>(s);
        }
      }
    });
    Partial s = Partial(0);
    for (Partial v : partial) s += v;
    out[0] = static_cast<T>(s);
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kReduceGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* row = x + o * inner;
      if constexpr (std::is_same_v<T, float>) {
        out[o] = static_cast<float>(kernels::table().sum(row, inner));
      } else {
        Acc s = Acc(0);
        for (int64_t i = 0; i < inner; ++i) s += static_cast<Acc>(row[i]);
        out[o] = static_cast<T>(s);
      }
    }
  });
}

struct SumBackward : autograd::Node {
  Shape input_shape, kept_shape;
  double scale = 1.0;   // 1/count for mean
  const char* name() const override { return scale == 1.0 ? "SumBackward1" : "MeanBackward1"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = reshape(grads[0], kept_shape);
    if (scale != 1.0) g = binary(BinaryOp::Mul, g, Scalar(scale));
    return {contiguous(expand(g, input_shape))};
  }
};

Tensor sum_impl(const Tensor& x, const Dims& dims, bool keepdim, bool is_mean) {
  const char* op = is_mean ? "mean" : "sum";
  ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  DType out_dtype = x.dtype();
  if (!is_floating(out_dtype)) {
    EMBER_CHECK(!is_mean, TypeError, "mean(): could not infer output dtype. Input dtype must be either a floating ",
                "point or complex dtype. Got: ", dtype_name(x.dtype()));
    out_dtype = DType::Int64;   // sum of bool/int is int64, as PyTorch
  }
  Tensor input = x.dtype() == out_dtype ? x : to_dtype(detach(x), out_dtype);
  bool columns = false;
  Tensor laid = reduce_layout(input, plan, true, &columns);
  Tensor out = empty(plan.out_shape, out_dtype);
  if (plan.inner == 0) {
    out = is_mean ? full(plan.out_shape, Scalar(std::nan("")), out_dtype) : zeros(plan.out_shape, out_dtype);
  } else {
    dispatch_dtype(out_dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, float>) sum_kernel<float, float>(laid.data<float>(), out.data<float>(), plan.outer, plan.inner, columns);
      else if constexpr (std::is_same_v<T, double>) sum_kernel<double, double>(laid.data<double>(), out.data<double>(), plan.outer, plan.inner, columns);
      else if constexpr (std::is_same_v<T, int64_t>) sum_kernel<int64_t, int64_t>(laid.data<int64_t>(), out.data<int64_t>(), plan.outer, plan.inner, columns);
    });
    if (is_mean) {
      autograd::GradModeGuard no_grad(false);
      out = binary(BinaryOp::Div, out, Scalar(static_cast<double>(plan.inner)));
    }
  }
  if (is_floating(out_dtype)) {
    if (auto node = autograd::make_node<SumBackward>({&x})) {
      node->input_shape = x.shape();
      node->kept_shape = plan.kept_shape;
      node->scale = is_mean ? 1.0 / static_cast<double>(plan.inner) : 1.0;
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) { return sum_impl(x, dims, keepdim, false); }
Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) { return sum_impl(x, dims, keepdim, true); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  EMBER_CHECK(lead >= 0, ValueError, "sum_to: cannot reduce shape ", shape_str(x.shape()), " to ", shape_str(shape));
  Dims dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) dims.push_back(i);
    else EMBER_CHECK(shape[i - lead] == x.shape()[i], ValueError, "sum_to: cannot reduce shape ",
                     shape_str(x.shape()), " to ", shape_str(shape));
  }
  if (dims.empty()) return reshape(x, shape);
  Tensor s = sum(x, dims, true);
  return lead > 0 || s.shape() != shape ? reshape(s, shape) : s;
}

}  // namespace ember
