// optim::SGD, Adam, AdamW: validate hyperparameters, own the per-parameter state, and make one fused step call
// (ember/fused_optim.h) per step, with the same state layout and creation rules as python/ember/optim.
#include <cmath>
#include <set>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/optim.h"

namespace ember {
namespace optim {
namespace {

void check_non_negative(double value, const char* what, const char* name) {
  EMBER_CHECK(std::isfinite(value) && value >= 0.0, ValueError, name, ": invalid ", what, ": ", value);
}

}  // namespace

Optimizer::Optimizer(std::vector<Tensor> params, const char* name) : params_(std::move(params)), name_(name) {
  EMBER_CHECK(!params_.empty(), ValueError, name, ": optimizer got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    EMBER_CHECK(p.defined(), ValueError, name, ": params[", i, "] is undefined");
    EMBER_CHECK(is_floating(p.dtype()), TypeError, name, ": optimizer can only optimize float32 or float64 tensors, "
                "params[", i, "] is ", dtype_name(p.dtype()));
    EMBER_CHECK(p.is_leaf(), ValueError, name, ": can't optimize a non-leaf tensor (params[", i, "])");
    EMBER_CHECK(seen.insert(p.impl()).second, ValueError, name, ": params[", i, "] appears more than once");
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
      continue;
    }
    if (g.grad_fn()) {
      g = detach(g);
      p.set_grad(g);
    }
    autograd::GradModeGuard no_grad(false);
    zero_(g);
  }
}

std::vector<Tensor> Optimizer::current_grads() const {
  std::vector<Tensor> grads;
  grads.reserve(params_.size());
  for (const Tensor& p : params_) grads.push_back(p.grad());
  return grads;
}

SGD::SGD(std::vector<Tensor> params, const SgdOptions& options)
    : Optimizer(std::move(params), "SGD"), options_(options), momentum_buffers_(params_.size()) {
  check_non_negative(options.lr, "learning rate", name_);
  check_non_negative(options.momentum, "momentum value", name_);
  check_non_negative(options.weight_decay, "weight_decay value", name_);
  EMBER_CHECK(std::isfinite(options.dampening), ValueError, "SGD: invalid dampening: ", options.dampening);
  EMBER_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0), ValueError,
              "SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::set_lr(double lr) {   // finite: a scheduler may round a tiny bit below eta_min
  EMBER_CHECK(std::isfinite(lr), ValueError, name_, ": set_lr: the learning rate must be finite, got ", lr);
  options_.lr = lr;
}

void SGD::step() {
  std::vector<Tensor> no_buffers;
  sgd_step(params_, current_grads(), options_.momentum != 0 ? momentum_buffers_ : no_buffers, options_);
}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options) : Adam(std::move(params), options, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options, const char* name)
    : Optimizer(std::move(params), name), options_(options), steps_(params_.size()), exp_avgs_(params_.size()),
      exp_avg_sqs_(params_.size()), max_exp_avg_sqs_(options.amsgrad ? params_.size() : 0) {
  check_non_negative(options.lr, "learning rate", name_);
  check_non_negative(options.eps, "epsilon value", name_);
  check_non_negative(options.weight_decay, "weight_decay value", name_);
  EMBER_CHECK(options.beta1 >= 0.0 && options.beta1 < 1.0, ValueError, name_,
              ": invalid beta parameter at index 0: ", options.beta1);
  EMBER_CHECK(options.beta2 >= 0.0 && options.beta2 < 1.0, ValueError, name_,
              ": invalid beta parameter at index 1: ", options.beta2);
}

void Adam::set_lr(double lr) {   // finite: a scheduler may round a tiny bit below eta_min
  EMBER_CHECK(std::isfinite(lr), ValueError, name_, ": set_lr: the learning rate must be finite, got ", lr);
  options_.lr = lr;
}

void Adam::step() {
  std::vector<Tensor> grads = current_grads();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined() || steps_[i].defined()) continue;
    const Tensor& p = params_[i];   // first step with a gradient: the state, as Adam._init_state
    steps_[i] = zeros({}, DType::Float32);
    exp_avgs_[i] = zeros(p.shape(), p.dtype());
    exp_avg_sqs_[i] = zeros(p.shape(), p.dtype());
    if (options_.amsgrad) max_exp_avg_sqs_[i] = zeros(p.shape(), p.dtype());
  }
  adam_step(params_, grads, exp_avgs_, exp_avg_sqs_, max_exp_avg_sqs_, steps_, options_);
}

AdamOptions AdamW::defaults() {
  AdamOptions o;
  o.weight_decay = 1e-2;
  o.decoupled_weight_decay = true;
  return o;
}

namespace {
AdamOptions decoupled(AdamOptions o) {
  o.decoupled_weight_decay = true;
  return o;
}
}  // namespace

AdamW::AdamW(std::vector<Tensor> params, const AdamOptions& options)
    : Adam(std::move(params), decoupled(options), "AdamW") {}

}  // namespace optim
}  // namespace ember
