// Reference kernels of the elementwise binary cross-entropy, from probabilities (log clamped at -100, backward
// with PyTorch's 1e-12 floor) and from logits (softplus form: no overflow for any logit). Float and double.
#include <algorithm>
#include <cmath>

#include "kernels/nn.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

inline double clamped_log(double v) { return std::max(std::log(v), -100.0); }
// softplus(-x) = log(1 + exp(-x)), computed without overflow
inline double softplus_neg(double x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(-x, 0.0); }

}  // namespace

template <typename T>
void bce_forward(const T* x, const T* y, T* loss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i];
    loss[i] = static_cast<T>(-(yi * clamped_log(xi) + (1.0 - yi) * clamped_log(1.0 - xi)));
  }
}

template <typename T>
void bce_backward(const T* x, const T* y, const T* grad, T* grad_x, T* grad_y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i], g = grad[i];
    if (grad_x) grad_x[i] = static_cast<T>(g * (xi - yi) / std::max(xi * (1.0 - xi), 1e-12));
    if (grad_y) grad_y[i] = static_cast<T>(g * (clamped_log(1.0 - xi) - clamped_log(xi)));
  }
}

template <typename T>
void bce_logits_forward(const T* x, const T* y, const T* pos_weight, T* loss, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i], pw = pos_weight ? static_cast<double>(pos_weight[i]) : 1.0;
    loss[i] = static_cast<T>((1.0 - yi) * xi + (1.0 + (pw - 1.0) * yi) * softplus_neg(xi));
  }
}

template <typename T>
void bce_logits_backward(const T* x, const T* y, const T* pos_weight, const T* grad, T* grad_x, T* grad_y,
                         int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i], g = grad[i], pw = pos_weight ? static_cast<double>(pos_weight[i]) : 1.0;
    const double sig = xi >= 0 ? 1.0 / (1.0 + std::exp(-xi)) : std::exp(xi) / (1.0 + std::exp(xi));
    if (grad_x) grad_x[i] = static_cast<T>(g * (sig * (pw * yi + 1.0 - yi) - pw * yi));
    if (grad_y) grad_y[i] = static_cast<T>(g * ((pw - 1.0) * softplus_neg(xi) - xi));
  }
}

#define EMBER_BCE_INSTANTIATE(T)                                                       \
  template void bce_forward<T>(const T*, const T*, T*, int64_t);                       \
  template void bce_backward<T>(const T*, const T*, const T*, T*, T*, int64_t);        \
  template void bce_logits_forward<T>(const T*, const T*, const T*, T*, int64_t);      \
  template void bce_logits_backward<T>(const T*, const T*, const T*, const T*, T*, T*, int64_t);
EMBER_BCE_INSTANTIATE(float)
EMBER_BCE_INSTANTIATE(double)
#undef EMBER_BCE_INSTANTIATE

}  // namespace ref
}  // namespace kernels
}  // namespace ember
