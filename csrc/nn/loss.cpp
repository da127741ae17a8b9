// nn::CrossEntropyLoss and nn::MSELoss: modules whose forward takes (input, target).
#include "ember/nn.h"

namespace ember {
namespace nn {

CrossEntropyLoss::CrossEntropyLoss(Reduction reduction, int64_t ignore_index, double label_smoothing, Tensor weight)
    : reduction(reduction), ignore_index(ignore_index), label_smoothing(label_smoothing), weight(std::move(weight)) {
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError,
              "CrossEntropyLoss: label_smoothing must be in [0, 1], got ", label_smoothing);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  EMBER_CHECK(input.defined() && target.defined(), ValueError, "cross_entropy: input and target must be defined");
  return cross_entropy(input, target, weight, reduction, ignore_index, label_smoothing);
}

Tensor CrossEntropyLoss::operator()(const Tensor& input, const Tensor& target) {
  return run_hooks({input, target}, forward(input, target));
}

Tensor MSELoss::operator()(const Tensor& input, const Tensor& target) {
  return run_hooks({input, target}, forward(input, target));
}

}  // namespace nn
}  // namespace ember
