// Elementwise float32 kernels (binary, unary, activation backward) written once against a vector layer S;
// fill_elementwise<S> puts them in a kernel Table. Tails use masked loads/stores, never a scalar loop.
// Include only from kernels/x86_*; internal linkage keeps each ISA's instantiations apart.
#pragma once
#include <cstdint>

#include "kernels/kernels.h"
#include "kernels/x86_common/loops.h"
#include "kernels/x86_common/vec_math.h"

namespace ember {
namespace kernels {
namespace {

#define EMBER_X86_BINARY(name, ...)                                                               \
  template <class S>                                                                               \
  void name##_kernel(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) { \
    using V = typename S::V;                                                                       \
    map_binary<S>(a, sa, b, sb, out, n, [](V x, V y) { return __VA_ARGS__; });                            \
  }

EMBER_X86_BINARY(add, S::add(x, y))
EMBER_X86_BINARY(sub, S::sub(x, y))
EMBER_X86_BINARY(mul, S::mul(x, y))
EMBER_X86_BINARY(div, S::div(x, y))
// NaN in either operand gives NaN (the instructions alone would return the second operand).
EMBER_X86_BINARY(maximum, S::select(S::unordered(x, y), S::set1(__builtin_nanf("")), S::max_raw(x, y)))
EMBER_X86_BINARY(minimum, S::select(S::unordered(x, y), S::set1(__builtin_nanf("")), S::min_raw(x, y)))
#undef EMBER_X86_BINARY

constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluTanhCubic = 0.044715f;

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): returns the tanh; the inner polynomial's derivative in *dinner.
template <class S>
inline typename S::V gelu_tanh_inner_tanh(typename S::V x, typename S::V* dinner) {
  typename S::V x2 = S::mul(x, x);
  typename S::V c = S::set1(kGeluTanhCubic);
  typename S::V inner = S::mul(S::set1(kSqrt2OverPi), S::fmadd(S::mul(c, x2), x, x));
  if (dinner) *dinner = S::mul(S::set1(kSqrt2OverPi), S::fmadd(S::mul(S::set1(3.0f), c), x2, S::set1(1.0f)));
  return VecMath<S>::tanh(inner);
}

#define EMBER_X86_UNARY(name, ...)                                   \
  template <class S>                                                  \
  void name##_kernel(const float* x, float* y, int64_t n) {           \
    using V = typename S::V;                                          \
    using M = VecMath<S>;                                             \
    map_unary<S>(x, y, n, [](V v) { (void)sizeof(M); return __VA_ARGS__; }); \
  }

EMBER_X86_UNARY(neg, S::bits_xor(v, S::sign_bit()))
EMBER_X86_UNARY(exp, M::exp(v))
EMBER_X86_UNARY(log, M::log(v))
EMBER_X86_UNARY(sqrt, S::sqrt(v))
EMBER_X86_UNARY(rsqrt, S::div(S::set1(1.0f), S::sqrt(v)))
EMBER_X86_UNARY(abs, S::abs(v))
EMBER_X86_UNARY(tanh, M::tanh(v))
EMBER_X86_UNARY(sigmoid, M::sigmoid(v))
// max gives +0 for x <= 0 (also for -0, as the reference) and for NaN, which is then put back.
EMBER_X86_UNARY(relu, S::select(S::unordered(v, v), v, S::max_raw(v, S::zero())))
EMBER_X86_UNARY(gelu, [](V x) {
  V e;
  V cdf2 = M::one_plus_erf(S::mul(x, S::set1(kSqrt1_2)), &e);
  return S::mul(S::mul(S::set1(0.5f), x), cdf2);
}(v))
EMBER_X86_UNARY(gelu_tanh, [](V x) {
  V th = gelu_tanh_inner_tanh<S>(x, nullptr);
  return S::mul(S::mul(S::set1(0.5f), x), S::add(S::set1(1.0f), th));
}(v))
EMBER_X86_UNARY(silu, S::mul(v, M::sigmoid(v)))
#undef EMBER_X86_UNARY

