// The direct stride-1 convolution kernels for AVX2 + FMA: 8 lanes over wide-grid output positions, up to 6
// output channels x 2 vectors in 12 ymm accumulators (forward), 3 channels x 3 taps (weight gradient).
#include <immintrin.h>

#include <cstdint>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {
namespace avx2 {
namespace {

struct Vec {
  using reg = __m256;
  static constexpr int L = 8;
  static constexpr int kForwardAcc = 12, kForwardChannelPass = 16, kForwardMaxCo = 6, kGradCo = 3, kGradTaps = 3;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg relu(reg v) { return _mm256_max_ps(_mm256_setzero_ps(), v); }   // NaN stays NaN
  static void store_lanes(float* p, uint32_t mask, reg v) {
    alignas(32) float lanes[L];
    _mm256_store_ps(lanes, v);
    for (int l = 0; l < L; ++l)
      if (mask >> l & 1u) *p++ = lanes[l];
  }
  static float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

#include "kernels/conv/direct_impl.inc"

}  // namespace

void fill_direct_conv(DirectConvKernels& k) {
  k.isa = "avx2";
  k.lanes = Vec::L;
  k.forward = direct_forward;
  k.pack_forward_weights = pack_forward_weights;
  k.weight_grad = direct_weight_grad;
}

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
