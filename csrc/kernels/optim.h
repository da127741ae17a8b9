// Optimizer-step kernels: one fused pass over (param, grad, state) of one contiguous tensor, in the exact
// order of PyTorch's single-tensor (default CPU) implementations. Hyperparameters arrive in double; the float32
// kernels round them to float first, as PyTorch's float ops do. No Tensor, no threads, no allocation here.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

struct SgdConfig {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  bool first_step = false;   // the momentum buffer is uninitialised: buf = grad (no dampening)
};

struct AdamConfig {
  double lr = 0, beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double step_size = 0;               // lr / (1 - beta1^step)
  double bias_correction2_sqrt = 0;   // sqrt(1 - beta2^step)
  bool amsgrad = false, maximize = false;
  bool decoupled_weight_decay = false;   // AdamW: param *= 1 - lr * weight_decay
};

struct AdagradConfig {
  double clr = 0;   // lr / (1 + (step - 1) * lr_decay)
  double weight_decay = 0, eps = 0;
  bool maximize = false;
};

struct RmspropConfig {
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};

// All pointers cover n contiguous elements of one tensor; param and state are updated in place.
// momentum_buffer is (n), ignored (may be null) when momentum == 0.
template <typename T>
using SgdStep = void (*)(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdConfig& config);
// max_exp_avg_sq is (n), ignored (may be null) unless amsgrad.
template <typename T>
using AdamStep = void (*)(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                          const AdamConfig& config);
template <typename T>
using AdagradStep = void (*)(T* param, const T* grad, T* state_sum, int64_t n, const AdagradConfig& config);
// grad_avg is (n), ignored unless centered; momentum_buffer is (n), ignored unless momentum > 0.
template <typename T>
using RmspropStep = void (*)(T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer, int64_t n,
                             const RmspropConfig& config);

// The float64 path: scalar reference kernels (compiler-vectorised), used at every SIMD level.
namespace ref {
void sgd_step_f64(double* param, const double* grad, double* momentum_buffer, int64_t n, const SgdConfig& config);
void adam_step_f64(double* param, const double* grad, double* exp_avg, double* exp_avg_sq, double* max_exp_avg_sq,
                   int64_t n, const AdamConfig& config);
void adagrad_step_f64(double* param, const double* grad, double* state_sum, int64_t n, const AdagradConfig& config);
void rmsprop_step_f64(double* param, const double* grad, double* square_avg, double* grad_avg,
                      double* momentum_buffer, int64_t n, const RmspropConfig& config);
}  // namespace ref

}  // namespace kernels
}  // namespace ember
