// The fast AVX512 e^x shared by the GEMM epilogue (GELU) and the attention softmax rows: no subnormal
// results (the accurate exp of the elementwise kernels lives in x86_common/vec_math.h). Include only from
// x86_avx512/ files (they are the ones built with the matching -m flags).
#pragma once
#include <immintrin.h>

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

// e^x = 2^n * 2^f: n = round(x log2 e), the remainder r = x - n ln 2 (two-step ln 2), a degree-6 polynomial,
// then vscalefps; x at or below -110 (including -inf) gives exactly 0, as 2^-159 underflows.
inline __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-110.0f)), _mm512_set1_ps(88.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace
}  // namespace avx512
}  // namespace kernels
}  // namespace ember
