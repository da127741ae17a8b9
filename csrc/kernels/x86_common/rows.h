// Reductions (sum, max) and row-wise softmax / log-softmax with their backward, written once against a vector
// layer S; fill_rows<S> puts them in a kernel Table. Sums are accurate: float lanes over blocks of at most
// kSumBlock elements, each block's lanes then added into double lanes, so long sums do not drift.
// Include only from kernels/x86_*; internal linkage keeps each ISA's instantiations apart.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/x86_common/loops.h"
#include "kernels/x86_common/vec_math.h"

namespace ember {
namespace kernels {
namespace {

constexpr int64_t kSumBlock = 2048;   // elements per float-accumulated block (<= 32 adds per lane)

// Sum over i < n of term(i) (a full vector at offset i) and, for the last n % W, tail_term(i, tail) (off lanes
// must be 0). Four float accumulators per block, flushed to double lanes.
template <class S, class Term, class TailTerm>
inline double accurate_sum(int64_t n, Term term, TailTerm tail_term) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  typename S::DoubleSum total = S::double_zero();
  int64_t i = 0;
  while (i < n) {
    int64_t block_end = n - i > kSumBlock ? i + kSumBlock : n;
    V a0 = S::zero(), a1 = S::zero(), a2 = S::zero(), a3 = S::zero();
    for (; i + 4 * W <= block_end; i += 4 * W) {
      a0 = S::add(a0, term(i));
      a1 = S::add(a1, term(i + W));
      a2 = S::add(a2, term(i + 2 * W));
      a3 = S::add(a3, term(i + 3 * W));
    }
    for (; i + W <= block_end; i += W) a0 = S::add(a0, term(i));
    if (i < block_end) {
      a1 = S::add(a1, tail_term(i, S::tail(block_end - i)));
      i = block_end;
    }
    S::accumulate(total, S::add(S::add(a0, a1), S::add(a2, a3)));
  }
  return S::reduce(total);
}

// sum of x (n,)
template <class S>
double sum_kernel(const float* x, int64_t n) {
  return accurate_sum<S>(n, [&](int64_t i) { return S::load(x + i); },
                         [&](int64_t i, typename S::Tail t) { return S::load_tail(x + i, t); });
}

// max of x (n,), n >= 1; the first NaN is returned if there is one (as the reference).
template <class S>
float max_kernel(const float* x, int64_t n) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const V minus_inf = S::set1(-std::numeric_limits<float>::infinity());
  V m0 = minus_inf, m1 = minus_inf, m2 = minus_inf, m3 = minus_inf;   // four chains hide max's latency
  typename S::Mask nan0 = S::unordered(S::zero(), S::zero()), nan1 = nan0;   // all false
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    V a = S::load(x + i), b = S::load(x + i + W), c = S::load(x + i + 2 * W), d = S::load(x + i + 3 * W);
    m0 = S::max_raw(m0, a);
    m1 = S::max_raw(m1, b);
    m2 = S::max_raw(m2, c);
    m3 = S::max_raw(m3, d);
    nan0 = S::mask_or(nan0, S::mask_or(S::unordered(a, a), S::unordered(b, b)));
    nan1 = S::mask_or(nan1, S::mask_or(S::unordered(c, c), S::unordered(d, d)));
  }
  for (; i + W <= n; i += W) {
    V a = S::load(x + i);
    m0 = S::max_raw(m0, a);
    nan0 = S::mask_or(nan0, S::unordered(a, a));
  }
  if (i < n) {
    typename S::Tail t = S::tail(n - i);
    V a = S::fill_off_lanes(S::load_tail(x + i, t), t, minus_inf);
    m1 = S::max_raw(m1, a);
    nan1 = S::mask_or(nan1, S::unordered(a, a));
  }
  m0 = S::max_raw(m0, m2);
  m1 = S::max_raw(m1, m3);
  if (S::any(S::mask_or(nan0, nan1))) {
    for (int64_t j = 0; j < n; ++j)
      if (x[j] != x[j]) return x[j];
  }
  return S::reduce_max_raw(S::max_raw(m0, m1));
}

