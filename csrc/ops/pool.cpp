// Pooling ops (max, average, adaptive; 1-D as 2-D with H = 1): argument checks with PyTorch's output-size
// rules (ceil_mode, padding at most half the kernel), the kernels of kernels/conv/pool.h, and autograd nodes.
// Max pooling saves its int64 indices and the backward scatters through them.
#include <vector>

#include "ember/node.h"
#include "kernels/conv/pool.h"
#include "ember/conv.h"
#include "ops/gemm_operands.h"

namespace ember {
namespace {

using kernels::PoolGeometry;

Tensor dense(const Tensor& t) { return t.is_contiguous() ? t : gemm_operands::contiguous_copy(t); }

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// PyTorch's pooling output size: floor or ceil of the window count, the last window starting inside the input
// or its left padding.
int64_t pooled_size(int64_t in, int64_t kernel, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

std::string pair_str(int spatial, int64_t h, int64_t w) { return spatial == 2 ? str("(", h, ", ", w, ")") : str(w); }

// Checks a pooling input (spatial + 1 or spatial + 2 dims, float, non-empty spatial dims) and returns the
// geometry of its planes; the output spatial dims are filled by the caller.
PoolGeometry check_input(const Tensor& x, int spatial, const char* op) {
  EMBER_CHECK(x.defined(), ValueError, op, ": expected an input tensor");
  EMBER_CHECK(x.dim() == spatial + 1 || x.dim() == spatial + 2, ValueError, op, ": expected a ", spatial + 1,
              "-D (unbatched) or ", spatial + 2, "-D (batched) input, got a ", x.dim(), "-D input of shape ",
              shape_str(x.shape()));
  EMBER_CHECK(is_floating(x.dtype()), TypeError, op, ": expected a float32 or float64 input, got ",
              dtype_name(x.dtype()));
  for (int64_t d = x.dim() - spatial - 1; d < x.dim(); ++d)
    EMBER_CHECK(x.shape()[d] > 0, ValueError, op, ": expected non-zero channel and spatial sizes, got input of shape ",
                shape_str(x.shape()));
  PoolGeometry g;
  g.H = spatial == 2 ? x.shape()[x.dim() - 2] : 1;
  g.W = x.shape()[x.dim() - 1];
  g.planes = x.numel() / (g.H * g.W);
  return g;
}

PoolGeometry check_pool(const Tensor& x, const PoolOptions& o, int spatial, bool dilation_allowed, const char* op) {
  PoolGeometry g = check_input(x, spatial, op);
  const int64_t kh = spatial == 2 ? o.kernel_h : 1, sh = spatial == 2 ? o.stride_h : 1, ph = spatial == 2 ? o.pad_h : 0,
                dh = spatial == 2 ? o.dilation_h : 1;
  EMBER_CHECK(kh > 0 && o.kernel_w > 0, ValueError, op, ": kernel_size must be positive, got ",
              pair_str(spatial, kh, o.kernel_w));
  EMBER_CHECK(sh > 0 && o.stride_w > 0, ValueError, op, ": stride must be positive, got ",
              pair_str(spatial, sh, o.stride_w));
  EMBER_CHECK(dh > 0 && o.dilation_w > 0, ValueError, op, ": dilation must be positive, got ",
              pair_str(spatial, dh, o.dilation_w));
  EMBER_CHECK(dilation_allowed || (dh == 1 && o.dilation_w == 1), ValueError, op, ": dilation is not supported");
  EMBER_CHECK(ph >= 0 && o.pad_w >= 0, ValueError, op, ": padding must be non-negative, got ",
              pair_str(spatial, ph, o.pad_w));
  EMBER_CHECK(ph <= kh / 2 && o.pad_w <= o.kernel_w / 2, ValueError, op,
              ": padding should be at most half of the kernel size, got padding ", pair_str(spatial, ph, o.pad_w),
              " and kernel_size ", pair_str(spatial, kh, o.kernel_w));
  g.KH = kh; g.KW = o.kernel_w;
  g.stride_h = sh; g.stride_w = o.stride_w;
  g.pad_h = ph; g.pad_w = o.pad_w;
  g.dilation_h = dh; g.dilation_w = o.dilation_w;
  g.OH = pooled_size(g.H, kh, ph, sh, dh, o.ceil_mode);
  g.OW = pooled_size(g.W, o.kernel_w, o.pad_w, o.stride_w, o.dilation_w, o.ceil_mode);
  EMBER_CHECK(g.OH >= 1 && g.OW >= 1, ValueError, op, ": input of shape ", shape_str(x.shape()),
              " is too small for kernel_size ", pair_str(spatial, kh, o.kernel_w), " (dilation ",
              pair_str(spatial, dh, o.dilation_w), ", padding ", pair_str(spatial, ph, o.pad_w),
              "): the output size would be ", pair_str(spatial, g.OH, g.OW));
  return g;
}

Shape pooled_shape(const Tensor& x, const PoolGeometry& g, int spatial) {
  Shape s(x.shape().begin(), x.shape().end() - spatial);
  if (spatial == 2) s.push_back(g.OH);
  s.push_back(g.OW);
  return s;
}

struct MaxPoolBackward : autograd::Node {
  autograd::SavedTensor indices;
  Shape input_shape;
  PoolGeometry geo;
  const char* name() const override { return "MaxPoolBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = dense(grads[0]), idx = indices.get();
    Tensor dx = empty(input_shape, g.dtype());
    dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      kernels::max_pool_backward<T>(g.data<T>(), idx.data<int64_t>(), dx.data<T>(), geo.planes, geo.H * geo.W,
                                    geo.OH * geo.OW);
    });
    return {dx};
  }
  void release_saved() override { indices.reset(); }
};

struct AvgPoolBackward : autograd::Node {
  Shape input_shape;
  PoolGeometry geo;
  bool count_include_pad = true, adaptive = false;
  int64_t divisor_override = 0;
  const char* name() const override { return adaptive ? "AdaptiveAvgPoolBackward0" : "AvgPoolBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = dense(grads[0]);
    Tensor dx = empty(input_shape, g.dtype());
    dispatch_floating(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (adaptive)
        kernels::adaptive_avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), geo);
      else
        kernels::avg_pool2d_backward<T>(g.data<T>(), dx.data<T>(), geo, count_include_pad, divisor_override);
    });
    return {dx};
  }
};

