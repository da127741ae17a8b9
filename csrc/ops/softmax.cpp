// softmax, log_softmax and logsumexp over any dim(s), with backward from the saved output. float32 rows along a
// contiguous last dim use the SIMD table kernels; other dims (and float64) use templated loops over the
// (pre, size, post) layout without transposing. Every output element is computed in a fixed order.
#include <cmath>
#include <limits>
#include <vector>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/kernels.h"
#include "ember/ops.h"
#include "ops/reduce_plan.h"

namespace ember {
namespace {

constexpr int64_t kGrain = 32768;
constexpr int64_t kColumnBlock = 256;   // columns of a strided (size, post) slab handled together

// A contiguous tensor seen as (pre, size, post) around `dim`.
struct Slab {
  int64_t pre = 1, size = 1, post = 1;
};

Slab slab_of(const Shape& shape, int64_t dim) {
  Slab s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.pre *= shape[d];
    else if (d == dim) s.size = shape[d];
    else s.post *= shape[d];
  }
  return s;
}

// The larger of v and m where a NaN on either side wins.
template <typename T>
T nan_max(T v, T m) {
  return m != m ? m : (v != v || v > m ? v : m);
}

// Runs f(p, q0, q1) over every slab p and column block [q0, q1), in parallel.
template <typename F>
void for_each_block(const Slab& s, F f) {
  int64_t blocks = (s.post + kColumnBlock - 1) / kColumnBlock;
  int64_t per_task = s.size * std::min(s.post, kColumnBlock);
  parallel_for(s.pre * blocks, std::max<int64_t>(1, kGrain / std::max<int64_t>(per_task, 1)), [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t p = t / blocks, q0 = (t % blocks) * kColumnBlock;
      f(p, q0, std::min(s.post, q0 + kColumnBlock));
    }
  });
}

// float32 along a strided dim: each of the `size` rows of a column block is contiguous, so the table's SIMD
// maximum, sub, exp and mul run along them (the scalar loop below spent ~20 ns an element in std::exp).
void softmax_columns_f32(const float* x, float* y, const Slab& s, bool log) {
  const kernels::Table& k = kernels::table();
  for_each_block(s, [&](int64_t p, int64_t q0, int64_t q1) {
    const int64_t width = q1 - q0;
    const float* xs = x + p * s.size * s.post + q0;
    float* ys = y + p * s.size * s.post + q0;
    std::vector<float> m(width, -std::numeric_limits<float>::infinity()), e(width), scale(width);
    std::vector<double> total(width, 0.0);
    for (int64_t i = 0; i < s.size; ++i) k.maximum(m.data(), 1, xs + i * s.post, 1, m.data(), width);   // NaN wins
    for (float& v : m)
      if (v == -std::numeric_limits<float>::infinity()) v = 0.0f;   // all -inf: 0/0 gives NaN, as PyTorch
    for (int64_t i = 0; i < s.size; ++i) {
      float* out = log ? e.data() : ys + i * s.post;
      k.sub(xs + i * s.post, 1, m.data(), 1, out, width);
      k.exp(out, out, width);
      for (int64_t q = 0; q < width; ++q) total[q] += static_cast<double>(out[q]);
    }
    for (int64_t q = 0; q < width; ++q)
      scale[q] = log ? m[q] + static_cast<float>(std::log(total[q])) : static_cast<float>(1.0 / total[q]);
    for (int64_t i = 0; i < s.size; ++i) {
      if (log) k.sub(xs + i * s.post, 1, scale.data(), 1, ys + i * s.post, width);
      else k.mul(ys + i * s.post, 1, scale.data(), 1, ys + i * s.post, width);
    }
  });
}