// The shift for a row's exp: its max, or 0 for an all -inf row (whose softmax is then 0/0 = NaN, as PyTorch).
template <class S>
inline float softmax_shift(const float* row, int64_t cols) {
  float m = max_kernel<S>(row, cols);
  return m == -std::numeric_limits<float>::infinity() ? 0.0f : m;
}

// y = softmax(x) along each row; x, y (rows, cols) contiguous, may alias.
template <class S>
void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t cols) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const V shift = S::set1(softmax_shift<S>(xr, cols));
    double total = accurate_sum<S>(
        cols,
        [&](int64_t i) {
          V e = VecMath<S>::exp(S::sub(S::load(xr + i), shift));
          S::store(yr + i, e);
          return e;
        },
        [&](int64_t i, typename S::Tail t) {
          V e = VecMath<S>::exp(S::sub(S::load_tail(xr + i, t), shift));
          S::store_tail(yr + i, t, e);
          return S::fill_off_lanes(e, t, S::zero());
        });
    const V inverse = S::set1(static_cast<float>(1.0 / total));
    map_unary<S>(yr, yr, cols, [&](V v) { return S::mul(v, inverse); });
  }
}

// y = log_softmax(x) along each row; x, y (rows, cols) contiguous, may alias.
template <class S>
void log_softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t cols) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float shift_value = softmax_shift<S>(xr, cols);
    const V shift = S::set1(shift_value);
    double total = accurate_sum<S>(
        cols, [&](int64_t i) { return VecMath<S>::exp(S::sub(S::load(xr + i), shift)); },
        [&](int64_t i, typename S::Tail t) {
          V e = VecMath<S>::exp(S::sub(S::load_tail(xr + i, t), shift));
          return S::fill_off_lanes(e, t, S::zero());
        });
    const V log_sum_exp = S::set1(shift_value + static_cast<float>(std::log(total)));
    map_unary<S>(xr, yr, cols, [&](V v) { return S::sub(v, log_sum_exp); });
  }
}

// lse = log(sum(exp(x))) per row (kernels.h: LogsumexpRowsF32).
template <class S>
void logsumexp_rows_kernel(const float* x, float* lse, int64_t rows, int64_t cols) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float m = max_kernel<S>(xr, cols);
    if (std::isinf(m) || std::isnan(m)) {
      lse[r] = m;
      continue;
    }
    const V shift = S::set1(m);
    const double total = accurate_sum<S>(
        cols, [&](int64_t i) { return VecMath<S>::exp(S::sub(S::load(xr + i), shift)); },
        [&](int64_t i, typename S::Tail t) {
          return S::fill_off_lanes(VecMath<S>::exp(S::sub(S::load_tail(xr + i, t), shift)), t, S::zero());
        });
    lse[r] = m + static_cast<float>(std::log(total));
  }
}

// sum of (a - b)^2 over n (the MSE loss).
template <class S>
double squared_distance_kernel(const float* a, const float* b, int64_t n) {
  using V = typename S::V;
  return accurate_sum<S>(
      n, [&](int64_t i) { V d = S::sub(S::load(a + i), S::load(b + i)); return S::mul(d, d); },
      [&](int64_t i, typename S::Tail t) {
        V d = S::sub(S::load_tail(a + i, t), S::load_tail(b + i, t));
        return S::fill_off_lanes(S::mul(d, d), t, S::zero());
      });
}

// out = scale * (a - b) over n (the MSE gradient).
template <class S>
void scaled_difference_kernel(const float* a, const float* b, float scale, float* out, int64_t n) {
  using V = typename S::V;
  const V s = S::set1(scale);
  int64_t i = 0;
  for (; i + S::kWidth <= n; i += S::kWidth) S::store(out + i, S::mul(s, S::sub(S::load(a + i), S::load(b + i))));
  if (i < n) {
    const auto t = S::tail(n - i);
    S::store_tail(out + i, t, S::mul(s, S::sub(S::load_tail(a + i, t), S::load_tail(b + i, t))));
  }
}

