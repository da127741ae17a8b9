// AVX-512 float32 optimizer steps: the register traits for kernels/optim_simd.h (16 floats, k-mask tails).
#include <immintrin.h>

#include "kernels/kernels.h"
#include "kernels/optim_simd.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

struct Avx512Float {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int64_t width = 16;
  static mask tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }   // n in 0..16
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg x) { _mm512_storeu_ps(p, x); }
  static reg load(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, reg x, mask m) { _mm512_mask_storeu_ps(p, m, x); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg sqrt(reg a) { return _mm512_sqrt_ps(a); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg neg(reg a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
  static reg maximum(reg a, reg b) {
    __mmask16 unordered = _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    return _mm512_mask_add_ps(_mm512_max_ps(a, b), unordered, a, b);
  }
};

}  // namespace

void fill_optim(Table& t) { simd_optim::fill<Avx512Float>(t); }

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
