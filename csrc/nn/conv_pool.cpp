// Conv2d, MaxPool2d, AvgPool2d: PyTorch's constructors and initialisation; forward is one op from ember/conv.h.
#include <cmath>

#include "ember/nn.h"

namespace ember {
namespace nn {
namespace {

PoolOptions square_pool(int64_t kernel_size, int64_t stride, int64_t padding) {
  PoolOptions o;
  o.kernel_h = o.kernel_w = kernel_size;
  o.stride_h = o.stride_w = stride;
  o.pad_h = o.pad_w = padding;
  return o;
}

// stride <= 0 means the kernel size (PyTorch's stride=None); the op itself checks the rest.
PoolOptions with_default_stride(PoolOptions o, const char* layer) {
  EMBER_CHECK(o.kernel_h > 0 && o.kernel_w > 0, ValueError, layer, ": kernel_size must be positive, got (",
              o.kernel_h, ", ", o.kernel_w, ")");
  if (o.stride_h <= 0) o.stride_h = o.kernel_h;
  if (o.stride_w <= 0) o.stride_w = o.kernel_w;
  return o;
}

}  // namespace

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
               const ConvOptions& options, bool has_bias, DType dtype)
    : in_channels(in_channels), out_channels(out_channels), options(options) {
  EMBER_CHECK(in_channels > 0 && out_channels > 0, ValueError, "Conv2d: in_channels and out_channels must be "
              "positive, got ", in_channels, " and ", out_channels);
  EMBER_CHECK(options.groups > 0, ValueError, "Conv2d: groups must be a positive integer, got ", options.groups);
  EMBER_CHECK(in_channels % options.groups == 0, ValueError, "Conv2d: in_channels (", in_channels,
              ") must be divisible by groups (", options.groups, ")");
  EMBER_CHECK(out_channels % options.groups == 0, ValueError, "Conv2d: out_channels (", out_channels,
              ") must be divisible by groups (", options.groups, ")");
  EMBER_CHECK(kernel_h > 0 && kernel_w > 0 && options.stride_h > 0 && options.stride_w > 0 &&
              options.dilation_h > 0 && options.dilation_w > 0, ValueError,
              "Conv2d: kernel_size, stride and dilation must be positive");
  EMBER_CHECK(options.pad_h >= 0 && options.pad_w >= 0, ValueError, "Conv2d: padding must be non-negative");
  EMBER_CHECK(!options.same || (options.stride_h == 1 && options.stride_w == 1), ValueError,
              "Conv2d: padding='same' is not supported for strided convolutions");
  EMBER_CHECK(is_floating(dtype), TypeError, "Conv2d: dtype must be float32 or float64, got ", dtype_name(dtype));
  weight = register_parameter("weight", empty({out_channels, in_channels / options.groups, kernel_h, kernel_w}, dtype));
  if (has_bias) bias = register_parameter("bias", empty({out_channels}, dtype));
  reset_parameters();
}

void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) init::bias_uniform_(bias, weight);
}

void Conv2d::forward_checks(const Tensor& input) const {
  EMBER_CHECK(input.defined(), ValueError, "Conv2d: the input tensor is undefined");
  if (input.dim() == 3 || input.dim() == 4)
    EMBER_CHECK(input.size(-3) == in_channels, ValueError, "Conv2d: expected input with ", in_channels,
                " channels (dim ", input.dim() - 3, "), got input of shape ", shape_str(input.shape()));
}

Tensor Conv2d::forward(const Tensor& input) {
  forward_checks(input);
  return conv2d(input, weight, bias, options);
}

Tensor Conv2d::forward_relu(const Tensor& input) {
  forward_checks(input);
  ConvOptions fused = options;
  fused.act = Activation::Relu;   // relu(relu(v)) = relu(v) if options already asked for it
  return conv2d(input, weight, bias, fused);
}

MaxPool2d::MaxPool2d(int64_t kernel_size, int64_t stride, int64_t padding)
    : options(with_default_stride(square_pool(kernel_size, stride, padding), "MaxPool2d")) {}
MaxPool2d::MaxPool2d(const PoolOptions& options) : options(with_default_stride(options, "MaxPool2d")) {}

Tensor MaxPool2d::forward(const Tensor& input) {
  EMBER_CHECK(input.defined(), ValueError, "MaxPool2d: the input tensor is undefined");
  return max_pool2d(input, options, false).first;
}

AvgPool2d::AvgPool2d(int64_t kernel_size, int64_t stride, int64_t padding, bool count_include_pad)
    : options(with_default_stride(square_pool(kernel_size, stride, padding), "AvgPool2d")),
      count_include_pad(count_include_pad), divisor_override(0) {}
AvgPool2d::AvgPool2d(const PoolOptions& options, bool count_include_pad, int64_t divisor_override)
    : options(with_default_stride(options, "AvgPool2d")), count_include_pad(count_include_pad),
      divisor_override(divisor_override) {}

Tensor AvgPool2d::forward(const Tensor& input) {
  EMBER_CHECK(input.defined(), ValueError, "AvgPool2d: the input tensor is undefined");
  return avg_pool2d(input, options, count_include_pad, divisor_override);
}

}  // namespace nn
}  // namespace ember
