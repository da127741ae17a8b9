// Scalar formulas shared by the generic (any dtype, any stride) elementwise paths and their backward passes.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

namespace ember {
namespace math {

template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T gelu(T x) { return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440))); }
template <typename T> inline T gelu_tanh(T x) {
  return T(0.5) * x * (T(1) + std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
}
template <typename T> inline T gelu_grad(T x) {
  return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))) + x * T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
}
template <typename T> inline T gelu_tanh_grad(T x) {
  T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
  T th = std::tanh(inner);
  return T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * x * x);
}
template <typename T> inline T silu_grad(T x) { T s = sigmoid(x); return s * (T(1) + x * (T(1) - s)); }
template <typename T> inline T nan_max(T a, T b) {
  if (a != a || b != b) return std::numeric_limits<T>::quiet_NaN();
  return a > b ? a : b;
}
template <typename T> inline T nan_min(T a, T b) {
  if (a != a || b != b) return std::numeric_limits<T>::quiet_NaN();
  return a < b ? a : b;
}
inline int64_t ipow(int64_t base, int64_t exp) {
  if (exp < 0) return base == 1 ? 1 : (base == -1 ? ((exp & 1) ? -1 : 1) : 0);
  int64_t r = 1;
  while (exp) { if (exp & 1) r *= base; base *= base; exp >>= 1; }
  return r;
}

}  // namespace math
}  // namespace ember
