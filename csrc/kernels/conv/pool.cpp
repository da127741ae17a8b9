// Pooling kernels (see pool.h): one pass over each plane, planes split across threads with parallel_for.
// The 2x2 stride-2 max pool (LeNet, VGG) has its own branch-free window loop; everything else walks the
// clipped window of each output.
#include "kernels/conv/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ember/threads.h"
#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace {

// Planes per thread chunk so that each chunk touches >= ~16k input elements.
int64_t plane_grain(int64_t plane_size) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(plane_size, 1)); }

template <typename T>
inline bool takes_max(T v, T best) { return v > best || std::isnan(v); }

// Max pool of one plane, 2x2 windows at stride 2 without padding or dilation, every window inside the plane.
// Two branch-free passes per row (the comparisons are unpredictable on real data): the maxima (a loop the
// compiler vectorises), then each index as the first window element equal to its maximum (or the first NaN),
// found with a 4-bit mask and a count of trailing zeros.
template <typename T>
void max_pool_2x2(const T* x, T* y, int64_t* indices, int64_t W, int64_t OH, int64_t OW) {
  const int64_t offset_of[4] = {0, 1, W, W + 1};
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    T* out = y + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
      T best = (b > a) | (b != b) ? b : a;
      best = (c > best) | (c != c) ? c : best;
      best = (d > best) | (d != d) ? d : best;
      out[ow] = best;
    }
    if (!indices) continue;
    int64_t* idx = indices + oh * OW;
    const int64_t base = 2 * oh * W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T m = out[ow], a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow];   // not a, b, c: the 4th (8u)
      const unsigned mask = static_cast<unsigned>((a == m) | (a != a)) | static_cast<unsigned>((b == m) | (b != b)) << 1 |
                            static_cast<unsigned>((c == m) | (c != c)) << 2 | 8u;
      idx[ow] = base + 2 * ow + offset_of[__builtin_ctz(mask)];
    }
  }
}

// The general max pool of one plane.
template <typename T>
void max_pool_plane(const T* x, T* y, int64_t* indices, const PoolGeometry& g) {
  for (int64_t oh = 0; oh < g.OH; ++oh) {
    int64_t h0 = oh * g.stride_h - g.pad_h;
    const int64_t h_end = std::min(h0 + (g.KH - 1) * g.dilation_h + 1, g.H);
    while (h0 < 0) h0 += g.dilation_h;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      int64_t w0 = ow * g.stride_w - g.pad_w;
      const int64_t w_end = std::min(w0 + (g.KW - 1) * g.dilation_w + 1, g.W);
      while (w0 < 0) w0 += g.dilation_w;
      T best = -std::numeric_limits<T>::infinity();
      int64_t at = h0 * g.W + w0;
      for (int64_t ih = h0; ih < h_end; ih += g.dilation_h)
        for (int64_t iw = w0; iw < w_end; iw += g.dilation_w) {
          const T v = x[ih * g.W + iw];
          if (takes_max(v, best)) { best = v; at = ih * g.W + iw; }
        }
      y[oh * g.OW + ow] = best;
      if (indices) indices[oh * g.OW + ow] = at;
    }
  }
}

// Window of output (oh, ow) for average pooling: clipped bounds and the divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  double divisor;
};

inline AvgWindow avg_window(const PoolGeometry& g, int64_t oh, int64_t ow, bool count_include_pad,
                            int64_t divisor_override) {
  AvgWindow win;
  int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  int64_t h1 = std::min(h0 + g.KH, g.H + g.pad_h), w1 = std::min(w0 + g.KW, g.W + g.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  win.h0 = std::max<int64_t>(h0, 0);
  win.w0 = std::max<int64_t>(w0, 0);
  win.h1 = std::min(h1, g.H);
  win.w1 = std::min(w1, g.W);
  if (divisor_override > 0)
    win.divisor = static_cast<double>(divisor_override);
  else if (count_include_pad)
    win.divisor = static_cast<double>(padded_size);
  else
    win.divisor = static_cast<double>((win.h1 - win.h0) * (win.w1 - win.w0));
  return win;
}

inline int64_t adaptive_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
inline int64_t adaptive_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

}  // namespace

void max_pool_2x2_plane(const float* x, float* y, int64_t* indices, int64_t W, int64_t OH, int64_t OW) {
  max_pool_2x2(x, y, indices, W, OH, OW);
}

