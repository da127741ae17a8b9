// The direct stride-1 convolution kernels for AVX-512: 16 lanes over wide-grid output positions, up to 8 output
// channels x 3 vectors in 24 zmm accumulators (forward), 4 channels x 5 taps (weight gradient).
#include <immintrin.h>

// GCC 12 warns inside its own 512 -> 256 cast/extract intrinsics (their _mm256_undefined_pd operand).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

struct Vec {
  using reg = __m512;
  static constexpr int L = 16;
  static constexpr int kForwardAcc = 24, kForwardChannelPass = 16, kForwardMaxCo = 8, kGradCo = 4, kGradTaps = 5;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg relu(reg v) { return _mm512_max_ps(_mm512_setzero_ps(), v); }   // NaN stays NaN
  static void store_lanes(float* p, uint32_t mask, reg v) {
    const __mmask16 packed = static_cast<__mmask16>((1u << __builtin_popcount(mask)) - 1u);
    _mm512_mask_storeu_ps(p, packed, _mm512_maskz_compress_ps(static_cast<__mmask16>(mask), v));
  }
  static float hsum(reg v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

#include "kernels/conv/direct_impl.inc"

}  // namespace

void fill_direct_conv(DirectConvKernels& k) {
  k.isa = "avx512";
  k.lanes = Vec::L;
  k.forward = direct_forward;
  k.pack_forward_weights = pack_forward_weights;
  k.weight_grad = direct_weight_grad;
}

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