// Runs a max pool (regular or adaptive) on a checked geometry and records its history.
std::pair<Tensor, Tensor> run_max_pool(const Tensor& x, const PoolGeometry& g, int spatial, bool adaptive,
                                       bool return_indices) {
  auto node = autograd::make_node<MaxPoolBackward>({&x});
  const Shape out_shape = pooled_shape(x, g, spatial);
  Tensor xd = dense(x), y = empty(out_shape, x.dtype()), indices;
  if (node || return_indices) indices = empty(out_shape, DType::Int64);
  int64_t* idx = indices.defined() ? indices.data<int64_t>() : nullptr;
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (adaptive)
      kernels::adaptive_max_pool2d_forward<T>(xd.data<T>(), y.data<T>(), idx, g);
    else
      kernels::max_pool2d_forward<T>(xd.data<T>(), y.data<T>(), idx, g);
  });
  if (node) {
    node->indices = autograd::SavedTensor(indices);
    node->input_shape = x.shape();
    node->geo = g;
    autograd::set_history(y, node);
  }
  return {y, return_indices ? indices : Tensor()};
}

Tensor run_avg_pool(const Tensor& x, const PoolGeometry& g, int spatial, bool adaptive, bool count_include_pad,
                    int64_t divisor_override) {
  auto node = autograd::make_node<AvgPoolBackward>({&x});
  Tensor xd = dense(x), y = empty(pooled_shape(x, g, spatial), x.dtype());
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (adaptive)
      kernels::adaptive_avg_pool2d_forward<T>(xd.data<T>(), y.data<T>(), g);
    else
      kernels::avg_pool2d_forward<T>(xd.data<T>(), y.data<T>(), g, count_include_pad, divisor_override);
  });
  if (node) {
    node->input_shape = x.shape();
    node->geo = g;
    node->adaptive = adaptive;
    node->count_include_pad = count_include_pad;
    node->divisor_override = divisor_override;
    autograd::set_history(y, node);
  }
  return y;
}

PoolGeometry check_adaptive(const Tensor& x, int64_t out_h, int64_t out_w, const char* op) {
  PoolGeometry g = check_input(x, 2, op);
  EMBER_CHECK(out_h >= 1 && out_w >= 1, ValueError, op, ": output_size must be positive, got (", out_h, ", ", out_w,
              ")");
  g.OH = out_h;
  g.OW = out_w;
  return g;
}

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const PoolOptions& options, bool return_indices) {
  const PoolGeometry g = check_pool(x, options, 2, true, "max_pool2d");
  return run_max_pool(x, g, 2, false, return_indices);
}

std::pair<Tensor, Tensor> max_pool1d(const Tensor& x, const PoolOptions& options, bool return_indices) {
  const PoolGeometry g = check_pool(x, options, 1, true, "max_pool1d");
  auto [y, indices] = run_max_pool(unsqueeze(x, -2), g, 2, false, return_indices);
  return {squeeze(y, -2), indices.defined() ? squeeze(indices, -2) : indices};
}

Tensor avg_pool2d(const Tensor& x, const PoolOptions& options, bool count_include_pad, int64_t divisor_override) {
  const PoolGeometry g = check_pool(x, options, 2, false, "avg_pool2d");
  return run_avg_pool(x, g, 2, false, count_include_pad, divisor_override);
}

Tensor avg_pool1d(const Tensor& x, const PoolOptions& options, bool count_include_pad) {
  const PoolGeometry g = check_pool(x, options, 1, false, "avg_pool1d");
  return squeeze(run_avg_pool(unsqueeze(x, -2), g, 2, false, count_include_pad, 0), -2);
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  const PoolGeometry g = check_adaptive(x, out_h, out_w, "adaptive_avg_pool2d");
  return run_avg_pool(x, g, 2, true, true, 0);
}

std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, int64_t out_h, int64_t out_w, bool return_indices) {
  const PoolGeometry g = check_adaptive(x, out_h, out_w, "adaptive_max_pool2d");
  return run_max_pool(x, g, 2, true, return_indices);
}

}  // namespace ember
