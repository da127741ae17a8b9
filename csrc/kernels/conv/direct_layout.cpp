// Plane layouts of the direct convolution path: zero-padded input planes with a readable tail, where each wide
// output vector's kept lanes are stored (the store plan), and gradients widened with zero gaps.
#include <algorithm>
#include <cstring>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {

void pad_planes(const float* src, int64_t channels, int64_t h, int64_t w, float* dst, int64_t dst_plane, int64_t hp,
                int64_t wp, int64_t top, int64_t left) {
  const int64_t r0 = std::max<int64_t>(0, -top), r1 = std::min<int64_t>(h, hp - top);       // source rows kept
  const int64_t c0 = std::max<int64_t>(0, -left), c1 = std::min<int64_t>(w, wp - left);     // source cols kept
  for (int64_t c = 0; c < channels; ++c) {
    float* out = dst + c * dst_plane;
    const float* in = src + c * h * w;
    if (r1 <= r0 || c1 <= c0) {
      std::memset(out, 0, sizeof(float) * dst_plane);
      continue;
    }
    const int64_t first_row = r0 + top, last_row = r1 + top;   // destination rows [first_row, last_row)
    std::memset(out, 0, sizeof(float) * first_row * wp);
    for (int64_t r = r0; r < r1; ++r) {
      float* row = out + (r + top) * wp;
      const int64_t d0 = c0 + left, d1 = c1 + left;
      if (d0 > 0) std::memset(row, 0, sizeof(float) * d0);
      std::memcpy(row + d0, in + r * w + c0, sizeof(float) * (c1 - c0));
      if (d1 < wp) std::memset(row + d1, 0, sizeof(float) * (wp - d1));
    }
    std::memset(out + last_row * wp, 0, sizeof(float) * (dst_plane - last_row * wp));
  }
}

DirectStorePlan direct_store_plan(int64_t rows, int64_t cols, int64_t wp, int lanes) {
  DirectStorePlan plan;
  const int64_t positions = rows * wp, vectors = (positions + lanes - 1) / lanes;
  plan.mask.assign(static_cast<size_t>(vectors), 0u);
  plan.offset.resize(static_cast<size_t>(vectors));
  for (int64_t k = 0; k < vectors; ++k) {
    const int64_t q = k * lanes, r = q / wp, c = q % wp;
    plan.offset[k] = r * cols + std::min(c, cols);
    for (int l = 0; l < lanes && q + l < positions; ++l)
      if ((q + l) % wp < cols) plan.mask[k] |= 1u << l;
  }
  return plan;
}

void widen_planes(const float* src, int64_t channels, int64_t rows, int64_t cols, float* dst, int64_t dst_plane,
                  int64_t wp) {
  for (int64_t c = 0; c < channels; ++c) {
    float* out = dst + c * dst_plane;
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(out + r * wp, src + (c * rows + r) * cols, sizeof(float) * cols);
      std::memset(out + r * wp + cols, 0, sizeof(float) * (wp - cols));
    }
    std::memset(out + rows * wp, 0, sizeof(float) * (dst_plane - rows * wp));
  }
}

}  // namespace kernels
}  // namespace ember