template <typename T>
void max_pool2d_forward(const T* x, T* y, int64_t* indices, const PoolGeometry& g) {
  const bool two_by_two = g.KH == 2 && g.KW == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
                          g.pad_w == 0 && g.dilation_h == 1 && g.dilation_w == 1 && 2 * g.OH <= g.H && 2 * g.OW <= g.W;
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      int64_t* idx = indices ? indices + p * out_plane : nullptr;
      if (two_by_two && std::is_same_v<T, float>)
        table().max_pool_2x2(reinterpret_cast<const float*>(x) + p * in_plane,
                             reinterpret_cast<float*>(y) + p * out_plane, idx, g.W, g.OH, g.OW);
      else if (two_by_two)
        max_pool_2x2(x + p * in_plane, y + p * out_plane, idx, g.W, g.OH, g.OW);
      else
        max_pool_plane(x + p * in_plane, y + p * out_plane, idx, g);
    }
  });
}

template <typename T>
void max_pool_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane,
                       int64_t out_plane) {
  parallel_for(planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    std::memset(dx + p0 * in_plane, 0, sizeof(T) * (p1 - p0) * in_plane);
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = dx + p * in_plane;
      const T* g = dy + p * out_plane;
      const int64_t* idx = indices + p * out_plane;
      for (int64_t o = 0; o < out_plane; ++o) plane[idx[o]] += g[o];
    }
  });
}

template <typename T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow, count_include_pad, divisor_override);
          T s = 0;
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) s += x[p * in_plane + ih * g.W + iw];
          y[p * out_plane + oh * g.OW + ow] = win.h1 > win.h0 && win.w1 > win.w0 ? static_cast<T>(s / win.divisor) : T(0);
        }
  });
}

template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    std::memset(dx + p0 * in_plane, 0, sizeof(T) * (p1 - p0) * in_plane);
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow, count_include_pad, divisor_override);
          const T share = static_cast<T>(dy[p * out_plane + oh * g.OW + ow] / win.divisor);
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) dx[p * in_plane + ih * g.W + iw] += share;
        }
  });
}

template <typename T>
void adaptive_avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, g.H, g.OH), h1 = adaptive_end(oh, g.H, g.OH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, g.W, g.OW), w1 = adaptive_end(ow, g.W, g.OW);
          T s = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) s += x[p * in_plane + ih * g.W + iw];
          y[p * out_plane + oh * g.OW + ow] = s / static_cast<T>((h1 - h0) * (w1 - w0));
        }
      }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    std::memset(dx + p0 * in_plane, 0, sizeof(T) * (p1 - p0) * in_plane);
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, g.H, g.OH), h1 = adaptive_end(oh, g.H, g.OH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, g.W, g.OW), w1 = adaptive_end(ow, g.W, g.OW);
          const T share = dy[p * out_plane + oh * g.OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) dx[p * in_plane + ih * g.W + iw] += share;
        }
      }
  });
}

template <typename T>
void adaptive_max_pool2d_forward(const T* x, T* y, int64_t* indices, const PoolGeometry& g) {
  const int64_t in_plane = g.H * g.W, out_plane = g.OH * g.OW;
  parallel_for(g.planes, plane_grain(in_plane), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const int64_t h0 = adaptive_start(oh, g.H, g.OH), h1 = adaptive_end(oh, g.H, g.OH);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const int64_t w0 = adaptive_start(ow, g.W, g.OW), w1 = adaptive_end(ow, g.W, g.OW);
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = h0 * g.W + w0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              const T v = x[p * in_plane + ih * g.W + iw];
              if (takes_max(v, best)) { best = v; at = ih * g.W + iw; }
            }
          y[p * out_plane + oh * g.OW + ow] = best;
          if (indices) indices[p * out_plane + oh * g.OW + ow] = at;
        }
      }
  });
}

#define EMBER_POOL_INSTANTIATE(T)                                                                                 \
  template void max_pool2d_forward<T>(const T*, T*, int64_t*, const PoolGeometry&);                              \
  template void max_pool_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t);                   \
  template void avg_pool2d_forward<T>(const T*, T*, const PoolGeometry&, bool, int64_t);                         \
  template void avg_pool2d_backward<T>(const T*, T*, const PoolGeometry&, bool, int64_t);                        \
  template void adaptive_avg_pool2d_forward<T>(const T*, T*, const PoolGeometry&);                               \
  template void adaptive_avg_pool2d_backward<T>(const T*, T*, const PoolGeometry&);                              \
  template void adaptive_max_pool2d_forward<T>(const T*, T*, int64_t*, const PoolGeometry&);
EMBER_POOL_INSTANTIATE(float)
EMBER_POOL_INSTANTIATE(double)
#undef EMBER_POOL_INSTANTIATE

}  // namespace kernels
}  // namespace ember
