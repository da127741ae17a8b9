// Scalar reference kernels: the portable fallback and the oracle that SIMD kernels are tested against.
#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/conv/pool.h"
#include "kernels/nn.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

template <typename Op>
void binary(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
}

#define EMBER_REF_BINARY(name, expr) \
  void name(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) { \
    binary(a, sa, b, sb, out, n, [](float x, float y) { return expr; }); }

EMBER_REF_BINARY(add, x + y)
EMBER_REF_BINARY(sub, x - y)
EMBER_REF_BINARY(mul, x * y)
EMBER_REF_BINARY(div, x / y)
EMBER_REF_BINARY(maximum, (x != x || y != y) ? std::numeric_limits<float>::quiet_NaN() : (x > y ? x : y))
EMBER_REF_BINARY(minimum, (x != x || y != y) ? std::numeric_limits<float>::quiet_NaN() : (x < y ? x : y))

constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

float gelu_one(float x) { return 0.5f * x * (1.0f + std::erf(x * kSqrt1_2)); }
float gelu_tanh_one(float x) {
  float inner = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(inner));
}
float sigmoid_one(float x) { return 1.0f / (1.0f + std::exp(-x)); }

#define EMBER_REF_UNARY(name, expr) \
  void name(const float* x_, float* y, int64_t n) { for (int64_t i = 0; i < n; ++i) { float x = x_[i]; y[i] = expr; } }

EMBER_REF_UNARY(neg, -x)
EMBER_REF_UNARY(exp, std::exp(x))
EMBER_REF_UNARY(log, std::log(x))
EMBER_REF_UNARY(sqrt, std::sqrt(x))
EMBER_REF_UNARY(rsqrt, 1.0f / std::sqrt(x))
EMBER_REF_UNARY(abs, std::fabs(x))
EMBER_REF_UNARY(tanh, std::tanh(x))
EMBER_REF_UNARY(sigmoid, sigmoid_one(x))
EMBER_REF_UNARY(relu, x > 0.0f ? x : (x != x ? x : 0.0f))
EMBER_REF_UNARY(gelu, gelu_one(x))
EMBER_REF_UNARY(gelu_tanh, gelu_tanh_one(x))
EMBER_REF_UNARY(silu, x * sigmoid_one(x))

#define EMBER_REF_BACKWARD(name, expr) \
  void name(const float* s_, const float* gy, float* gx, int64_t n) { \
    for (int64_t i = 0; i < n; ++i) { float s = s_[i]; gx[i] = gy[i] * (expr); } }

void relu_backward(const float* s, const float* gy, float* gx, int64_t n) {   // selects: 0 where s <= 0, else gy
  for (int64_t i = 0; i < n; ++i) gx[i] = s[i] <= 0.0f ? 0.0f : gy[i];
}
EMBER_REF_BACKWARD(gelu_backward, 0.5f * (1.0f + std::erf(s * kSqrt1_2)) + s * kInvSqrt2Pi * std::exp(-0.5f * s * s))
EMBER_REF_BACKWARD(gelu_tanh_backward, [](float x) {
  float inner = kSqrt2OverPi * (x + 0.044715f * x * x * x);
  float th = std::tanh(inner);
  float dinner = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * dinner;
}(s))
EMBER_REF_BACKWARD(silu_backward, [](float x) { float sg = sigmoid_one(x); return sg * (1.0f + x * (1.0f - sg)); }(s))
EMBER_REF_BACKWARD(sigmoid_backward, s * (1.0f - s))
EMBER_REF_BACKWARD(tanh_backward, 1.0f - s * s)

double sum(const float* x, int64_t n) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  return acc;
}

float max(const float* x, int64_t n) {
  float m = x[0];
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] != x[i]) return x[i];
    if (x[i] > m) m = x[i];
  }
  return m;
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = max(xr, cols);
    if (m == -std::numeric_limits<float>::infinity()) m = 0.0f;   // all -inf: exp gives 0/0 = nan, as PyTorch
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) { yr[c] = std::exp(xr[c] - m); s += yr[c]; }
    float inv = static_cast<float>(1.0 / s);
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
}

void log_softmax_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = max(xr, cols);
    if (m == -std::numeric_limits<float>::infinity()) m = 0.0f;
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += std::exp(xr[c] - m);
    float lse = m + static_cast<float>(std::log(s));
    for (int64_t c = 0; c < cols; ++c) yr[c] = xr[c] - lse;
  }
}

void logsumexp_rows(const float* x, float* lse, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float m = max(xr, cols);
    if (std::isinf(m) || std::isnan(m)) {
      lse[r] = m;
      continue;
    }
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += std::exp(xr[c] - m);
    lse[r] = m + static_cast<float>(std::log(s));
  }
}

void cross_entropy_grad_rows(const float* x, const float* lse, const float* scale, float offset, float* y,
                             int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = scale[r] * (std::exp(x[r * cols + c] - lse[r]) - offset);
}

double squared_distance(const float* a, const float* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    s += static_cast<double>(d * d);
  }
  return s;
}

void scaled_difference(const float* a, const float* b, float scale, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scale * (a[i] - b[i]);
}

// gx = y * (gy - sum(gy * y))
void softmax_backward_rows(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * cols, *gr = gy + r * cols;
    float* xr = gx + r * cols;
    double dot = 0.0;
    for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(gr[c]) * yr[c];
    for (int64_t c = 0; c < cols; ++c) xr[c] = yr[c] * (gr[c] - static_cast<float>(dot));
  }
}

// gx = gy - exp(y) * sum(gy)
void log_softmax_backward_rows(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y + r * cols, *gr = gy + r * cols;
    float* xr = gx + r * cols;
    double s = 0.0;
    for (int64_t c = 0; c < cols; ++c) s += gr[c];
    for (int64_t c = 0; c < cols; ++c) xr[c] = gr[c] - std::exp(yr[c]) * static_cast<float>(s);
  }
}

}  // namespace

void fill(Table& t) {
  t.add = add; t.sub = sub; t.mul = mul; t.div = div; t.maximum = maximum; t.minimum = minimum;
  t.neg = neg; t.exp = exp; t.log = log; t.sqrt = sqrt; t.rsqrt = rsqrt; t.abs = abs; t.tanh = tanh;
  t.sigmoid = sigmoid; t.relu = relu; t.gelu = gelu; t.gelu_tanh = gelu_tanh; t.silu = silu;
  t.relu_backward = relu_backward; t.gelu_backward = gelu_backward; t.gelu_tanh_backward = gelu_tanh_backward;
  t.silu_backward = silu_backward; t.sigmoid_backward = sigmoid_backward; t.tanh_backward = tanh_backward;
  t.sum = sum; t.max = max;
  t.softmax_rows = softmax_rows; t.log_softmax_rows = log_softmax_rows;
  t.softmax_backward_rows = softmax_backward_rows; t.log_softmax_backward_rows = log_softmax_backward_rows;
  t.logsumexp_rows = logsumexp_rows; t.cross_entropy_grad_rows = cross_entropy_grad_rows;
  t.squared_distance = squared_distance; t.scaled_difference = scaled_difference;
  t.bce_logits = ref::bce_logits_forward<float>; t.bce_logits_backward = ref::bce_logits_backward<float>;
  t.layer_norm_rows = ref::layer_norm_rows; t.layer_norm_backward_rows = ref::layer_norm_backward_rows;
  t.max_pool_2x2 = max_pool_2x2_plane;
}

}  // namespace ref
}  // namespace kernels
}  // namespace ember
