// im2col / col2im for the GEMM path of convolution (float and double): each row of col is one (c, kh, kw)
// tap over all OH*OW outputs, so the convolution of one image and group is W (C_out/g, K) @ col (K, OH*OW).
// Rows are filled by runs: the valid ow range of a tap is computed once, so the inner copy has no branches.
#include <algorithm>
#include <cstring>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {
namespace {

// The ow range [begin, end) whose input column iw = ow * stride - pad + kw * dilation lies in [0, W).
void valid_columns(const ConvGeometry& g, int64_t kw, int64_t& begin, int64_t& end) {
  const int64_t shift = kw * g.dilation_w - g.pad_left;   // iw = ow * stride + shift
  begin = shift >= 0 ? 0 : (-shift + g.stride_w - 1) / g.stride_w;
  const int64_t last = g.W - 1 - shift;                    // ow * stride <= last
  end = last < 0 ? 0 : std::min<int64_t>(g.OW, last / g.stride_w + 1);
  begin = std::min(begin, end);
}

}  // namespace

template <typename T>
void im2col(const T* x, const ConvGeometry& g, T* col) {
  const int64_t cig = g.c_in_group(), plane = g.OH * g.OW;
  for (int64_t kw = 0; kw < g.KW; ++kw) {
    int64_t ow0, ow1;
    valid_columns(g, kw, ow0, ow1);
    const int64_t shift = kw * g.dilation_w - g.pad_left;
    for (int64_t c = 0; c < cig; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        T* row = col + ((c * g.KH + kh) * g.KW + kw) * plane;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          T* out = row + oh * g.OW;
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
          if (ih < 0 || ih >= g.H) {
            std::memset(out, 0, sizeof(T) * g.OW);
            continue;
          }
          const T* in = x + (c * g.H + ih) * g.W + shift;
          for (int64_t ow = 0; ow < ow0; ++ow) out[ow] = T(0);
          if (g.stride_w == 1) {
            std::memcpy(out + ow0, in + ow0, sizeof(T) * (ow1 - ow0));
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) out[ow] = in[ow * g.stride_w];
          }
          for (int64_t ow = ow1; ow < g.OW; ++ow) out[ow] = T(0);
        }
      }
  }
}

template <typename T>
void col2im_add(const T* col, const ConvGeometry& g, T* x) {
  const int64_t cig = g.c_in_group(), plane = g.OH * g.OW;
  for (int64_t c = 0; c < cig; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t ow0, ow1;
        valid_columns(g, kw, ow0, ow1);
        const int64_t shift = kw * g.dilation_w - g.pad_left;
        const T* row = col + ((c * g.KH + kh) * g.KW + kw) * plane;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
          if (ih < 0 || ih >= g.H) continue;
          const T* in = row + oh * g.OW;
          T* out = x + (c * g.H + ih) * g.W + shift;
          if (g.stride_w == 1) {
            for (int64_t ow = ow0; ow < ow1; ++ow) out[ow] += in[ow];
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) out[ow * g.stride_w] += in[ow];
          }
        }
      }
}

template void im2col<float>(const float*, const ConvGeometry&, float*);
template void im2col<double>(const double*, const ConvGeometry&, double*);
template void col2im_add<float>(const float*, const ConvGeometry&, float*);
template void col2im_add<double>(const double*, const ConvGeometry&, double*);

}  // namespace kernels
}  // namespace ember
