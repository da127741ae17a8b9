// The C++ API of convolution and pooling (NCHW / NCL, PyTorch semantics): conv1d/conv2d with stride, padding
// (explicit or 'same'/'valid'), dilation, groups, bias and a fused activation; max/avg/adaptive pooling.
// Implementations: ops/conv.cpp (+ conv_paths.cpp), ops/pool.cpp.
#pragma once
#include <string>
#include <utility>

#include "ember/ops.h"

namespace ember {

// How a convolution is computed; Auto picks by shape. The others are forced by tests and benchmarks.
enum class ConvPath { Auto, Ref, Direct, Im2col, Pointwise };

struct ConvOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;            // symmetric explicit padding (ignored when same)
  bool same = false;                       // padding='same' (stride 1; extra padding on the bottom/right)
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
  Activation act = Activation::None;       // None or Relu (fused into the epilogue)
  ConvPath path = ConvPath::Auto;
  std::string isa;                         // "" = the active level; "ref"/"avx2"/"avx512" for tests
};

// x (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in / groups, KH, KW); bias (C_out) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& options);
// x (N, C_in, L) or (C_in, L); weight (C_out, C_in / groups, K); the *_h fields of options are ignored.
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& options);
// The path Auto would pick for these arguments (for benchmarks and tests).
ConvPath conv2d_auto_path(const Tensor& x, const Tensor& weight, const ConvOptions& options);
const char* conv_path_name(ConvPath path);   // "auto", "ref", "direct", "im2col", "pointwise"

struct PoolOptions {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;      // PyTorch's default (stride = kernel) is applied by the caller
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
};

// x (N, C, H, W) or (C, H, W). Returns (values, indices); indices (int64, flat per plane: ih * W + iw) are
// undefined unless `return_indices` (they are always kept internally when a gradient is needed).
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const PoolOptions& options, bool return_indices);
std::pair<Tensor, Tensor> max_pool1d(const Tensor& x, const PoolOptions& options, bool return_indices);
// divisor_override <= 0 means none. Dilation must be 1.
Tensor avg_pool2d(const Tensor& x, const PoolOptions& options, bool count_include_pad, int64_t divisor_override);
Tensor avg_pool1d(const Tensor& x, const PoolOptions& options, bool count_include_pad);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, int64_t out_h, int64_t out_w, bool return_indices);

}  // namespace ember
