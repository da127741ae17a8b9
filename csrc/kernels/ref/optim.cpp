// Scalar reference optimizer steps (float32 and float64): the test oracle of the SIMD versions and the float64
// path. Each line mirrors one in-place op of PyTorch's single-tensor implementation, in the same order.
#include <cmath>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

// PyTorch's lerp: start + weight * (end - start), or the mirrored form for weight >= 0.5.
template <typename T>
inline T lerp(T start, T end, T weight) {
  return std::abs(weight) < T(0.5) ? start + weight * (end - start) : end - (end - start) * (T(1) - weight);
}

// torch.maximum: NaN when either side is NaN.
template <typename T>
inline T maximum(T a, T b) {
  return (std::isnan(a) || std::isnan(b)) ? a + b : (a > b ? a : b);
}

template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdConfig& c) {
  const T lr = T(c.lr), momentum = T(c.momentum), weight_decay = T(c.weight_decay);
  const T one_minus_dampening = T(1 - c.dampening);
  for (int64_t i = 0; i < n; ++i) {
    T g = c.maximize ? -grad[i] : grad[i];
    if (c.weight_decay != 0) g = g + weight_decay * param[i];
    if (c.momentum != 0) {
      T buf = c.first_step ? g : momentum_buffer[i] * momentum + one_minus_dampening * g;
      momentum_buffer[i] = buf;
      g = c.nesterov ? g + momentum * buf : buf;
    }
    param[i] = param[i] + (-lr) * g;
  }
}

template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
               const AdamConfig& c) {
  const T weight_decay = T(c.weight_decay), decay_factor = T(1 - c.lr * c.weight_decay);
  const T one_minus_beta1 = T(1 - c.beta1), beta2 = T(c.beta2), one_minus_beta2 = T(1 - c.beta2);
  const T bias_correction2_sqrt = T(c.bias_correction2_sqrt), eps = T(c.eps), neg_step_size = T(-c.step_size);
  for (int64_t i = 0; i < n; ++i) {
    T g = c.maximize ? -grad[i] : grad[i];
    T p = param[i];
    if (c.weight_decay != 0) {
      if (c.decoupled_weight_decay) p = p * decay_factor;
      else g = g + weight_decay * p;
    }
    T m = lerp(exp_avg[i], g, one_minus_beta1);
    T v = exp_avg_sq[i] * beta2;
    v = v + one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if (c.amsgrad) {
      v = maximum(max_exp_avg_sq[i], v);
      max_exp_avg_sq[i] = v;
    }
    T denom = std::sqrt(v) / bias_correction2_sqrt + eps;
    param[i] = p + neg_step_size * (m / denom);
  }
}

template <typename T>
void adagrad_step(T* param, const T* grad, T* state_sum, int64_t n, const AdagradConfig& c) {
  const T weight_decay = T(c.weight_decay), eps = T(c.eps), neg_clr = T(-c.clr);
  for (int64_t i = 0; i < n; ++i) {
    T g = c.maximize ? -grad[i] : grad[i];
    if (c.weight_decay != 0) g = g + weight_decay * param[i];
    T sum = state_sum[i] + g * g;
    state_sum[i] = sum;
    T denom = std::sqrt(sum) + eps;
    param[i] = param[i] + neg_clr * (g / denom);
  }
}

template <typename T>
void rmsprop_step(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer, int64_t n,
                  const RmspropConfig& c) {
  const T weight_decay = T(c.weight_decay), alpha = T(c.alpha), one_minus_alpha = T(1 - c.alpha);
  const T eps = T(c.eps), momentum = T(c.momentum), neg_lr = T(-c.lr);
  for (int64_t i = 0; i < n; ++i) {
    T g = c.maximize ? -grad[i] : grad[i];
    if (c.weight_decay != 0) g = g + weight_decay * param[i];
    T sq = square_avg[i] * alpha;
    sq = sq + one_minus_alpha * g * g;
    square_avg[i] = sq;
    T avg;
    if (c.centered) {
      T ga = lerp(grad_avg[i], g, one_minus_alpha);
      grad_avg[i] = ga;
      avg = std::sqrt(sq + T(-1) * ga * ga);
    } else {
      avg = std::sqrt(sq);
    }
    avg = avg + eps;
    if (c.momentum > 0) {
      T buf = momentum_buffer[i] * momentum + g / avg;
      momentum_buffer[i] = buf;
      param[i] = param[i] + neg_lr * buf;
    } else {
      param[i] = param[i] + neg_lr * (g / avg);
    }
  }
}

}  // namespace

void sgd_step_f64(double* param, const double* grad, double* momentum_buffer, int64_t n, const SgdConfig& config) {
  sgd_step<double>(param, grad, momentum_buffer, n, config);
}
void adam_step_f64(double* param, const double* grad, double* exp_avg, double* exp_avg_sq, double* max_exp_avg_sq,
                   int64_t n, const AdamConfig& config) {
  adam_step<double>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, config);
}
void adagrad_step_f64(double* param, const double* grad, double* state_sum, int64_t n, const AdagradConfig& config) {
  adagrad_step<double>(param, grad, state_sum, n, config);
}
void rmsprop_step_f64(double* param, const double* grad, double* square_avg, double* grad_avg,
                      double* momentum_buffer, int64_t n, const RmspropConfig& config) {
  rmsprop_step<double>(param, grad, square_avg, grad_avg, momentum_buffer, n, config);
}

void fill_optim(Table& t) {
  t.sgd_step = sgd_step<float>;
  t.adam_step = adam_step<float>;
  t.adagrad_step = adagrad_step<float>;
  t.rmsprop_step = rmsprop_step<float>;
}

}  // namespace ref
}  // namespace kernels
}  // namespace ember
