// The naive convolution reference: plain loops over every (n, c_out, oh, ow, c_in, kh, kw), float and double.
// It is the oracle the tests hold every fast path (direct, im2col, 1x1) against; never tuned, never clever.
#include <cstring>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {
namespace {

// Calls f(n, co, oh, ow, input channel, kh, kw, ih, iw) for every tap that lands inside the input.
template <typename F>
void for_each_tap(const ConvGeometry& g, F&& f) {
  const int64_t cig = g.c_in_group(), cog = g.c_out_group();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.C_out; ++co) {
      const int64_t group = co / cog;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow)
          for (int64_t ci = 0; ci < cig; ++ci)
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
                if (iw < 0 || iw >= g.W) continue;
                f(n, co, oh, ow, group * cig + ci, ci, kh, kw, ih, iw);
              }
            }
    }
}

}  // namespace

template <typename T>
void conv2d_ref_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g) {
  const int64_t cig = g.c_in_group();
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.C_out; ++co)
      for (int64_t p = 0; p < g.OH * g.OW; ++p) y[(n * g.C_out + co) * g.OH * g.OW + p] = bias ? bias[co] : T(0);
  for_each_tap(g, [&](int64_t n, int64_t co, int64_t oh, int64_t ow, int64_t c, int64_t ci, int64_t kh, int64_t kw,
                      int64_t ih, int64_t iw) {
    y[((n * g.C_out + co) * g.OH + oh) * g.OW + ow] +=
        x[((n * g.C_in + c) * g.H + ih) * g.W + iw] * w[((co * cig + ci) * g.KH + kh) * g.KW + kw];
  });
}

template <typename T>
void conv2d_ref_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g) {
  const int64_t cig = g.c_in_group();
  std::memset(dx, 0, sizeof(T) * static_cast<size_t>(g.N * g.C_in * g.H * g.W));
  for_each_tap(g, [&](int64_t n, int64_t co, int64_t oh, int64_t ow, int64_t c, int64_t ci, int64_t kh, int64_t kw,
                      int64_t ih, int64_t iw) {
    dx[((n * g.C_in + c) * g.H + ih) * g.W + iw] +=
        dy[((n * g.C_out + co) * g.OH + oh) * g.OW + ow] * w[((co * cig + ci) * g.KH + kh) * g.KW + kw];
  });
}

template <typename T>
void conv2d_ref_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g) {
  const int64_t cig = g.c_in_group();
  std::memset(dw, 0, sizeof(T) * static_cast<size_t>(g.C_out * cig * g.KH * g.KW));
  for_each_tap(g, [&](int64_t n, int64_t co, int64_t oh, int64_t ow, int64_t c, int64_t ci, int64_t kh, int64_t kw,
                      int64_t ih, int64_t iw) {
    dw[((co * cig + ci) * g.KH + kh) * g.KW + kw] +=
        dy[((n * g.C_out + co) * g.OH + oh) * g.OW + ow] * x[((n * g.C_in + c) * g.H + ih) * g.W + iw];
  });
}

template void conv2d_ref_forward<float>(const float*, const float*, const float*, float*, const ConvGeometry&);
template void conv2d_ref_forward<double>(const double*, const double*, const double*, double*, const ConvGeometry&);
template void conv2d_ref_backward_input<float>(const float*, const float*, float*, const ConvGeometry&);
template void conv2d_ref_backward_input<double>(const double*, const double*, double*, const ConvGeometry&);
template void conv2d_ref_backward_weight<float>(const float*, const float*, float*, const ConvGeometry&);
template void conv2d_ref_backward_weight<double>(const double*, const double*, double*, const ConvGeometry&);

}  // namespace kernels
}  // namespace ember
