// Reference layer-norm and batch-norm kernels (float and double; statistics accumulated in double).
// Two passes over each row/channel for the statistics (mean, then centred squares: no cancellation).
#include <cmath>
#include <vector>

#include "kernels/nn.h"

namespace ember {
namespace kernels {
namespace ref {

template <typename T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t cols, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += static_cast<double>(xr[c]);
    const double mu = cols > 0 ? sum / static_cast<double>(cols) : 0.0;
    double squares = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      double d = static_cast<double>(xr[c]) - mu;
      squares += d * d;
    }
    const double variance = cols > 0 ? squares / static_cast<double>(cols) : 0.0;
    const double inv = 1.0 / std::sqrt(variance + eps);
    mean[r] = static_cast<T>(mu);
    rstd[r] = static_cast<T>(inv);
    const T mu_t = static_cast<T>(mu), inv_t = static_cast<T>(inv);
    for (int64_t c = 0; c < cols; ++c) {
      T v = (xr[c] - mu_t) * inv_t;
      if (weight) v *= weight[c];
      if (bias) v += bias[c];
      yr[c] = v;
    }
  }
}

template <typename T>
void layer_norm_backward(const T* x, const T* grad_y, const T* mean, const T* rstd, const T* weight, T* grad_x,
                         double* grad_weight, double* grad_bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* gr = grad_y + r * cols;
    const double mu = mean[r], inv = rstd[r];
    // g = grad_y * weight; grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat))
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      const double xhat = (static_cast<double>(xr[c]) - mu) * inv;
      const double gy = gr[c];
      const double g = weight ? gy * static_cast<double>(weight[c]) : gy;
      sum_g += g;
      sum_g_xhat += g * xhat;
      if (grad_weight) grad_weight[c] += gy * xhat;
      if (grad_bias) grad_bias[c] += gy;
    }
    if (!grad_x) continue;
    const double mean_g = sum_g / static_cast<double>(cols), mean_g_xhat = sum_g_xhat / static_cast<double>(cols);
    T* gx = grad_x + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const double xhat = (static_cast<double>(xr[c]) - mu) * inv;
      const double g = weight ? static_cast<double>(gr[c]) * static_cast<double>(weight[c]) : gr[c];
      gx[c] = static_cast<T>(inv * (g - mean_g - xhat * mean_g_xhat));
    }
  }
}

void layer_norm_rows(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd,
                     int64_t rows, int64_t cols, double eps) {
  layer_norm_forward<float>(x, weight, bias, y, mean, rstd, rows, cols, eps);
}

void layer_norm_backward_rows(const float* x, const float* gy, const float* mean, const float* rstd,
                              const float* weight, float* gx, float* partial_w, float* partial_b, int64_t rows,
                              int64_t cols) {
  std::vector<double> w(partial_w ? cols : 0, 0.0), b(partial_b ? cols : 0, 0.0);
  layer_norm_backward<float>(x, gy, mean, rstd, weight, gx, partial_w ? w.data() : nullptr,
                             partial_b ? b.data() : nullptr, rows, cols);
  for (int64_t c = 0; partial_w && c < cols; ++c) partial_w[c] += static_cast<float>(w[c]);
  for (int64_t c = 0; partial_b && c < cols; ++c) partial_b[c] += static_cast<float>(b[c]);
}

// Batch norm with L == 1 (an (N, C) input: BatchNorm1d after a Linear) walks rows outer and the channels
// [c_begin, c_end) inner, contiguous: a channel-outer walk would read each column C floats apart (5-10x slower).
template <typename T>
void batch_norm_stats_rows(const T* x, T* mean, T* var_biased, int64_t N, int64_t C, int64_t c_begin, int64_t c_end) {
  const int64_t width = c_end - c_begin;
  std::vector<double> sum(width, 0.0), squares(width, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + n * C + c_begin;
    for (int64_t j = 0; j < width; ++j) sum[j] += static_cast<double>(row[j]);
  }
  for (int64_t j = 0; j < width; ++j) sum[j] /= static_cast<double>(N);   // now the mean
  for (int64_t n = 0; n < N; ++n) {
    const T* row = x + n * C + c_begin;
    for (int64_t j = 0; j < width; ++j) {
      const double d = static_cast<double>(row[j]) - sum[j];
      squares[j] += d * d;
    }
  }
  for (int64_t j = 0; j < width; ++j) {
    mean[c_begin + j] = static_cast<T>(sum[j]);
    var_biased[c_begin + j] = static_cast<T>(squares[j] / static_cast<double>(N));
  }
}

template <typename T>
void batch_norm_stats(const T* x, T* mean, T* var_biased, int64_t N, int64_t C, int64_t L, int64_t c_begin,
                      int64_t c_end) {
  if (L == 1) return batch_norm_stats_rows(x, mean, var_biased, N, C, c_begin, c_end);
  const double count = static_cast<double>(N * L);
  for (int64_t c = c_begin; c < c_end; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) sum += static_cast<double>(row[l]);
    }
    const double mu = sum / count;
    double squares = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* row = x + (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) {
        double d = static_cast<double>(row[l]) - mu;
        squares += d * d;
      }
    }
    mean[c] = static_cast<T>(mu);
    var_biased[c] = static_cast<T>(squares / count);
  }
}

