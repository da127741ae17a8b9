// conv1d / conv2d: argument checks (errors name the op, the shapes and the bad value), the choice of path by
// shape (pointwise GEMM for 1x1, direct for other stride-1 float32, im2col + GEMM otherwise), the fused bias +
// ReLU epilogue, and the autograd node. The forward saves x, weight and (with ReLU) the output for its mask.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ember/node.h"
#include "ember/threads.h"
#include "ember/conv.h"
#include "kernels/kernels.h"
#include "ops/conv_paths.h"
#include "ops/gemm_operands.h"

namespace ember {
namespace {

using conv_paths::ConvRun;
using kernels::ConvGeometry;

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : gemm_operands::contiguous_copy(t); }

// Validates the arguments of a convolution with `spatial` (1 or 2) spatial dims given as passed by the user,
// and returns its geometry with the spatial dims lifted to 2-D (H = 1 for 1-D).
ConvGeometry check_conv(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& o, int spatial,
                        const char* op) {
  EMBER_CHECK(x.defined() && weight.defined(), ValueError, op, ": expected input and weight tensors");
  const int64_t batched_rank = spatial + 2;
  EMBER_CHECK(x.dim() == batched_rank || x.dim() == batched_rank - 1, ValueError, op, ": expected a ",
              batched_rank - 1, "-D (unbatched) or ", batched_rank, "-D (batched) input, got a ", x.dim(),
              "-D input of shape ", shape_str(x.shape()));
  EMBER_CHECK(weight.dim() == batched_rank, ValueError, op, ": expected a ", batched_rank,
              "-D weight (out_channels, in_channels / groups, kernel...), got shape ", shape_str(weight.shape()));
  gemm_operands::check_float_dtypes(x, weight, op);
  if (bias.defined()) {
    EMBER_CHECK(bias.dtype() == x.dtype(), TypeError, op, ": bias dtype ", dtype_name(bias.dtype()),
                " does not match input dtype ", dtype_name(x.dtype()));
    EMBER_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], ValueError, op, ": bias must have shape (",
                weight.shape()[0], ",), got ", shape_str(bias.shape()));
  }
  EMBER_CHECK(o.groups >= 1, ValueError, op, ": groups must be a positive integer, got ", o.groups);
  const int64_t first = x.dim() == batched_rank ? 1 : 0;   // channel dim of x
  ConvGeometry g;
  g.N = first ? x.shape()[0] : 1;
  g.C_in = x.shape()[first];
  g.C_out = weight.shape()[0];
  g.groups = o.groups;
  EMBER_CHECK(g.C_in % o.groups == 0, ValueError, op, ": groups=", o.groups, " does not divide the ", g.C_in,
              " input channels of input shape ", shape_str(x.shape()));
  EMBER_CHECK(g.C_out % o.groups == 0, ValueError, op, ": groups=", o.groups, " does not divide the ", g.C_out,
              " output channels of weight shape ", shape_str(weight.shape()));
  EMBER_CHECK(weight.shape()[1] * o.groups == g.C_in, ValueError, op, ": input of shape ", shape_str(x.shape()),
              " has ", g.C_in, " channels, but weight of shape ", shape_str(weight.shape()), " with groups=", o.groups,
              " expects ", weight.shape()[1] * o.groups, " input channels");
  g.H = spatial == 2 ? x.shape()[first + 1] : 1;
  g.W = x.shape()[first + spatial];
  g.KH = spatial == 2 ? weight.shape()[2] : 1;
  g.KW = weight.shape()[1 + spatial];
  EMBER_CHECK(g.KH >= 1 && g.KW >= 1, ValueError, op, ": kernel sizes must be positive, got weight of shape ",
              shape_str(weight.shape()));
  g.stride_h = spatial == 2 ? o.stride_h : 1;
  g.stride_w = o.stride_w;
  g.dilation_h = spatial == 2 ? o.dilation_h : 1;
  g.dilation_w = o.dilation_w;
  EMBER_CHECK(g.stride_h >= 1 && g.stride_w >= 1, ValueError, op, ": stride must be positive, got ",
              spatial == 2 ? str("(", o.stride_h, ", ", o.stride_w, ")") : str(o.stride_w));
  EMBER_CHECK(g.dilation_h >= 1 && g.dilation_w >= 1, ValueError, op, ": dilation must be positive, got ",
              spatial == 2 ? str("(", o.dilation_h, ", ", o.dilation_w, ")") : str(o.dilation_w));
  const int64_t span_h = g.dilation_h * (g.KH - 1), span_w = g.dilation_w * (g.KW - 1);   // effective kernel - 1
  if (o.same) {
    EMBER_CHECK(g.stride_h == 1 && g.stride_w == 1, ValueError, op,
                ": padding='same' is not supported for strided convolutions (stride must be 1)");
    g.pad_top = span_h / 2;
    g.pad_bottom = span_h - g.pad_top;
    g.pad_left = span_w / 2;
    g.pad_right = span_w - g.pad_left;
  } else {
    const int64_t pad_h = spatial == 2 ? o.pad_h : 0;
    EMBER_CHECK(pad_h >= 0 && o.pad_w >= 0, ValueError, op, ": padding must be non-negative, got ",
                spatial == 2 ? str("(", o.pad_h, ", ", o.pad_w, ")") : str(o.pad_w));
    g.pad_top = g.pad_bottom = pad_h;
    g.pad_left = g.pad_right = o.pad_w;
  }
  const int64_t padded_h = g.H + g.pad_top + g.pad_bottom, padded_w = g.W + g.pad_left + g.pad_right;
  EMBER_CHECK(padded_h >= span_h + 1 && padded_w >= span_w + 1, ValueError, op, ": kernel size ",
              spatial == 2 ? str("(", span_h + 1, ", ", span_w + 1, ")") : str(span_w + 1),
              " (after dilation) is larger than the padded input ",
              spatial == 2 ? str("(", padded_h, ", ", padded_w, ")") : str(padded_w), " of input shape ",
              shape_str(x.shape()));
  g.OH = (padded_h - span_h - 1) / g.stride_h + 1;
  g.OW = (padded_w - span_w - 1) / g.stride_w + 1;
  EMBER_CHECK(o.act == Activation::None || o.act == Activation::Relu, ValueError, op,
              ": only activation 'none' or 'relu' can be fused into a convolution");
  return g;
}

