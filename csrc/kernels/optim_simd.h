// The float32 optimizer steps written once over a vector-register traits type V (x86_avx2/optim.cpp and
// x86_avx512/optim.cpp supply V and include this from their ISA-flagged files only). Same op order as
// ref/optim.cpp; full registers use plain loads, the tail uses masked loads/stores (no scalar tail loop).
// V provides: reg, mask, width, load/store (plain and masked), tail_mask(n), set1, add, sub, mul, div, sqrt,
// fmadd(a, b, c) = a * b + c, neg, maximum (NaN-propagating, as torch.maximum).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/optim.h"

namespace ember {
namespace kernels {
namespace simd_optim {

template <typename V>
struct FullLanes {
  typename V::reg load(const float* p) const { return V::load(p); }
  void store(float* p, typename V::reg x) const { V::store(p, x); }
};

template <typename V>
struct TailLanes {
  typename V::mask m;
  typename V::reg load(const float* p) const { return V::load(p, m); }
  void store(float* p, typename V::reg x) const { V::store(p, x, m); }
};

// Calls body(i, lanes) for each register-wide block of [0, n); the last partial block gets masked lanes.
template <typename V, typename Body>
inline void for_each_block(int64_t n, Body&& body) {
  int64_t i = 0;
  const FullLanes<V> full{};
  for (; i + V::width <= n; i += V::width) body(i, full);
  if (i < n) body(i, TailLanes<V>{V::tail_mask(n - i)});
}

// PyTorch's lerp for a scalar weight: start + w * (end - start) when |w| < 0.5, else end - (end - start) * (1 - w).
template <typename V>
inline typename V::reg lerp(typename V::reg start, typename V::reg end, float weight) {
  typename V::reg diff = V::sub(end, start);
  if (std::fabs(weight) < 0.5f) return V::fmadd(V::set1(weight), diff, start);
  return V::sub(end, V::mul(diff, V::set1(1.0f - weight)));
}

template <typename V>
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const SgdConfig& c) {
  const auto neg_lr = V::set1(-float(c.lr)), momentum = V::set1(float(c.momentum));
  const auto weight_decay = V::set1(float(c.weight_decay)), one_minus_dampening = V::set1(float(1 - c.dampening));
  for_each_block<V>(n, [&](int64_t i, const auto& lanes) {
    auto p = lanes.load(param + i);
    auto g = lanes.load(grad + i);
    if (c.maximize) g = V::neg(g);
    if (c.weight_decay != 0) g = V::fmadd(weight_decay, p, g);
    if (c.momentum != 0) {
      auto buf = c.first_step ? g : V::fmadd(one_minus_dampening, g, V::mul(lanes.load(momentum_buffer + i), momentum));
      lanes.store(momentum_buffer + i, buf);
      g = c.nesterov ? V::fmadd(momentum, buf, g) : buf;
    }
    lanes.store(param + i, V::fmadd(neg_lr, g, p));
  });
}

template <typename V>
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq, int64_t n,
               const AdamConfig& c) {
  const auto weight_decay = V::set1(float(c.weight_decay)), decay_factor = V::set1(float(1 - c.lr * c.weight_decay));
  const float one_minus_beta1 = float(1 - c.beta1);
  const auto beta2 = V::set1(float(c.beta2)), one_minus_beta2 = V::set1(float(1 - c.beta2));
  const auto bias_correction2_sqrt = V::set1(float(c.bias_correction2_sqrt)), eps = V::set1(float(c.eps));
  const auto neg_step_size = V::set1(float(-c.step_size));
  for_each_block<V>(n, [&](int64_t i, const auto& lanes) {
    auto p = lanes.load(param + i);
    auto g = lanes.load(grad + i);
    if (c.maximize) g = V::neg(g);
    if (c.weight_decay != 0) {
      if (c.decoupled_weight_decay) p = V::mul(p, decay_factor);
      else g = V::fmadd(weight_decay, p, g);
    }
    auto m = lerp<V>(lanes.load(exp_avg + i), g, one_minus_beta1);
    auto v = V::mul(lanes.load(exp_avg_sq + i), beta2);
    v = V::fmadd(V::mul(one_minus_beta2, g), g, v);
    lanes.store(exp_avg + i, m);
    lanes.store(exp_avg_sq + i, v);
    if (c.amsgrad) {
      v = V::maximum(lanes.load(max_exp_avg_sq + i), v);
      lanes.store(max_exp_avg_sq + i, v);
    }
    auto denom = V::add(V::div(V::sqrt(v), bias_correction2_sqrt), eps);
    lanes.store(param + i, V::fmadd(neg_step_size, V::div(m, denom), p));
  });
}

template <typename V>
void adagrad_step(float* param, const float* grad, float* state_sum, int64_t n, const AdagradConfig& c) {
  const auto weight_decay = V::set1(float(c.weight_decay)), eps = V::set1(float(c.eps));
  const auto neg_clr = V::set1(float(-c.clr));
  for_each_block<V>(n, [&](int64_t i, const auto& lanes) {
    auto p = lanes.load(param + i);
    auto g = lanes.load(grad + i);
    if (c.maximize) g = V::neg(g);
    if (c.weight_decay != 0) g = V::fmadd(weight_decay, p, g);
    auto sum = V::fmadd(g, g, lanes.load(state_sum + i));
    lanes.store(state_sum + i, sum);
    auto denom = V::add(V::sqrt(sum), eps);
    lanes.store(param + i, V::fmadd(neg_clr, V::div(g, denom), p));
  });
}

template <typename V>
void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buffer,
                  int64_t n, const RmspropConfig& c) {
  const auto weight_decay = V::set1(float(c.weight_decay)), alpha = V::set1(float(c.alpha));
  const float one_minus_alpha_scalar = float(1 - c.alpha);
  const auto one_minus_alpha = V::set1(one_minus_alpha_scalar), eps = V::set1(float(c.eps));
  const auto momentum = V::set1(float(c.momentum)), neg_lr = V::set1(float(-c.lr));
  for_each_block<V>(n, [&](int64_t i, const auto& lanes) {
    auto p = lanes.load(param + i);
    auto g = lanes.load(grad + i);
    if (c.maximize) g = V::neg(g);
    if (c.weight_decay != 0) g = V::fmadd(weight_decay, p, g);
    auto sq = V::mul(lanes.load(square_avg + i), alpha);
    sq = V::fmadd(V::mul(one_minus_alpha, g), g, sq);
    lanes.store(square_avg + i, sq);
    typename V::reg avg;
    if (c.centered) {
      auto ga = lerp<V>(lanes.load(grad_avg + i), g, one_minus_alpha_scalar);
      lanes.store(grad_avg + i, ga);
      avg = V::sqrt(V::sub(sq, V::mul(ga, ga)));
    } else {
      avg = V::sqrt(sq);
    }
    avg = V::add(avg, eps);
    if (c.momentum > 0) {
      auto buf = V::add(V::mul(lanes.load(momentum_buffer + i), momentum), V::div(g, avg));
      lanes.store(momentum_buffer + i, buf);
      lanes.store(param + i, V::fmadd(neg_lr, buf, p));
    } else {
      lanes.store(param + i, V::fmadd(neg_lr, V::div(g, avg), p));
    }
  });
}

template <typename V>
void fill(Table& t) {
  t.sgd_step = sgd_step<V>;
  t.adam_step = adam_step<V>;
  t.adagrad_step = adagrad_step<V>;
  t.rmsprop_step = rmsprop_step<V>;
}

}  // namespace simd_optim
}  // namespace kernels
}  // namespace ember
