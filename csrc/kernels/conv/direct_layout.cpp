// Plane layouts of the direct convolution path: source planes copied into zero-filled padded or wide planes, and
// where each wide output vector's kept lanes are stored (the store plan).
#include <algorithm>
#include <cstring>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {

void pad_planes(const float* src, int64_t channels, int64_t h, int64_t w, float* dst, int64_t dst_plane, int64_t hp,
                int64_t wp, int64_t top, int64_t left) {
  const int64_t r0 = std::max<int64_t>(0, -top), r1 = std::min<int64_t>(h, hp - top);       // source rows kept
  const int64_t c0 = std::max<int64_t>(0, -left), c1 = std::min<int64_t>(w, wp - left);     // source cols kept
  if (r1 <= r0 || c1 <= c0) return;
  const bool whole_rows = c0 == 0 && c1 == w && w == wp;   // then the kept rows are one contiguous run
  for (int64_t c = 0; c < channels; ++c) {
    float* out = dst + c * dst_plane + (r0 + top) * wp + c0 + left;
    const float* in = src + c * h * w + r0 * w + c0;
    if (whole_rows) {
      std::memcpy(out, in, sizeof(float) * (r1 - r0) * w);
      continue;
    }
    for (int64_t r = r0; r < r1; ++r, out += wp, in += w) std::memcpy(out, in, sizeof(float) * (c1 - c0));
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
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + c * dst_plane + r * wp, src + (c * rows + r) * cols, sizeof(float) * cols);
}

}  // namespace kernels
}  // namespace ember
