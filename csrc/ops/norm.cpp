// layer_norm and batch_norm as fused ops: one forward kernel that saves mean and rstd, one fused backward
// kernel for input, weight and bias. Running statistics of batch_norm are updated here, outside autograd.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/kernels.h"
#include "kernels/nn.h"
#include "ember/ops.h"

namespace ember {
namespace {

constexpr int64_t kGrain = 16384;   // elements per thread below which work stays on one thread

bool needs(const autograd::Node& node, size_t input) { return static_cast<bool>(node.next_edges[input].fn); }

void check_param(const Tensor& p, const Shape& shape, DType dtype, const char* op, const char* name) {
  if (!p.defined()) return;
  EMBER_CHECK(p.shape() == shape, ValueError, op, ": expected ", name, " of shape ", shape_str(shape), ", got ",
              shape_str(p.shape()));
  EMBER_CHECK(p.dtype() == dtype, TypeError, op, ": expected ", name, " of dtype ", dtype_name(dtype), " (like the input), got ",
              dtype_name(p.dtype()));
}

template <typename T>
const T* data_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? contiguous(t) : Tensor(); }

// Row blocks for reductions across rows: fixed by the shape alone, so the sum order does not depend on threads.
// At most 256 rows a block: float32 partials stay accurate.
int64_t row_blocks(int64_t rows, int64_t cols) {
  int64_t by_work = std::max<int64_t>(1, rows * std::max<int64_t>(cols, 1) / kGrain);
  return std::max<int64_t>({1, std::min<int64_t>({rows, by_work, 64}), (rows + 255) / 256});
}

// The layer-norm kernels: the ISA table's for float (float partials), the reference for double.
void layer_norm_rows(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t rows,
                     int64_t cols, double eps) {
  kernels::table().layer_norm_rows(x, w, b, y, mean, rstd, rows, cols, eps);
}
void layer_norm_rows(const double* x, const double* w, const double* b, double* y, double* mean, double* rstd,
                     int64_t rows, int64_t cols, double eps) {
  kernels::ref::layer_norm_forward<double>(x, w, b, y, mean, rstd, rows, cols, eps);
}
void layer_norm_backward_rows(const float* x, const float* gy, const float* mean, const float* rstd, const float* w,
                              float* gx, float* partial_w, float* partial_b, int64_t rows, int64_t cols) {
  kernels::table().layer_norm_backward_rows(x, gy, mean, rstd, w, gx, partial_w, partial_b, rows, cols);
}
void layer_norm_backward_rows(const double* x, const double* gy, const double* mean, const double* rstd,
                              const double* w, double* gx, double* partial_w, double* partial_b, int64_t rows,
                              int64_t cols) {
  kernels::ref::layer_norm_backward<double>(x, gy, mean, rstd, w, gx, partial_w, partial_b, rows, cols);
}

struct LayerNormBackward : autograd::Node {
  autograd::SavedTensor x, weight, mean, rstd;
  int64_t rows = 0, cols = 0;
  const char* name() const override { return "NativeLayerNormBackward0"; }
  void release_saved() override { x.reset(); weight.reset(); mean.reset(); rstd.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = contiguous(x.get()), wv = contiguous_or_undefined(weight.get());
    Tensor mv = mean.get(), rv = rstd.get(), gy = contiguous(grads[0]);
    const bool want_x = needs(*this, 0), want_w = needs(*this, 1), want_b = needs(*this, 2);
    Tensor gx = want_x ? empty(xv.shape(), xv.dtype()) : Tensor();
    const int64_t blocks = row_blocks(rows, cols), per_block = (rows + blocks - 1) / std::max<int64_t>(blocks, 1);
    Shape param_shape = wv.defined() ? wv.shape() : Shape{cols};
    Tensor gw, gb;
    dispatch_floating(xv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      // Per-block partials (T for float), combined in double in block order.
      std::vector<T> partial_w(want_w ? blocks * cols : 0, T(0)), partial_b(want_b ? blocks * cols : 0, T(0));
      parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t r0 = std::min(rows, b * per_block), r1 = std::min(rows, r0 + per_block);
          if (r0 >= r1) continue;
          layer_norm_backward_rows(xv.data<T>() + r0 * cols, gy.data<T>() + r0 * cols, mv.data<T>() + r0,
                                   rv.data<T>() + r0, data_or_null<T>(wv), want_x ? gx.data<T>() + r0 * cols : nullptr,
                                   want_w ? partial_w.data() + b * cols : nullptr,
                                   want_b ? partial_b.data() + b * cols : nullptr, r1 - r0, cols);
        }
      });
      auto combine = [&](const std::vector<T>& partial) {
        Tensor out = empty(param_shape, xv.dtype());
        T* o = out.data<T>();
        for (int64_t c = 0; c < cols; ++c) {
          double s = 0.0;
          for (int64_t b = 0; b < blocks; ++b) s += static_cast<double>(partial[b * cols + c]);
          o[c] = static_cast<T>(s);
        }
        return out;
      };
      if (want_w) gw = combine(partial_w);
      if (want_b) gb = combine(partial_b);
    });
    return {gx, gw, gb};
  }
};

