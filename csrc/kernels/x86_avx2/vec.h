// The AVX2+FMA vector layer: 8 float lanes, masks as all-ones float lanes, tails as integer lane masks.
// The shared kernel templates in kernels/x86_common/ are written against this interface (and Avx512's);
// include only from files built with -mavx2 -mfma.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace ember {
namespace kernels {
namespace avx2 {

struct Avx2 {
  using V = __m256;        // 8 floats
  using Mask = __m256;     // a lane is all ones where true
  using Tail = __m256i;    // the first n lanes on
  struct DoubleSum { __m256d lo, hi; };   // 8 double lanes
  static constexpr int kWidth = 8;

  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static Tail tail(int64_t n) {   // 0 <= n <= 8
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_tail(const float* p, Tail t) { return _mm256_maskload_ps(p, t); }   // off lanes read as 0
  static void store_tail(float* p, Tail t, V v) { _mm256_maskstore_ps(p, t, v); }
  // Off lanes of a tail load set to `fill` (e.g. -inf for max).
  static V fill_off_lanes(V v, Tail t, V fill) { return _mm256_blendv_ps(fill, v, _mm256_castsi256_ps(t)); }

  static V set1(float f) { return _mm256_set1_ps(f); }
  static V zero() { return _mm256_setzero_ps(); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }    // a*b + c
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a*b
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  // The instructions' semantics: a NaN in either operand gives b.
  static V min_raw(V a, V b) { return _mm256_min_ps(a, b); }
  static V max_raw(V a, V b) { return _mm256_max_ps(a, b); }
  static V round_nearest(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }

  static V bits_and(V a, V b) { return _mm256_and_ps(a, b); }
  static V bits_or(V a, V b) { return _mm256_or_ps(a, b); }
  static V bits_xor(V a, V b) { return _mm256_xor_ps(a, b); }
  static V sign_bit() { return _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN)); }
  static V abs(V a) { return _mm256_andnot_ps(sign_bit(), a); }

  static Mask lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static Mask le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static Mask gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static Mask eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static Mask unordered(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
  static Mask mask_or(Mask a, Mask b) { return _mm256_or_ps(a, b); }
  static bool any(Mask m) { return _mm256_movemask_ps(m) != 0; }
  static V select(Mask m, V if_true, V if_false) { return _mm256_blendv_ps(if_false, if_true, m); }
  static V zero_unless(Mask m, V a) { return _mm256_and_ps(m, a); }   // a where m, else +0

  // p * 2^n for integer-valued n in [-150, 128]: two normal scale factors, so results that land in the
  // subnormal range are rounded once, and overflow gives inf.
  static V ldexp(V p, V n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i half = _mm256_srai_epi32(ni, 1);
    __m256i rest = _mm256_sub_epi32(ni, half);
    const __m256i bias = _mm256_set1_epi32(127);
    V s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    V s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  // For normal positive a: a = m * 2^e with m in [1, 2). Returns m; e (as float) in *e.
  static V split_exponent(V a, V* e) {
    __m256i bits = _mm256_castps_si256(a);
    *e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    __m256i mant = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f800000));
    return _mm256_castsi256_ps(mant);
  }

  static float reduce_max_raw(V v) {   // no NaN handling
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
  }
  static DoubleSum double_zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static void accumulate(DoubleSum& acc, V v) {
    acc.lo = _mm256_add_pd(acc.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    acc.hi = _mm256_add_pd(acc.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  static double reduce(const DoubleSum& acc) {
    __m256d s = _mm256_add_pd(acc.lo, acc.hi);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
};

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