// y = softmax or log_softmax of x along the middle dim of the slab; x and y are (pre, size, post), contiguous.
template <typename T>
void softmax_forward_kernel(const T* x, T* y, const Slab& s, bool log) {
  if constexpr (std::is_same_v<T, float>) {
    if (s.post == 1) {
      const kernels::Table& k = kernels::table();
      kernels::RowsF32 rows_kernel = log ? k.log_softmax_rows : k.softmax_rows;
      parallel_for(s.pre, std::max<int64_t>(1, kGrain / s.size), [&](int64_t b, int64_t e) {
        rows_kernel(x + b * s.size, y + b * s.size, e - b, s.size);
      });
      return;
    }
    return softmax_columns_f32(x, y, s, log);
  }
  const T negative_infinity = -std::numeric_limits<T>::infinity();
  for_each_block(s, [&](int64_t p, int64_t q0, int64_t q1) {
    int64_t width = q1 - q0;
    const T* xs = x + p * s.size * s.post + q0;
    T* ys = y + p * s.size * s.post + q0;
    std::vector<T> m(width, negative_infinity);
    std::vector<double> total(width, 0.0);
    for (int64_t i = 0; i < s.size; ++i)
      for (int64_t q = 0; q < width; ++q) {
        m[q] = nan_max(xs[i * s.post + q], m[q]);
      }
    for (int64_t q = 0; q < width; ++q)
      if (m[q] == negative_infinity) m[q] = T(0);   // all -inf: 0/0 gives NaN, as PyTorch
    for (int64_t i = 0; i < s.size; ++i)
      for (int64_t q = 0; q < width; ++q) {
        T e = std::exp(xs[i * s.post + q] - m[q]);
        total[q] += static_cast<double>(e);
        if (!log) ys[i * s.post + q] = e;
      }
    for (int64_t q = 0; q < width; ++q) {
      T scale = log ? static_cast<T>(m[q] + static_cast<T>(std::log(total[q]))) : static_cast<T>(1.0 / total[q]);
      for (int64_t i = 0; i < s.size; ++i) {
        T& out = ys[i * s.post + q];
        out = log ? xs[i * s.post + q] - scale : out * scale;
      }
    }
  });
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
// y, gy, gx are (pre, size, post), contiguous.
template <typename T>
void softmax_backward_kernel(const T* y, const T* gy, T* gx, const Slab& s, bool log) {
  if constexpr (std::is_same_v<T, float>) {
    if (s.post == 1) {
      const kernels::Table& k = kernels::table();
      kernels::RowsBackwardF32 rows_kernel = log ? k.log_softmax_backward_rows : k.softmax_backward_rows;
      parallel_for(s.pre, std::max<int64_t>(1, kGrain / s.size), [&](int64_t b, int64_t e) {
        int64_t at = b * s.size;
        rows_kernel(y + at, gy + at, gx + at, e - b, s.size);
      });
      return;
    }
  }
  for_each_block(s, [&](int64_t p, int64_t q0, int64_t q1) {
    int64_t width = q1 - q0, base = p * s.size * s.post + q0;
    std::vector<double> total(width, 0.0);
    for (int64_t i = 0; i < s.size; ++i)
      for (int64_t q = 0; q < width; ++q) {
        int64_t at = base + i * s.post + q;
        total[q] += log ? static_cast<double>(gy[at]) : static_cast<double>(gy[at]) * static_cast<double>(y[at]);
      }
    for (int64_t i = 0; i < s.size; ++i)
      for (int64_t q = 0; q < width; ++q) {
        int64_t at = base + i * s.post + q;
        T t = static_cast<T>(total[q]);
        gx[at] = log ? gy[at] - std::exp(y[at]) * t : y[at] * (gy[at] - t);
      }
  });
}

struct SoftmaxBackward : autograd::Node {
  bool log = false;
  int64_t dim = 0;
  autograd::SavedTensor y;
  const char* name() const override { return log ? "LogSoftmaxBackward0" : "SoftmaxBackward0"; }
  void release_saved() override { y.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor yv = contiguous(y.get()), g = contiguous(grads[0]);
    Tensor gx = empty(yv.shape(), yv.dtype());
    if (yv.numel() == 0) return {gx};   // nothing to do (and no division by a zero row length below)
    Slab s = slab_of(yv.shape(), dim);
    dispatch_floating(yv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_backward_kernel<T>(yv.data<T>(), g.data<T>(), gx.data<T>(), s, log);
    });
    return {gx};
  }
};

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  EMBER_CHECK(is_floating(x.dtype()), TypeError, op, ": expected a floating point tensor, got ",
              dtype_name(x.dtype()), " (pass dtype=ember.float32 to convert)");
  int64_t wrapped = x.dim() == 0 ? (wrap_dim(dim, 0, op), 0) : wrap_dim(dim, x.dim(), op);
  Tensor input;
  {
    autograd::GradModeGuard no_grad(false);
    input = contiguous(x);
  }
  Tensor y = empty(x.shape(), x.dtype());
  if (x.numel() > 0) {
    Slab s = slab_of(x.shape(), wrapped);
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      softmax_forward_kernel<T>(input.data<T>(), y.data<T>(), s, log);
    });
  }
  if (auto node = autograd::make_node<SoftmaxBackward>({&x})) {
    node->log = log;
    node->dim = wrapped;
    node->y = autograd::SavedTensor(y);
    autograd::set_history(y, node);
  }
  return y;
}