// Channels per batch-norm task: ~kGrain elements, and with L == 1 (rows-outer kernels) at least 64 channels, so
// each task reads 256+ contiguous bytes of every row (16-channel tasks ran slower on 2 threads than on 1).
int64_t batch_norm_channel_grain(int64_t N, int64_t C, int64_t L) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(N * L, 1));
  return L == 1 ? std::max<int64_t>(grain, std::min<int64_t>(C, 64)) : grain;
}

struct BatchNormBackward : autograd::Node {
  autograd::SavedTensor x, weight, mean, rstd;
  bool batch_statistics = true;
  const char* name() const override { return "NativeBatchNormBackward0"; }
  void release_saved() override { x.reset(); weight.reset(); mean.reset(); rstd.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = contiguous(x.get()), wv = contiguous_or_undefined(weight.get());
    Tensor mv = mean.get(), rv = rstd.get(), gy = contiguous(grads[0]);
    const int64_t N = xv.shape()[0], C = xv.shape()[1], L = xv.numel() / std::max<int64_t>(N * C, 1);
    // inputs: x, running_mean, running_var, weight, bias
    const bool want_x = needs(*this, 0), want_w = needs(*this, 3), want_b = needs(*this, 4);
    Tensor gx = want_x ? empty(xv.shape(), xv.dtype()) : Tensor();
    Tensor gw = want_w ? empty({C}, xv.dtype()) : Tensor(), gb = want_b ? empty({C}, xv.dtype()) : Tensor();
    dispatch_floating(xv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      parallel_for(C, batch_norm_channel_grain(N, C, L), [&](int64_t c0, int64_t c1) {
        kernels::ref::batch_norm_backward<T>(xv.data<T>(), gy.data<T>(), mv.data<T>(), rv.data<T>(),
                                             data_or_null<T>(wv), want_x ? gx.data<T>() : nullptr,
                                             want_w ? gw.data<T>() : nullptr, want_b ? gb.data<T>() : nullptr, N,
                                             C, L, c0, c1, batch_statistics);
      });
    });
    return {gx, Tensor(), Tensor(), gw, gb};
  }
};