#define EMBER_X86_BACKWARD(name, ...)                                                    \
  template <class S>                                                                      \
  void name##_kernel(const float* saved, const float* gy, float* gx, int64_t n) {         \
    using V = typename S::V;                                                              \
    using M = VecMath<S>;                                                                 \
    map_backward<S>(saved, gy, gx, n, [](V s, V g) { (void)sizeof(M); return S::mul(g, __VA_ARGS__); }); \
  }

// saved = x (or the ReLU's output). ReLU selects rather than multiplies, as torch's threshold_backward: gx = 0
// where x <= 0 (also for an inf or NaN gy), else gy (also where x is NaN).
template <class S>
void relu_backward_kernel(const float* saved, const float* gy, float* gx, int64_t n) {
  using V = typename S::V;
  map_backward<S>(saved, gy, gx, n,
                  [](V s, V g) { return S::select(S::unordered(s, s), g, S::zero_unless(S::gt(s, S::zero()), g)); });
}
EMBER_X86_BACKWARD(gelu_backward, [](V x) {
  V e;   // e^{-x^2/2}
  V cdf2 = M::one_plus_erf(S::mul(x, S::set1(kSqrt1_2)), &e);
  return S::fmadd(S::mul(x, S::set1(kInvSqrt2Pi)), e, S::mul(S::set1(0.5f), cdf2));
}(s))
EMBER_X86_BACKWARD(gelu_tanh_backward, [](V x) {
  V dinner;
  V th = gelu_tanh_inner_tanh<S>(x, &dinner);
  V one = S::set1(1.0f), half = S::set1(0.5f);
  V sech2 = S::fnmadd(th, th, one);
  return S::fmadd(S::mul(S::mul(half, x), sech2), dinner, S::mul(half, S::add(one, th)));
}(s))
EMBER_X86_BACKWARD(silu_backward, [](V x) {
  V sg = M::sigmoid(x);
  V one = S::set1(1.0f);
  return S::mul(sg, S::fmadd(x, S::sub(one, sg), one));
}(s))
// saved = y
EMBER_X86_BACKWARD(sigmoid_backward, S::mul(s, S::sub(S::set1(1.0f), s)))
EMBER_X86_BACKWARD(tanh_backward, S::fnmadd(s, s, S::set1(1.0f)))
#undef EMBER_X86_BACKWARD

// log(1 + e^-|x|), the shared part of softplus(x) and softplus(-x) (each adds max(+-x, 0)); log1p(z) =
// log(u) z / (u - 1), u = 1 + z (exact also where z is below float's epsilon and u rounds to 1).
template <class S>
inline typename S::V log1p_exp_neg_abs(typename S::V x) {
  using M = VecMath<S>;
  const typename S::V z = M::exp(S::bits_xor(S::abs(x), S::sign_bit())), u = S::add(S::set1(1.0f), z);
  const typename S::V um1 = S::sub(u, S::set1(1.0f));
  return S::select(S::eq(um1, S::zero()), z, S::mul(M::log(u), S::div(z, um1)));
}

// Loads element i.. of p (a full vector, or the tail t), or `fallback` when p is null.
template <class S>
inline typename S::V load_or(const float* p, int64_t i, const typename S::Tail* t, typename S::V fallback) {
  if (!p) return fallback;
  return t ? S::load_tail(p + i, *t) : S::load(p + i);
}

template <class S>
void bce_logits_kernel(const float* x, const float* y, const float* pos_weight, float* loss, int64_t n) {
  using V = typename S::V;
  const V one = S::set1(1.0f);
  auto at = [&](int64_t i, const typename S::Tail* t) {
    const V xv = load_or<S>(x, i, t, one), yv = load_or<S>(y, i, t, one), pw = load_or<S>(pos_weight, i, t, one);
    // (1 - y) softplus(x) + pw y softplus(-x): the reference's (1 - y) x + (1 + (pw - 1) y) softplus(-x) without
    // its cancellation (x = -20, y = 0 is 2e-9, not -20 + 20)
    const V shared = log1p_exp_neg_abs<S>(xv);
    const V sp = S::add(shared, S::max_raw(S::zero(), xv));
    const V sp_neg = S::add(shared, S::max_raw(S::zero(), S::bits_xor(xv, S::sign_bit())));
    return S::fmadd(S::mul(pw, yv), sp_neg, S::mul(S::sub(one, yv), sp));
  };
  int64_t i = 0;
  for (; i + S::kWidth <= n; i += S::kWidth) S::store(loss + i, at(i, nullptr));
  if (i < n) {
    const typename S::Tail t = S::tail(n - i);
    S::store_tail(loss + i, t, at(i, &t));
  }
}

