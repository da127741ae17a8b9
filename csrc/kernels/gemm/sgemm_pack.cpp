// sgemm packing routines (see sgemm_pack.h). Unit-stride sources get contiguous copies; others a strided
// gather. Padding rows/columns are written as zeros so edge tiles need no special case in the micro-kernel.
#include "kernels/gemm/sgemm_pack.h"

#include <algorithm>

namespace ember {
namespace kernels {

void pack_a_block(const float* a, int64_t rsA, int64_t csA, int64_t mc, int64_t kc, int mr, float* packed) {
  for (int64_t i0 = 0; i0 < mc; i0 += mr) {
    const int m = static_cast<int>(std::min<int64_t>(mr, mc - i0));
    const float* src = a + i0 * rsA;
    float* dst = packed + i0 * kc;   // sliver i0/mr starts at (i0/mr) * mr * kc
    if (rsA == 1 && m == mr) {
      // Column-major A (a transposed view): each k step is mr contiguous floats.
      for (int64_t p = 0; p < kc; ++p)
        for (int i = 0; i < mr; ++i) dst[p * mr + i] = src[p * csA + i];
    } else if (csA == 1) {
      // Row-major A: read each row contiguously, write with stride mr.
      for (int i = 0; i < m; ++i) {
        const float* row = src + i * rsA;
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = row[p];
      }
      for (int i = m; i < mr; ++i)
        for (int64_t p = 0; p < kc; ++p) dst[p * mr + i] = 0.0f;
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + p * mr;
        const float* s = src + p * csA;
        for (int i = 0; i < m; ++i) d[i] = s[i * rsA];
        for (int i = m; i < mr; ++i) d[i] = 0.0f;
      }
    }
  }
}

void pack_b_slivers(const float* b, int64_t rsB, int64_t csB, int64_t kc, int64_t nc, int nr, int64_t s_begin,
                    int64_t s_end, float* packed) {
  for (int64_t s = s_begin; s < s_end; ++s) {
    const int64_t j0 = s * nr;
    const int n = static_cast<int>(std::min<int64_t>(nr, nc - j0));
    const float* src = b + j0 * csB;
    float* dst = packed + s * kc * nr;
    if (csB == 1) {
      // Row-major B: each k step is n contiguous floats.
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + p * nr;
        const float* row = src + p * rsB;
        for (int j = 0; j < n; ++j) d[j] = row[j];
        for (int j = n; j < nr; ++j) d[j] = 0.0f;
      }
    } else if (rsB == 1) {
      // Column-major B (a transposed row-major matrix, e.g. W in x W^T): read columns contiguously.
      for (int j = 0; j < n; ++j) {
        const float* col = src + j * csB;
        for (int64_t p = 0; p < kc; ++p) dst[p * nr + j] = col[p];
      }
      if (n < nr)
        for (int64_t p = 0; p < kc; ++p)
          for (int j = n; j < nr; ++j) dst[p * nr + j] = 0.0f;
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        float* d = dst + p * nr;
        const float* row = src + p * rsB;
        for (int j = 0; j < n; ++j) d[j] = row[j * csB];
        for (int j = n; j < nr; ++j) d[j] = 0.0f;
      }
    }
  }
}

}  // namespace kernels
}  // namespace ember
