// var and std over any dims with Bessel-style `correction`, computed two-pass in double (stable for float32
// rows), with PyTorch's backward rules (std's gradient is 0 where std is 0). The forward saves the mean.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ember/node.h"
#include "ember/threads.h"
#include "ember/ops.h"
#include "ops/reduce_plan.h"

namespace ember {
namespace {

constexpr int64_t kReduceGrain = 32768;
constexpr int64_t kBlock = 32768;   // fixed split of one long row, so results never depend on the thread count

// Sum of x[0..n), then of (x - mean)^2, both in double.
template <typename T>
double row_sum(const T* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
  return s;
}
template <typename T>
double row_squared_deviation(const T* x, int64_t n, double mean) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double d = static_cast<double>(x[i]) - mean;
    s += d * d;
  }
  return s;
}

// For each o < outer: mean and sum of squared deviations of row o of a contiguous (outer, inner) matrix, or of
// column o of an (inner, outer) one when `columns`. mean and m2 are (outer).
template <typename T>
void moments_kernel(const T* x, int64_t outer, int64_t inner, bool columns, double* mean, double* m2) {
  if (columns) {
    parallel_for(outer, std::max<int64_t>(1, kReduceGrain / inner), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) { mean[o] = 0.0; m2[o] = 0.0; }
      for (int64_t r = 0; r < inner; ++r)
        for (int64_t o = b; o < e; ++o) mean[o] += static_cast<double>(x[r * outer + o]);
      for (int64_t o = b; o < e; ++o) mean[o] /= static_cast<double>(inner);
      for (int64_t r = 0; r < inner; ++r)
        for (int64_t o = b; o < e; ++o) {
          double d = static_cast<double>(x[r * outer + o]) - mean[o];
          m2[o] += d * d;
        }
    });
    return;
  }
  if (outer == 1 && inner > 2 * kBlock) {
    // one long row: fixed blocks in parallel, partials combined in order
    int64_t blocks = (inner + kBlock - 1) / kBlock;
    std::vector<double> partial(blocks);
    auto over_blocks = [&](auto f) {
      parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          int64_t lo = k * kBlock, hi = std::min(inner, lo + kBlock);
          partial[k] = f(x + lo, hi - lo);
        }
      });
      double s = 0.0;
      for (double p : partial) s += p;
      return s;
    };
    mean[0] = over_blocks([](const T* p, int64_t n) { return row_sum(p, n); }) / static_cast<double>(inner);
    double mu = mean[0];
    m2[0] = over_blocks([mu](const T* p, int64_t n) { return row_squared_deviation(p, n, mu); });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kReduceGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* row = x + o * inner;
      mean[o] = row_sum(row, inner) / static_cast<double>(inner);
      m2[o] = row_squared_deviation(row, inner, mean[o]);
    }
  });
}

// gx = 2 / (N - correction) * g * (x - mean), with g and mean in the keepdim shape. For a full reduction with
// N <= correction PyTorch gives g * (NaN where x == mean, else inf); we do the same.
Tensor var_backward(const Tensor& g, const Tensor& x, const Tensor& mean, int64_t count, double correction,
                    bool full_reduction) {
  double dof = static_cast<double>(count) - correction;
  Tensor centered = sub(x, mean);
  if (full_reduction && dof <= 0) {
    Tensor at_mean = binary(BinaryOp::Eq, x, mean);
    Tensor nan = full({}, Scalar(std::nan("")), x.dtype());
    Tensor inf = full({}, Scalar(std::numeric_limits<double>::infinity()), x.dtype());
    return mul(g, where(at_mean, nan, inf));
  }
  return binary(BinaryOp::Mul, mul(g, centered), Scalar(2.0 / dof));
}

struct VarBackward : autograd::Node {
  bool is_std = false;
  double correction = 1;
  int64_t count = 0;
  bool full_reduction = false;
  Shape kept_shape;
  autograd::SavedTensor x, mean, result;   // mean and result (std only) in kept_shape
  const char* name() const override { return is_std ? "StdBackward0" : "VarBackward0"; }
  void release_saved() override { x.reset(); mean.reset(); result.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = reshape(grads[0], kept_shape);
    if (is_std) {
      // d std = d var / (2 std), and 0 where std == 0
      Tensor s = result.get();
      g = masked_fill(div(g, binary(BinaryOp::Mul, s, Scalar(2.0))), binary(BinaryOp::Eq, s, Scalar(0.0)),
                      Scalar(0.0));
    }
    return {var_backward(g, x.get(), mean.get(), count, correction, full_reduction)};
  }
};

Tensor moments(const Tensor& x, const Dims& dims, double correction, bool keepdim, bool is_std) {
  const char* op = is_std ? "std" : "var";
  EMBER_CHECK(is_floating(x.dtype()), TypeError, op, ": std and var only support floating point dtypes, got ",
              dtype_name(x.dtype()));
  EMBER_CHECK(std::isfinite(correction), ValueError, op, ": correction must be a finite number, got ", correction);
  ReducePlan plan = plan_reduce(x, dims, keepdim, op);
  Tensor out = empty(plan.out_shape, x.dtype());
  Tensor mean_kept = empty(plan.kept_shape, x.dtype());
  double divisor = std::max(0.0, static_cast<double>(plan.inner) - correction);
  if (plan.outer > 0) {
    std::vector<double> mean(plan.outer, std::nan("")), m2(plan.outer, 0.0);
    if (plan.inner > 0) {
      bool columns = false;
      Tensor laid = reduce_layout(x, plan, true, &columns);
      dispatch_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        moments_kernel<T>(laid.data<T>(), plan.outer, plan.inner, columns, mean.data(), m2.data());
      });
    }
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* op_out = out.data<T>();
      T* mp = mean_kept.data<T>();
      for (int64_t o = 0; o < plan.outer; ++o) {
        double v = m2[o] / divisor;
        op_out[o] = static_cast<T>(is_std ? std::sqrt(v) : v);
        mp[o] = static_cast<T>(mean[o]);
      }
    });
  }
  if (auto node = autograd::make_node<VarBackward>({&x})) {
    node->is_std = is_std;
    node->correction = correction;
    node->count = plan.inner;
    node->full_reduction = dims.empty() || x.dim() == 0;
    node->kept_shape = plan.kept_shape;
    node->x = autograd::SavedTensor(x);
    node->mean = autograd::SavedTensor(mean_kept);
    if (is_std) node->result = autograd::SavedTensor(reshape(detach(out), plan.kept_shape));
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace

Tensor var(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  return moments(x, dims, correction, keepdim, false);
}
Tensor std(const Tensor& x, const Dims& dims, double correction, bool keepdim) {
  return moments(x, dims, correction, keepdim, true);
}

}  // namespace ember
