// nn::init and the composite functional ops (dropout, mse_loss). Each initialiser runs the same ops as its Python
// twin (python/ember/nn/_init_helpers.py, init.py) in the same order, so the same seed gives the same bits.
#include <cmath>

#include "ember/nn.h"
#include "ember/node.h"

namespace ember {
namespace nn {
namespace init {
namespace {

void check_floating(const Tensor& tensor, const char* op) {
  EMBER_CHECK(tensor.defined(), ValueError, op, ": the tensor is undefined");
  EMBER_CHECK(is_floating(tensor.dtype()), TypeError, op, ": expected a float32 or float64 tensor, got ",
              dtype_name(tensor.dtype()));
}

Tensor& fill_from(Tensor& tensor, const Tensor& values) {
  autograd::GradModeGuard no_grad(false);
  copy_(tensor, values);
  return tensor;
}

}  // namespace

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& tensor) {
  EMBER_CHECK(tensor.defined() && tensor.dim() >= 2, ValueError,
              "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
  int64_t receptive_field = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor& uniform_(Tensor& tensor, double low, double high) {
  check_floating(tensor, "uniform_");
  if (tensor.numel() == 0) return tensor;
  autograd::GradModeGuard no_grad(false);
  Tensor sample = rand(tensor.shape(), tensor.dtype()) * Scalar(high - low) + Scalar(low);
  return fill_from(tensor, sample);
}

Tensor& normal_(Tensor& tensor, double mean, double std) {
  check_floating(tensor, "normal_");
  EMBER_CHECK(std >= 0, ValueError, "normal_: expected std >= 0, got ", std);
  if (tensor.numel() == 0) return tensor;
  autograd::GradModeGuard no_grad(false);
  Tensor sample = randn(tensor.shape(), tensor.dtype()) * Scalar(std) + Scalar(mean);
  return fill_from(tensor, sample);
}

Tensor& constant_(Tensor& tensor, double value) {
  check_floating(tensor, "constant_");
  autograd::GradModeGuard no_grad(false);
  fill_(tensor, Scalar(value));
  return tensor;
}

Tensor& kaiming_uniform_(Tensor& tensor, double a) {
  int64_t fan_in = fan_in_and_fan_out(tensor).first;
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  double bound = fan_in > 0 ? gain * std::sqrt(3.0 / static_cast<double>(fan_in)) : 0.0;
  return uniform_(tensor, -bound, bound);
}

Tensor& xavier_uniform_(Tensor& tensor, double gain) {
  auto fans = fan_in_and_fan_out(tensor);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fans.first + fans.second));
  double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound);
}

Tensor& bias_uniform_(Tensor& bias, const Tensor& weight) {
  int64_t fan_in = fan_in_and_fan_out(weight).first;
  double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform_(bias, -bound, bound);
}

}  // namespace init

namespace functional {

Tensor dropout(const Tensor& input, double p, bool training) {
  EMBER_CHECK(input.defined(), ValueError, "dropout: the input tensor is undefined");
  EMBER_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return input;
  if (p == 1.0) return input * Scalar(0.0);
  Tensor keep = binary(BinaryOp::Ge, rand(input.shape(), input.dtype()), Scalar(p));
  Tensor scaled_mask = to_dtype(keep, input.dtype()) * Scalar(1.0 / (1.0 - p));
  return binary(BinaryOp::Mul, input, scaled_mask);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  EMBER_CHECK(input.defined() && target.defined(), ValueError, "mse_loss: input and target must be defined");
  if (reduction != Reduction::None && is_floating(input.dtype()) && target.dtype() == input.dtype() &&
      target.shape() == input.shape())
    return mse_loss_reduced(input, target, reduction == Reduction::Mean);
  Tensor loss = pow(binary(BinaryOp::Sub, input, target), Scalar(2));
  if (reduction == Reduction::Mean) return mean(loss);
  if (reduction == Reduction::Sum) return sum(loss);
  return loss;
}

}  // namespace functional
}  // namespace nn
}  // namespace ember
