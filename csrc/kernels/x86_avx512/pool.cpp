// AVX-512 2x2 stride-2 max pool of one plane (the LeNet / VGG pool): 16 outputs a vector from the even and odd
// lanes of two input rows, with the index of the first maximum (a NaN wins, the first NaN), as the reference
// max_pool_2x2_plane in kernels/conv/pool.cpp.
#include <immintrin.h>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

inline __mmask16 first_lanes(int64_t n) {
  return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : n <= 0 ? 0u : (1u << n) - 1u);
}

void max_pool_2x2_plane(const float* x, float* y, int64_t* indices, int64_t W, int64_t OH, int64_t OW) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i two_lanes = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  const __m512i one = _mm512_set1_epi32(1), row = _mm512_set1_epi32(static_cast<int>(W));
  for (int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    for (int64_t ow = 0; ow < OW; ow += 16) {
      const int64_t n = OW - ow < 16 ? OW - ow : 16;
      const __mmask16 lo = first_lanes(2 * n), hi = first_lanes(2 * n - 16), out = first_lanes(n);
      const __m512 r0_lo = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), r0_hi = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
      const __m512 r1_lo = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), r1_hi = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
      const __m512 window[4] = {_mm512_permutex2var_ps(r0_lo, even, r0_hi), _mm512_permutex2var_ps(r0_lo, odd, r0_hi),
                                _mm512_permutex2var_ps(r1_lo, even, r1_hi), _mm512_permutex2var_ps(r1_lo, odd, r1_hi)};
      __m512 best = window[0];
      __m512i code = _mm512_setzero_si512();   // window element of the maximum: 0 1 / 2 3
      for (int k = 1; k < 4; ++k) {
        const __m512 v = window[k];
        const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                               (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & ~_mm512_cmp_ps_mask(best, best, _CMP_UNORD_Q));
        best = _mm512_mask_blend_ps(take, best, v);
        code = _mm512_mask_mov_epi32(code, take, _mm512_set1_epi32(k));
      }
      _mm512_mask_storeu_ps(y + oh * OW + ow, out, best);
      if (!indices) continue;
      // flat index: 2 oh W + 2 (ow + lane) + (code & 1) + (code >> 1) W
      __m512i at = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(2 * oh * W + 2 * ow)), two_lanes);
      at = _mm512_add_epi32(at, _mm512_and_si512(code, one));
      at = _mm512_add_epi32(at, _mm512_mullo_epi32(_mm512_srli_epi32(code, 1), row));
      int64_t* dst = indices + oh * OW + ow;
      _mm512_mask_storeu_epi64(dst, static_cast<__mmask8>(out), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(at)));
      _mm512_mask_storeu_epi64(dst + 8, static_cast<__mmask8>(out >> 8),
                               _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(at, 1)));
    }
  }
}

}  // namespace

void fill_pool(Table& t) { t.max_pool_2x2 = max_pool_2x2_plane; }

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
