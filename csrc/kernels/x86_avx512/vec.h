// The AVX-512 vector layer (F/DQ/BW/VL): 16 float lanes, masks and tails as __mmask16. Same interface as
// avx2::Avx2, so the shared templates in kernels/x86_common/ compile for both; include only from files built
// with -mavx512f.
#pragma once
// GCC 12 flags the _mm512_undefined_ps() inside min/max/scalef/roundscale/extract as (maybe-)uninitialized (a false
// positive); the pragma must precede the intrinsics header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstdint>

namespace ember {
namespace kernels {
namespace avx512 {

struct Avx512 {
  using V = __m512;         // 16 floats
  using Mask = __mmask16;
  using Tail = __mmask16;   // the first n lanes on
  struct DoubleSum { __m512d lo, hi; };   // 16 double lanes
  static constexpr int kWidth = 16;

  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static Tail tail(int64_t n) {   // 0 <= n <= 16
    return static_cast<__mmask16>((1u << static_cast<unsigned>(n)) - 1u);
  }
  static V load_tail(const float* p, Tail t) { return _mm512_maskz_loadu_ps(t, p); }   // off lanes read as 0
  static void store_tail(float* p, Tail t, V v) { _mm512_mask_storeu_ps(p, t, v); }
  static V fill_off_lanes(V v, Tail t, V fill) { return _mm512_mask_blend_ps(t, fill, v); }

  static V set1(float f) { return _mm512_set1_ps(f); }
  static V zero() { return _mm512_setzero_ps(); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }    // a*b + c
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  // The instructions' semantics: a NaN in either operand gives b.
  static V min_raw(V a, V b) { return _mm512_min_ps(a, b); }
  static V max_raw(V a, V b) { return _mm512_max_ps(a, b); }
  static V round_nearest(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  static V bits_and(V a, V b) { return _mm512_and_ps(a, b); }
  static V bits_or(V a, V b) { return _mm512_or_ps(a, b); }
  static V bits_xor(V a, V b) { return _mm512_xor_ps(a, b); }
  static V sign_bit() { return _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MIN)); }
  static V abs(V a) { return _mm512_andnot_ps(sign_bit(), a); }

  static Mask lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static Mask le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static Mask gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static Mask eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static Mask unordered(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
  static Mask mask_or(Mask a, Mask b) { return static_cast<Mask>(a | b); }
  static bool any(Mask m) { return m != 0; }
  static V select(Mask m, V if_true, V if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
  static V zero_unless(Mask m, V a) { return _mm512_maskz_mov_ps(m, a); }   // a where m, else +0

  // p * 2^n for integer-valued n: vscalefps rounds once, so subnormal results and overflow are exact IEEE.
  static V ldexp(V p, V n) { return _mm512_scalef_ps(p, n); }
  // For normal positive a: a = m * 2^e with m in [1, 2). Returns m; e (as float) in *e.
  static V split_exponent(V a, V* e) {
    *e = _mm512_getexp_ps(a);
    return _mm512_getmant_ps(a, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
  }

  static float reduce_max_raw(V v) { return _mm512_reduce_max_ps(v); }   // no NaN handling
  static DoubleSum double_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  static void accumulate(DoubleSum& acc, V v) {
    acc.lo = _mm512_add_pd(acc.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    acc.hi = _mm512_add_pd(acc.hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  static double reduce(const DoubleSum& acc) { return _mm512_reduce_add_pd(_mm512_add_pd(acc.lo, acc.hi)); }
};

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