// out[o] = log(sum(exp(row o))) of a contiguous (outer, inner) matrix, or of column o of (inner, outer).
// The max is subtracted first (0 instead when it is infinite, so inf stays inf and all -inf gives -inf).
template <typename T>
void logsumexp_kernel(const T* x, T* out, int64_t outer, int64_t inner, bool columns) {
  auto shift = [](T m) { return std::isinf(m) ? T(0) : m; };
  if (columns) {
    parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
      std::vector<T> m(x + b, x + e);
      std::vector<double> total(e - b, 0.0);
      for (int64_t r = 1; r < inner; ++r)
        for (int64_t o = b; o < e; ++o) m[o - b] = nan_max(x[r * outer + o], m[o - b]);
      for (int64_t o = b; o < e; ++o) m[o - b] = shift(m[o - b]);
      for (int64_t r = 0; r < inner; ++r)
        for (int64_t o = b; o < e; ++o) total[o - b] += static_cast<double>(std::exp(x[r * outer + o] - m[o - b]));
      for (int64_t o = b; o < e; ++o) out[o] = static_cast<T>(static_cast<double>(m[o - b]) + std::log(total[o - b]));
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kGrain / inner), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      const T* row = x + o * inner;
      T m;
      if constexpr (std::is_same_v<T, float>) {
        m = kernels::table().max(row, inner);
      } else {
        m = row[0];
        for (int64_t i = 1; i < inner; ++i) m = nan_max(row[i], m);
      }
      m = shift(m);
      double total = 0.0;
      for (int64_t i = 0; i < inner; ++i) total += static_cast<double>(std::exp(row[i] - m));
      out[o] = static_cast<T>(static_cast<double>(m) + std::log(total));
    }
  });
}

// gx = g * exp(x - logsumexp(x)), with g and the result in the keepdim shape.
struct LogsumexpBackward : autograd::Node {
  Shape kept_shape;
  autograd::SavedTensor x, result;   // result in kept_shape
  const char* name() const override { return "LogsumexpBackward0"; }
  void release_saved() override { x.reset(); result.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    return {mul(reshape(grads[0], kept_shape), exp(sub(x.get(), result.get())))};
  }
};

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  const char* op = "logsumexp";
  Tensor input = x;
  if (!is_floating(x.dtype())) input = to_dtype(detach(x), DType::Float32);   // integers promote, as PyTorch
  ReducePlan plan = plan_reduce(input, dims, keepdim, op);
  Tensor out;
  if (plan.inner == 0) {
    out = full(plan.out_shape, Scalar(-std::numeric_limits<double>::infinity()), input.dtype());
  } else {
    out = empty(plan.out_shape, input.dtype());
    if (plan.outer > 0) {
      bool columns = false;
      Tensor laid = reduce_layout(input, plan, true, &columns);
      dispatch_floating(input.dtype(), [&](auto tag) {
        using T = decltype(tag);
        logsumexp_kernel<T>(laid.data<T>(), out.data<T>(), plan.outer, plan.inner, columns);
      });
    }
  }
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<LogsumexpBackward>({&x})) {
      node->kept_shape = plan.kept_shape;
      node->x = autograd::SavedTensor(x);
      node->result = autograd::SavedTensor(reshape(detach(out), plan.kept_shape));
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace ember