template <typename T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, T* y, int64_t N,
                      int64_t C, int64_t L, int64_t c_begin, int64_t c_end) {
  // y = x * scale + shift per channel
  auto scale_of = [&](int64_t c) {
    return static_cast<double>(rstd[c]) * (weight ? static_cast<double>(weight[c]) : 1.0);
  };
  auto shift_of = [&](int64_t c, double scale) {
    return (bias ? static_cast<double>(bias[c]) : 0.0) - static_cast<double>(mean[c]) * scale;
  };
  if (L == 1) {
    const int64_t width = c_end - c_begin;
    std::vector<T> scale(width), shift(width);
    for (int64_t j = 0; j < width; ++j) {
      const double s = scale_of(c_begin + j);
      scale[j] = static_cast<T>(s);
      shift[j] = static_cast<T>(shift_of(c_begin + j, s));
    }
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * C + c_begin;
      T* yr = y + n * C + c_begin;
      for (int64_t j = 0; j < width; ++j) yr[j] = xr[j] * scale[j] + shift[j];
    }
    return;
  }
  for (int64_t c = c_begin; c < c_end; ++c) {
    const double scale = scale_of(c), shift = shift_of(c, scale);
    const T scale_t = static_cast<T>(scale), shift_t = static_cast<T>(shift);
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + (n * C + c) * L;
      T* yr = y + (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) yr[l] = xr[l] * scale_t + shift_t;
    }
  }
}

template <typename T>
void batch_norm_backward(const T* x, const T* grad_y, const T* mean, const T* rstd, const T* weight, T* grad_x,
                         T* grad_weight, T* grad_bias, int64_t N, int64_t C, int64_t L, int64_t c_begin,
                         int64_t c_end, bool batch_statistics) {
  const double count = static_cast<double>(N * L);
  if (L == 1) {
    const int64_t width = c_end - c_begin;
    std::vector<double> sum_g(width, 0.0), sum_g_xhat(width, 0.0);
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * C + c_begin;
      const T* gr = grad_y + n * C + c_begin;
      for (int64_t j = 0; j < width; ++j) {
        const double g = static_cast<double>(gr[j]);
        sum_g[j] += g;
        sum_g_xhat[j] += g * (static_cast<double>(xr[j]) - static_cast<double>(mean[c_begin + j])) *
                         static_cast<double>(rstd[c_begin + j]);
      }
    }
    for (int64_t j = 0; j < width; ++j) {
      if (grad_weight) grad_weight[c_begin + j] = static_cast<T>(sum_g_xhat[j]);
      if (grad_bias) grad_bias[c_begin + j] = static_cast<T>(sum_g[j]);
    }
    if (!grad_x) return;
    // as below, per channel: scale * (g - mean(g) - xhat * mean(g * xhat))
    std::vector<double> scale(width), mean_g(width), mean_g_xhat(width);
    for (int64_t j = 0; j < width; ++j) {
      const int64_t c = c_begin + j;
      scale[j] = (weight ? static_cast<double>(weight[c]) : 1.0) * static_cast<double>(rstd[c]);
      mean_g[j] = batch_statistics ? sum_g[j] / count : 0.0;
      mean_g_xhat[j] = batch_statistics ? sum_g_xhat[j] / count : 0.0;
    }
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + n * C + c_begin;
      const T* gr = grad_y + n * C + c_begin;
      T* gx = grad_x + n * C + c_begin;
      for (int64_t j = 0; j < width; ++j) {
        const double xhat = (static_cast<double>(xr[j]) - static_cast<double>(mean[c_begin + j])) *
                            static_cast<double>(rstd[c_begin + j]);
        gx[j] = static_cast<T>(scale[j] * (static_cast<double>(gr[j]) - mean_g[j] - xhat * mean_g_xhat[j]));
      }
    }
    return;
  }
  for (int64_t c = c_begin; c < c_end; ++c) {
    const double mu = mean[c], inv = rstd[c];
    const double w = weight ? static_cast<double>(weight[c]) : 1.0;
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + (n * C + c) * L;
      const T* gr = grad_y + (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) {
        sum_g += static_cast<double>(gr[l]);
        sum_g_xhat += static_cast<double>(gr[l]) * (static_cast<double>(xr[l]) - mu) * inv;
      }
    }
    if (grad_weight) grad_weight[c] = static_cast<T>(sum_g_xhat);
    if (grad_bias) grad_bias[c] = static_cast<T>(sum_g);
    if (!grad_x) continue;
    // training: grad_x = w * rstd * (g - mean(g) - xhat * mean(g * xhat)); eval: grad_x = w * rstd * g
    const double mean_g = batch_statistics ? sum_g / count : 0.0;
    const double mean_g_xhat = batch_statistics ? sum_g_xhat / count : 0.0;
    const double scale = w * inv;
    for (int64_t n = 0; n < N; ++n) {
      const T* xr = x + (n * C + c) * L;
      const T* gr = grad_y + (n * C + c) * L;
      T* gx = grad_x + (n * C + c) * L;
      for (int64_t l = 0; l < L; ++l) {
        const double xhat = (static_cast<double>(xr[l]) - mu) * inv;
        gx[l] = static_cast<T>(scale * (static_cast<double>(gr[l]) - mean_g - xhat * mean_g_xhat));
      }
    }
  }
}

#define EMBER_NORM_INSTANTIATE(T)                                                                              \
  template void layer_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, double);     \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, double*, double*, \
                                       int64_t, int64_t);                                                      \
  template void batch_norm_stats<T>(const T*, T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);            \
  template void batch_norm_apply<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t,    \
                                    int64_t, int64_t, int64_t);                                                \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t,  \
                                       int64_t, int64_t, int64_t, int64_t, bool);
EMBER_NORM_INSTANTIATE(float)
EMBER_NORM_INSTANTIATE(double)
#undef EMBER_NORM_INSTANTIATE

}  // namespace ref
}  // namespace kernels
}  // namespace ember