// y = scale * (exp(x - lse) - offset) per row (kernels.h: CrossEntropyGradRowsF32).
template <class S>
void cross_entropy_grad_rows_kernel(const float* x, const float* lse, const float* scale, float offset, float* y,
                                    int64_t rows, int64_t cols) {
  using V = typename S::V;
  const V off = S::set1(offset);
  for (int64_t r = 0; r < rows; ++r) {
    const V shift = S::set1(lse[r]), factor = S::set1(scale[r]);
    map_unary<S>(x + r * cols, y + r * cols, cols,
                 [&](V v) { return S::mul(factor, S::sub(VecMath<S>::exp(S::sub(v, shift)), off)); });
  }
}

// gx = y * (gy - sum(gy * y)) per row; y, gy, gx (rows, cols) contiguous; y = softmax output.
template <class S>
void softmax_backward_rows_kernel(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * cols, *gr = gy + r * cols;
    double dot = accurate_sum<S>(
        cols, [&](int64_t i) { return S::mul(S::load(gr + i), S::load(yr + i)); },
        [&](int64_t i, typename S::Tail t) { return S::mul(S::load_tail(gr + i, t), S::load_tail(yr + i, t)); });
    const V dot_v = S::set1(static_cast<float>(dot));
    map_backward<S>(yr, gr, gx + r * cols, cols, [&](V s, V g) { return S::mul(s, S::sub(g, dot_v)); });
  }
}

// gx = gy - exp(y) * sum(gy) per row; y, gy, gx (rows, cols) contiguous; y = log_softmax output.
template <class S>
void log_softmax_backward_rows_kernel(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * cols, *gr = gy + r * cols;
    const V total = S::set1(static_cast<float>(sum_kernel<S>(gr, cols)));
    map_backward<S>(yr, gr, gx + r * cols, cols,
                    [&](V s, V g) { return S::fnmadd(VecMath<S>::exp(s), total, g); });
  }
}

// Layer norm of each row: mean, then the centred variance (accurate sums), then
// y = (x - mean) * rstd * weight + bias; weight, bias (cols) or null; saves mean and rstd (rows).
template <class S>
void layer_norm_rows_kernel(const float* x, const float* weight, const float* bias, float* y, float* mean,
                            float* rstd, int64_t rows, int64_t cols, double eps) {
  using V = typename S::V;
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double mu = cols > 0 ? sum_kernel<S>(xr, cols) / static_cast<double>(cols) : 0.0;
    const V mu_v = S::set1(static_cast<float>(mu));
    const double squares = accurate_sum<S>(
        cols, [&](int64_t i) { V d = S::sub(S::load(xr + i), mu_v); return S::mul(d, d); },
        [&](int64_t i, typename S::Tail t) {
          V d = S::fill_off_lanes(S::sub(S::load_tail(xr + i, t), mu_v), t, S::zero());
          return S::mul(d, d);
        });
    const double inv = 1.0 / std::sqrt((cols > 0 ? squares / static_cast<double>(cols) : 0.0) + eps);
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(inv);
    const V inv_v = S::set1(static_cast<float>(inv)), one = S::set1(1.0f);
    auto normalise = [&](V v, V w, V b) { return S::fmadd(S::mul(S::sub(v, mu_v), inv_v), w, b); };
    int64_t c = 0;
    for (; c + S::kWidth <= cols; c += S::kWidth)
      S::store(yr + c, normalise(S::load(xr + c), weight ? S::load(weight + c) : one,
                                 bias ? S::load(bias + c) : S::zero()));
    if (c < cols) {
      const auto t = S::tail(cols - c);
      S::store_tail(yr + c, t, normalise(S::load_tail(xr + c, t), weight ? S::load_tail(weight + c, t) : one,
                                         bias ? S::load_tail(bias + c, t) : S::zero()));
    }
  }
}

