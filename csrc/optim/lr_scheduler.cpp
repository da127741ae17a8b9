// optim::CosineAnnealingLR: the recursive form of python/ember/optim/lr_scheduler.py (PyTorch's), operation for
// operation in double, so the lr sequence (and hence training) matches the Python scheduler bit for bit.
#include <cmath>

#include "ember/optim.h"

namespace ember {
namespace optim {

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : optimizer_(optimizer), T_max_(T_max), eta_min_(eta_min), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {
  EMBER_CHECK(T_max > 0, ValueError, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  EMBER_CHECK(std::isfinite(eta_min), ValueError, "CosineAnnealingLR: eta_min must be finite, got ", eta_min);
}

void CosineAnnealingLR::step() {
  const double pi = 3.141592653589793;   // math.pi
  const int64_t epoch = ++last_epoch_;
  const double T_max = static_cast<double>(T_max_), lr = optimizer_.lr();
  double next;
  if ((epoch - 1 - T_max_) % (2 * T_max_) == 0) {
    next = lr + (base_lr_ - eta_min_) * (1 - std::cos(pi / T_max)) / 2;
  } else {
    double ratio = (1 + std::cos(pi * static_cast<double>(epoch) / T_max)) /
                   (1 + std::cos(pi * static_cast<double>(epoch - 1) / T_max));
    next = ratio * (lr - eta_min_) + eta_min_;
  }
  optimizer_.set_lr(next);
  last_lr_ = next;
}

}  // namespace optim
}  // namespace ember