bool pointwise_applies(const ConvGeometry& g) {
  return g.KH == 1 && g.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_bottom == 0 &&
         g.pad_left == 0 && g.pad_right == 0;
}

ConvPath choose_path(const ConvGeometry& g, DType dtype, ConvPath requested, const char* op) {
  const bool direct_ok = dtype == DType::Float32 && g.stride_h == 1 && g.stride_w == 1;
  if (requested == ConvPath::Direct)
    EMBER_CHECK(direct_ok, ValueError, op, ": path 'direct' needs float32 and stride 1");
  if (requested == ConvPath::Pointwise)
    EMBER_CHECK(pointwise_applies(g), ValueError, op, ": path 'pointwise' needs a 1x1 kernel, stride 1, no padding");
  if (requested != ConvPath::Auto) return requested;
  if (pointwise_applies(g)) return ConvPath::Pointwise;
  // Stride 1: the direct kernels. They win by far where the GEMM is skinny (LeNet's few channels, depthwise)
  // and, measured on AVX-512 (bench/conv.py), still match or beat im2col + GEMM at 64-256 channels.
  if (direct_ok) return ConvPath::Direct;
  return ConvPath::Im2col;
}

ConvRun make_run(const ConvGeometry& g, DType dtype, const ConvOptions& o, const char* op) {
  ConvRun run;
  run.geo = g;
  run.relu = o.act == Activation::Relu;
  if (o.isa.empty()) {
    run.table = &kernels::table();
    run.direct = &kernels::direct_conv_kernels();
  } else {
    run.table = kernels::table_for(o.isa.c_str());
    run.direct = kernels::direct_conv_kernels_for(o.isa.c_str());
    EMBER_CHECK(run.table && run.direct, ValueError, op, ": ISA level '", o.isa,
                "' is not available on this CPU (or unknown)");
  }
  run.path = choose_path(g, dtype, o.path, op);
  return run;
}

constexpr int64_t kElementGrain = 16384;   // elements per thread for the elementwise passes

// out[i] = 0 where the ReLU output y[i] <= 0, else g[i] (the fused ReLU's backward), on the pool.
void relu_mask(const float* g, const float* y, float* out, int64_t n) {
  const auto f = kernels::table().relu_backward;   // y <= 0 exactly where x <= 0; NaN stays NaN
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { f(y + b, g + b, out + b, e - b); });
}
void relu_mask(const double* g, const double* y, double* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = y[i] <= 0.0 ? 0.0 : g[i];
}