// Layer-norm backward of each row: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = gy * weight,
// xhat = (x - mean) * rstd; partial_w += gy * xhat and partial_b += gy (cols each, or null: not wanted);
// gx may be null.
template <class S>
void layer_norm_backward_rows_kernel(const float* x, const float* gy, const float* mean, const float* rstd,
                                     const float* weight, float* gx, float* partial_w, float* partial_b,
                                     int64_t rows, int64_t cols) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  const V one = S::set1(1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * cols, *gr = gy + r * cols;
    const V mu = S::set1(mean[r]), inv = S::set1(rstd[r]);
    // One pass: the two row sums (float lanes, then double) and the parameter partials.
    V sum_g = S::zero(), sum_gx = S::zero();
    typename S::DoubleSum total_g = S::double_zero(), total_gx = S::double_zero();
    auto step = [&](V xv, V g_in, V w) {
      const V xhat = S::mul(S::sub(xv, mu), inv), g = S::mul(g_in, w);
      sum_g = S::add(sum_g, g);
      sum_gx = S::fmadd(g, xhat, sum_gx);
      return xhat;
    };
    int64_t c = 0;
    for (; c + W <= cols; c += W) {
      const V g_in = S::load(gr + c);
      const V xhat = step(S::load(xr + c), g_in, weight ? S::load(weight + c) : one);
      if (partial_w) S::store(partial_w + c, S::fmadd(g_in, xhat, S::load(partial_w + c)));
      if (partial_b) S::store(partial_b + c, S::add(S::load(partial_b + c), g_in));
      if ((c / W) % 64 == 63) {   // flush the float lanes to double every 64 vectors
        S::accumulate(total_g, sum_g);
        S::accumulate(total_gx, sum_gx);
        sum_g = S::zero();
        sum_gx = S::zero();
      }
    }
    if (c < cols) {
      const auto t = S::tail(cols - c);
      const V g_in = S::load_tail(gr + c, t);   // off lanes 0, so they add nothing
      const V xhat = step(S::load_tail(xr + c, t), g_in, weight ? S::load_tail(weight + c, t) : one);
      if (partial_w) S::store_tail(partial_w + c, t, S::fmadd(g_in, xhat, S::load_tail(partial_w + c, t)));
      if (partial_b) S::store_tail(partial_b + c, t, S::add(S::load_tail(partial_b + c, t), g_in));
    }
    S::accumulate(total_g, sum_g);
    S::accumulate(total_gx, sum_gx);
    if (!gx) continue;
    const V mean_g = S::set1(static_cast<float>(S::reduce(total_g) / static_cast<double>(cols)));
    const V mean_gx = S::set1(static_cast<float>(S::reduce(total_gx) / static_cast<double>(cols)));
    float* out = gx + r * cols;
    auto grad = [&](V xv, V g_in, V w) {
      const V xhat = S::mul(S::sub(xv, mu), inv);
      return S::mul(inv, S::sub(S::sub(S::mul(g_in, w), mean_g), S::mul(xhat, mean_gx)));
    };
    for (c = 0; c + W <= cols; c += W)
      S::store(out + c, grad(S::load(xr + c), S::load(gr + c), weight ? S::load(weight + c) : one));
    if (c < cols) {
      const auto t = S::tail(cols - c);
      S::store_tail(out + c, t, grad(S::load_tail(xr + c, t), S::load_tail(gr + c, t),
                                     weight ? S::load_tail(weight + c, t) : one));
    }
  }
}

template <class S>
void fill_rows(Table& t) {
  t.layer_norm_rows = layer_norm_rows_kernel<S>;
  t.layer_norm_backward_rows = layer_norm_backward_rows_kernel<S>;
  t.sum = sum_kernel<S>;
  t.max = max_kernel<S>;
  t.softmax_rows = softmax_rows_kernel<S>;
  t.log_softmax_rows = log_softmax_rows_kernel<S>;
  t.softmax_backward_rows = softmax_backward_rows_kernel<S>;
  t.log_softmax_backward_rows = log_softmax_backward_rows_kernel<S>;
  t.logsumexp_rows = logsumexp_rows_kernel<S>;
  t.cross_entropy_grad_rows = cross_entropy_grad_rows_kernel<S>;
  t.squared_distance = squared_distance_kernel<S>;
  t.scaled_difference = scaled_difference_kernel<S>;
}

}  // namespace
}  // namespace kernels
}  // namespace ember
