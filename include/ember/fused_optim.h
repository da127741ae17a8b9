// Fused optimizer steps: each call updates a whole parameter group in place, one pass over (param, grad, state)
// per tensor, parallel over chunks of all tensors. `isa` picks a kernel level for tests ("" = the active one,
// "ref" / "avx2" / "avx512"). No autograd: parameters are written directly and their
// version counters bumped, as PyTorch's in-place ops do. Entries whose grad is undefined are skipped.
#pragma once
#include <string>
#include <vector>

#include "ember/tensor.h"

namespace ember {

struct SgdOptions {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false;
  bool decoupled_weight_decay = false;   // AdamW
};

struct AdagradOptions {
  double lr = 1e-2, lr_decay = 0, weight_decay = 0, eps = 1e-10;
  bool maximize = false;
};

struct RmspropOptions {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};

// momentum_buffers: one per param (unused when momentum == 0); an undefined entry whose param has a gradient
// is created (buf = grad, PyTorch's first step).
void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<Tensor>& momentum_buffers, const SgdOptions& options,
              const std::string& isa = "");

// state_steps: one-element float tensors, incremented in place before use (PyTorch's state['step']).
// max_exp_avg_sqs is used only when amsgrad.
void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<Tensor>& state_steps,
               const AdamOptions& options, const std::string& isa = "");

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& state_sums, const std::vector<Tensor>& state_steps,
                  const AdagradOptions& options, const std::string& isa = "");

// grad_avgs are used only when centered, momentum_buffers only when momentum > 0.
void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                  const std::vector<Tensor>& momentum_buffers, const std::vector<Tensor>& state_steps,
                  const RmspropOptions& options, const std::string& isa = "");

}  // namespace ember