// Sum of one plane: the SIMD accurate sum for float, a double loop for double.
double plane_sum(const float* p, int64_t n) { return kernels::table().sum(p, n); }
double plane_sum(const double* p, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// db[c] = sum of g over (N, plane) for channel c; channels split across threads, each sum in a fixed order.
template <typename T>
Tensor bias_grad(const T* g, const ConvGeometry& geo, DType dtype) {
  Tensor db = empty({geo.C_out}, dtype);
  T* out = db.data<T>();
  const int64_t plane = geo.out_plane();
  parallel_for(geo.C_out, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(geo.N * plane, 1)),
               [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0.0;
      for (int64_t n = 0; n < geo.N; ++n) s += plane_sum(g + (n * geo.C_out + c) * plane, plane);
      out[c] = static_cast<T>(s);
    }
  });
  return db;
}

struct ConvolutionBackward : autograd::Node {
  autograd::SavedTensor x, weight, output;   // output: only with a fused ReLU (its mask)
  ConvRun run;
  const char* name() const override { return "ConvolutionBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = dense(x.get()), wv = dense(weight.get());
    const bool need_x = next_edges[0].fn != nullptr, need_w = next_edges[1].fn != nullptr,
               need_b = next_edges.size() > 2 && next_edges[2].fn != nullptr;
    Tensor g = grads[0];
    if (!g.is_contiguous()) g = gemm_operands::contiguous_copy(g);
    Tensor dx, dw, db;
    dispatch_floating(xv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (run.relu) {
        Tensor masked = empty(g.shape(), g.dtype());
        relu_mask(g.data<T>(), dense(output.get()).data<T>(), masked.data<T>(), g.numel());
        g = masked;
      }
      if (need_x) dx = empty(xv.shape(), xv.dtype());
      if (need_w) dw = empty(wv.shape(), wv.dtype());
      if (need_x || need_w)
        conv_paths::backward<T>(run, xv.data<T>(), wv.data<T>(), g.data<T>(), need_x ? dx.data<T>() : nullptr,
                                need_w ? dw.data<T>() : nullptr);
      if (need_b) db = bias_grad<T>(g.data<T>(), run.geo, xv.dtype());
    });
    return {dx, dw, db};
  }
  void release_saved() override { x.reset(); weight.reset(); output.reset(); }
};

// The 4-D convolution once checked: x4 (N, C_in, H, W), weight4 (C_out, C_in/g, KH, KW).
Tensor conv_4d(const Tensor& x4, const Tensor& weight4, const Tensor& bias, const ConvGeometry& g, const ConvOptions& o,
               const char* op) {
  const ConvRun run = make_run(g, x4.dtype(), o, op);
  auto node = autograd::make_node<ConvolutionBackward>({&x4, &weight4, &bias});
  Tensor xd = dense(x4), wd = dense(weight4), bd = bias.defined() ? dense(bias) : bias;
  Tensor y = empty({g.N, g.C_out, g.OH, g.OW}, x4.dtype());
  dispatch_floating(x4.dtype(), [&](auto tag) {
    using T = decltype(tag);
    conv_paths::forward<T>(run, xd.data<T>(), wd.data<T>(), bd.defined() ? bd.data<T>() : nullptr, y.data<T>());
  });
  if (node) {
    node->x = autograd::SavedTensor(x4);
    node->weight = autograd::SavedTensor(weight4);
    if (run.relu) node->output = autograd::SavedTensor(y);
    node->run = run;
    autograd::set_history(y, node);
  }
  return y;
}

}  // namespace

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::Ref: return "ref";
    case ConvPath::Direct: return "direct";
    case ConvPath::Im2col: return "im2col";
    case ConvPath::Pointwise: return "pointwise";
    default: return "auto";
  }
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& options) {
  const ConvGeometry g = check_conv(x, weight, bias, options, 2, "conv2d");
  if (x.dim() == 3) return squeeze(conv_4d(unsqueeze(x, 0), weight, bias, g, options, "conv2d"), 0);
  return conv_4d(x, weight, bias, g, options, "conv2d");
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvOptions& options) {
  const ConvGeometry g = check_conv(x, weight, bias, options, 1, "conv1d");
  const Tensor x3 = x.dim() == 2 ? unsqueeze(x, 0) : x;
  Tensor y = conv_4d(unsqueeze(x3, 2), unsqueeze(weight, 2), bias, g, options, "conv1d");
  y = squeeze(y, 2);
  return x.dim() == 2 ? squeeze(y, 0) : y;
}

ConvPath conv2d_auto_path(const Tensor& x, const Tensor& weight, const ConvOptions& options) {
  const ConvGeometry g = check_conv(x, weight, Tensor(), options, 2, "conv2d");
  return choose_path(g, x.dtype(), ConvPath::Auto, "conv2d");
}

}  // namespace ember
