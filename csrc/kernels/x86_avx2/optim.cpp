// AVX2+FMA float32 optimizer steps: the register traits for kernels/optim_simd.h (8 floats, vmaskmov tails).
#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/optim_simd.h"

namespace ember {
namespace kernels {
namespace avx2 {
namespace {

struct Avx2Float {
  using reg = __m256;
  using mask = __m256i;
  static constexpr int64_t width = 8;
  static mask tail_mask(int64_t n) {   // first n (0..8) lanes on
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg x) { _mm256_storeu_ps(p, x); }
  static reg load(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, reg x, mask m) { _mm256_maskstore_ps(p, m, x); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg sqrt(reg a) { return _mm256_sqrt_ps(a); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg neg(reg a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
  static reg maximum(reg a, reg b) {
    reg unordered = _mm256_cmp_ps(a, b, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), unordered);
  }
};

}  // namespace

void fill_optim(Table& t) { simd_optim::fill<Avx2Float>(t); }

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