// running = (1 - momentum) * running + momentum * batch, in place, outside autograd.
template <typename T>
void update_running(const Tensor& running, const T* batch, int64_t C, double momentum, double factor) {
  T* r = running.data<T>();
  for (int64_t c = 0; c < C; ++c)
    r[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(r[c]) + momentum * factor * static_cast<double>(batch[c]));
  running.bump_version();
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const char* op = "layer_norm";
  EMBER_CHECK(is_floating(x.dtype()), TypeError, op, ": expected a floating point input, got ", dtype_name(x.dtype()));
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  EMBER_CHECK(k >= 1, ValueError, op, ": normalized_shape must have at least one dimension");
  bool matches = k <= x.dim();
  for (int64_t i = 0; matches && i < k; ++i) matches = x.shape()[x.dim() - k + i] == normalized_shape[i];
  EMBER_CHECK(matches, ValueError, op, ": normalized_shape ", shape_str(normalized_shape),
              " does not match the trailing dims of the input of shape ", shape_str(x.shape()));
  check_param(weight, normalized_shape, x.dtype(), op, "weight");
  check_param(bias, normalized_shape, x.dtype(), op, "bias");
  EMBER_CHECK(eps >= 0, ValueError, op, ": eps must be >= 0, got ", eps);

  int64_t cols = 1;
  for (int64_t s : normalized_shape) cols *= s;
  const int64_t rows = cols > 0 ? x.numel() / cols : 0;
  Tensor xc = contiguous(detach(x)), wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor y = empty(x.shape(), x.dtype()), mean = empty({rows}, x.dtype()), rstd = empty({rows}, x.dtype());
  if (cols > 0) {
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      parallel_for(rows, std::max<int64_t>(1, kGrain / cols), [&](int64_t r0, int64_t r1) {
        layer_norm_rows(xc.data<T>() + r0 * cols, data_or_null<T>(wc), data_or_null<T>(bc), y.data<T>() + r0 * cols,
                        mean.data<T>() + r0, rstd.data<T>() + r0, r1 - r0, cols, eps);
      });
    });
  }
  if (auto node = autograd::make_node<LayerNormBackward>({&x, &weight, &bias})) {
    node->x = autograd::SavedTensor(x);
    node->weight = autograd::SavedTensor(weight);
    node->mean = autograd::SavedTensor(mean);
    node->rstd = autograd::SavedTensor(rstd);
    node->rows = rows;
    node->cols = cols;
    autograd::set_history(y, node);
  }
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  EMBER_CHECK(is_floating(x.dtype()), TypeError, op, ": expected a floating point input, got ", dtype_name(x.dtype()));
  EMBER_CHECK(x.dim() >= 2, ValueError, op, ": expected an input of shape (N, C, *), got ", shape_str(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t L = N * C > 0 ? x.numel() / (N * C) : 0;
  check_param(weight, {C}, x.dtype(), op, "weight");
  check_param(bias, {C}, x.dtype(), op, "bias");
  check_param(running_mean, {C}, x.dtype(), op, "running_mean");
  check_param(running_var, {C}, x.dtype(), op, "running_var");
  EMBER_CHECK(running_mean.defined() == running_var.defined(), ValueError, op,
              ": running_mean and running_var must both be given or both be None");
  EMBER_CHECK(eps >= 0, ValueError, op, ": eps must be >= 0, got ", eps);
  const int64_t count = N * L;
  if (training) {
    EMBER_CHECK(count > 1, ValueError, op, ": expected more than 1 value per channel when training, got input of shape ",
                shape_str(x.shape()));
  } else {
    EMBER_CHECK(running_mean.defined(), ValueError, op,
                ": running_mean and running_var are required when training=False");
  }

  Tensor xc = contiguous(detach(x)), wc = contiguous_or_undefined(weight), bc = contiguous_or_undefined(bias);
  Tensor mean = empty({C}, x.dtype()), rstd = empty({C}, x.dtype()), y = empty(x.shape(), x.dtype());
  const int64_t channel_grain = batch_norm_channel_grain(N, C, L);
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* m = mean.data<T>();
    T* r = rstd.data<T>();
    if (training) {
      Tensor var = empty({C}, x.dtype());
      T* v = var.data<T>();
      parallel_for(C, channel_grain, [&](int64_t c0, int64_t c1) {
        kernels::ref::batch_norm_stats<T>(xc.data<T>(), m, v, N, C, L, c0, c1);
      });
      for (int64_t c = 0; c < C; ++c) r[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(v[c]) + eps));
      if (running_mean.defined()) {
        EMBER_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(), ValueError, op,
                    ": running_mean and running_var must be contiguous");
        update_running<T>(running_mean, m, C, momentum, 1.0);
        update_running<T>(running_var, v, C, momentum, static_cast<double>(count) / static_cast<double>(count - 1));
      }
    } else {
      Tensor rm = contiguous(running_mean), rv = contiguous(running_var);
      for (int64_t c = 0; c < C; ++c) {
        m[c] = rm.data<T>()[c];
        r[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rv.data<T>()[c]) + eps));
      }
    }
    parallel_for(C, channel_grain, [&](int64_t c0, int64_t c1) {
      kernels::ref::batch_norm_apply<T>(xc.data<T>(), m, r, data_or_null<T>(wc), data_or_null<T>(bc), y.data<T>(),
                                        N, C, L, c0, c1);
    });
  });
  if (auto node = autograd::make_node<BatchNormBackward>({&x, &running_mean, &running_var, &weight, &bias})) {
    node->x = autograd::SavedTensor(x);
    node->weight = autograd::SavedTensor(weight);
    node->mean = autograd::SavedTensor(mean);
    node->rstd = autograd::SavedTensor(rstd);
    node->batch_statistics = training;
    autograd::set_history(y, node);
  }
  return y;
}

}  // namespace ember