template <class S>
void bce_logits_backward_kernel(const float* x, const float* y, const float* pos_weight, const float* g,
                                float* grad_x, float* grad_y, int64_t n) {
  using V = typename S::V;
  const V one = S::set1(1.0f);
  auto step = [&](int64_t i, const typename S::Tail* t) {
    const V xv = load_or<S>(x, i, t, one), yv = load_or<S>(y, i, t, one), pw = load_or<S>(pos_weight, i, t, one);
    const V gv = load_or<S>(g, i, t, one), pwy = S::mul(pw, yv);
    if (grad_x) {
      // (1 - y) sigmoid(x) - pw y sigmoid(-x), the reference's sigmoid(x) (pw y + 1 - y) - pw y without its
      // cancellation; both sigmoids from one e^-|x|: 1 / (1 + e) on the side of x's sign, e / (1 + e) on the other
      const V e = VecMath<S>::exp(S::bits_xor(S::abs(xv), S::sign_bit()));
      const V d = S::div(one, S::add(one, e)), ed = S::mul(e, d);
      const typename S::Mask negative = S::lt(xv, S::zero());
      const V sig = S::select(negative, ed, d), sig_neg = S::select(negative, d, ed);
      const V v = S::mul(gv, S::fnmadd(pwy, sig_neg, S::mul(S::sub(one, yv), sig)));
      t ? S::store_tail(grad_x + i, *t, v) : S::store(grad_x + i, v);
    }
    if (grad_y) {
      const V sp_neg = S::add(log1p_exp_neg_abs<S>(xv), S::max_raw(S::zero(), S::bits_xor(xv, S::sign_bit())));
      const V v = S::mul(gv, S::sub(S::mul(S::sub(pw, one), sp_neg), xv));
      t ? S::store_tail(grad_y + i, *t, v) : S::store(grad_y + i, v);
    }
  };
  int64_t i = 0;
  for (; i + S::kWidth <= n; i += S::kWidth) step(i, nullptr);
  if (i < n) {
    const typename S::Tail t = S::tail(n - i);
    step(i, &t);
  }
}

template <class S>
void fill_elementwise(Table& t) {
  t.add = add_kernel<S>; t.sub = sub_kernel<S>; t.mul = mul_kernel<S>; t.div = div_kernel<S>;
  t.maximum = maximum_kernel<S>; t.minimum = minimum_kernel<S>;
  t.neg = neg_kernel<S>; t.exp = exp_kernel<S>; t.log = log_kernel<S>; t.sqrt = sqrt_kernel<S>;
  t.rsqrt = rsqrt_kernel<S>; t.abs = abs_kernel<S>; t.tanh = tanh_kernel<S>; t.sigmoid = sigmoid_kernel<S>;
  t.relu = relu_kernel<S>; t.gelu = gelu_kernel<S>; t.gelu_tanh = gelu_tanh_kernel<S>; t.silu = silu_kernel<S>;
  t.relu_backward = relu_backward_kernel<S>; t.gelu_backward = gelu_backward_kernel<S>;
  t.gelu_tanh_backward = gelu_tanh_backward_kernel<S>; t.silu_backward = silu_backward_kernel<S>;
  t.sigmoid_backward = sigmoid_backward_kernel<S>; t.tanh_backward = tanh_backward_kernel<S>;
  t.bce_logits = bce_logits_kernel<S>; t.bce_logits_backward = bce_logits_backward_kernel<S>;
}

}  // namespace
}  // namespace kernels
}  // namespace ember
