// ember::optim, the C++ optimizers: SGD, Adam and AdamW over one parameter group, each step one fused call from
// ember/fused_optim.h (the same kernels python/ember/optim uses, so updates match bit for bit), plus
// CosineAnnealingLR with the recursive formula of python/ember/optim/lr_scheduler.py.
// Implementations: csrc/optim/optimizers.cpp, csrc/optim/lr_scheduler.cpp.
#pragma once
#include <vector>

#include "ember/fused_optim.h"

namespace ember {
namespace optim {

// One parameter group: float32/float64 leaf tensors, each at most once. Parameters without a gradient are skipped.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  // Resets the gradients: to undefined (the default, as PyTorch) or to zeros in place.
  void zero_grad(bool set_to_none = true);
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  Optimizer(std::vector<Tensor> params, const char* name);
  std::vector<Tensor> current_grads() const;
  std::vector<Tensor> params_;
  const char* name_;
};

// SGD with momentum, dampening, Nesterov, weight decay and maximize (see fused_optim.h and optim/sgd.py).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SgdOptions& options);
  void step() override;
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  const SgdOptions& options() const { return options_; }
  const std::vector<Tensor>& momentum_buffers() const { return momentum_buffers_; }

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_buffers_;   // one per parameter, created by its first step (buf = grad)
};

// Adam (options.decoupled_weight_decay = false) or AdamW (true). State is created for a parameter by its first
// step with a gradient: step (a float32 scalar), exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options = AdamOptions());
  void step() override;
  double lr() const override { return options_.lr; }
  void set_lr(double lr) override;
  const AdamOptions& options() const { return options_; }
  const std::vector<Tensor>& exp_avgs() const { return exp_avgs_; }
  const std::vector<Tensor>& exp_avg_sqs() const { return exp_avg_sqs_; }
  const std::vector<Tensor>& state_steps() const { return steps_; }

 protected:
  Adam(std::vector<Tensor> params, const AdamOptions& options, const char* name);

 private:
  AdamOptions options_;
  std::vector<Tensor> steps_, exp_avgs_, exp_avg_sqs_, max_exp_avg_sqs_;
};

// Adam with decoupled weight decay: param *= 1 - lr * weight_decay before the Adam update.
class AdamW : public Adam {
 public:
  // PyTorch's AdamW defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
  static AdamOptions defaults();
  // options.decoupled_weight_decay is forced to true.
  explicit AdamW(std::vector<Tensor> params, const AdamOptions& options = defaults());
};

// lr from base_lr (the optimizer's lr at construction) down to eta_min over T_max epochs, and back up
// periodically past T_max, in PyTorch's recursive form. Call step() once per epoch, after the optimizer's steps.
class CosineAnnealingLR {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  void step();
  double get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }

 private:
  Optimizer& optimizer_;
  int64_t T_max_;
  double eta_min_, base_lr_, last_lr_;
  int64_t last_epoch_ = 0;
};

}  // namespace optim
}  // namespace ember
