// The elementwise loops shared by the x86 kernels: full vectors, then one masked tail (no scalar tail loop).
// Written against a vector layer S (avx2::Avx2 or avx512::Avx512); include only from kernels/x86_*.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {
namespace {

// y[i] = f(x[i]); x (n,) and y (n,) contiguous, may alias.
template <class S, class F>
inline void map_unary(const float* x, float* y, int64_t n, F f) {
  constexpr int W = S::kWidth;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    typename S::V a = S::load(x + i), b = S::load(x + i + W);
    S::store(y + i, f(a));
    S::store(y + i + W, f(b));
  }
  for (; i + W <= n; i += W) S::store(y + i, f(S::load(x + i)));
  if (i < n) {
    typename S::Tail t = S::tail(n - i);
    S::store_tail(y + i, t, f(S::load_tail(x + i, t)));
  }
}

// gx[i] = f(saved[i], gy[i]); saved, gy, gx (n,) contiguous.
template <class S, class F>
inline void map_backward(const float* saved, const float* gy, float* gx, int64_t n, F f) {
  constexpr int W = S::kWidth;
  int64_t i = 0;
  for (; i + W <= n; i += W) S::store(gx + i, f(S::load(saved + i), S::load(gy + i)));
  if (i < n) {
    typename S::Tail t = S::tail(n - i);
    S::store_tail(gx + i, t, f(S::load_tail(saved + i, t), S::load_tail(gy + i, t)));
  }
}

// out[i] = op(a[i*sa], b[i*sb]); sa, sb in {0, 1}; a, b, out (n,).
template <class S, class Op>
inline void map_binary(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
  using V = typename S::V;
  constexpr int W = S::kWidth;
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + 2 * W <= n; i += 2 * W) {
      V a0 = S::load(a + i), a1 = S::load(a + i + W), b0 = S::load(b + i), b1 = S::load(b + i + W);
      S::store(out + i, op(a0, b0));
      S::store(out + i + W, op(a1, b1));
    }
    for (; i + W <= n; i += W) S::store(out + i, op(S::load(a + i), S::load(b + i)));
    if (i < n) {
      typename S::Tail t = S::tail(n - i);
      S::store_tail(out + i, t, op(S::load_tail(a + i, t), S::load_tail(b + i, t)));
    }
  } else if (sa == 1) {
    const V vb = S::set1(b[0]);
    map_unary<S>(a, out, n, [&](V x) { return op(x, vb); });
  } else if (sb == 1) {
    const V va = S::set1(a[0]);
    map_unary<S>(b, out, n, [&](V y) { return op(va, y); });
  } else {
    const V v = op(S::set1(a[0]), S::set1(b[0]));
    for (; i + W <= n; i += W) S::store(out + i, v);
    if (i < n) S::store_tail(out + i, S::tail(n - i), v);
  }
}

}  // namespace
}  // namespace kernels
}  // namespace ember
