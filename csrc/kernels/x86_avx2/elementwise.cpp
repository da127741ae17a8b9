// AVX2+FMA elementwise kernels: 8 floats per register, masked loads/stores for the tails (no scalar tail loop).
#include <immintrin.h>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace avx2 {
namespace {

// Lane mask with the first n (0..8) lanes on.
inline __m256i tail_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

template <typename Op>
inline void binary(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, op(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
      __m256i m = tail_mask(n - i);
      _mm256_maskstore_ps(out + i, m, op(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
  } else if (sa == 1) {
    const __m256 vb = _mm256_set1_ps(b[0]);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, op(_mm256_loadu_ps(a + i), vb));
    if (i < n) {
      __m256i m = tail_mask(n - i);
      _mm256_maskstore_ps(out + i, m, op(_mm256_maskload_ps(a + i, m), vb));
    }
  } else if (sb == 1) {
    const __m256 va = _mm256_set1_ps(a[0]);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, op(va, _mm256_loadu_ps(b + i)));
    if (i < n) {
      __m256i m = tail_mask(n - i);
      _mm256_maskstore_ps(out + i, m, op(va, _mm256_maskload_ps(b + i, m)));
    }
  } else {
    const __m256 v = op(_mm256_set1_ps(a[0]), _mm256_set1_ps(b[0]));
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, v);
    if (i < n) _mm256_maskstore_ps(out + i, tail_mask(n - i), v);
  }
}

#define EMBER_AVX2_BINARY(name, expr) \
  void name(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) { \
    binary(a, sa, b, sb, out, n, [](__m256 x, __m256 y) { return expr; }); }

EMBER_AVX2_BINARY(add, _mm256_add_ps(x, y))
EMBER_AVX2_BINARY(sub, _mm256_sub_ps(x, y))
EMBER_AVX2_BINARY(mul, _mm256_mul_ps(x, y))
EMBER_AVX2_BINARY(div, _mm256_div_ps(x, y))

}  // namespace

void fill(Table& t) {
  t.add = add; t.sub = sub; t.mul = mul; t.div = div;
}

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
