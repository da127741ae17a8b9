// AVX-512 flash-attention row primitives (contract: kernels/attention/attention_rows.h): the online-softmax
// step, the final row normalisation and the softmax gradient on one score tile, and the few-query scores and
// weighted sum, 16 columns per zmm, masked tails. exp is a Cephes-style polynomial scaled with vscalefps; it returns exactly 0 far below -87 (so -inf
// scores give probability 0).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/attention/simd_rows.h"
#include "kernels/kernels.h"
#include "kernels/x86_avx512/fast_exp.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline __mmask16 tail_mask(int remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << remaining) - 1u);
}

// The row's running max after this tile's valid columns (mask added in place first).
inline float tile_row_max(float* s, const float* m, int n, float old_max) {
  // Rows of 64+ columns keep four independent max chains (one chain waits on each previous step).
  __m512 vmax = _mm512_set1_ps(kNegInf);
  int c = 0;
  if (!m && n >= 64) {
    __m512 chains[4] = {vmax, vmax, vmax, vmax};
    for (; c + 64 <= n; c += 64)
      for (int u = 0; u < 4; ++u) chains[u] = _mm512_max_ps(chains[u], _mm512_loadu_ps(s + c + 16 * u));
    vmax = _mm512_max_ps(_mm512_max_ps(chains[0], chains[1]), _mm512_max_ps(chains[2], chains[3]));
  }
  for (; c < n; c += 16) {
    const __mmask16 k = tail_mask(n - c);
    __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(kNegInf), k, s + c);
    if (m) {
      x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, m + c));
      _mm512_mask_storeu_ps(s + c, k, x);
    }
    vmax = _mm512_max_ps(vmax, x);
  }
  return std::fmax(old_max, _mm512_reduce_max_ps(vmax));
}

// The probabilities exp(s - new_max) of the row's valid columns in place, 0 in columns [n, cols); their sum.
inline float tile_row_exp(float* s, int n, int cols, float new_max) {
  const __m512 shift = _mm512_set1_ps(new_max);
  __m512 vsum = _mm512_setzero_ps();
  int c = 0;
  if (n >= 64) {
    __m512 chains[4] = {vsum, vsum, vsum, vsum};
    for (; c + 64 <= n; c += 64)
      for (int u = 0; u < 4; ++u) {
        const __m512 p = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + c + 16 * u), shift));
        chains[u] = _mm512_add_ps(chains[u], p);
        _mm512_storeu_ps(s + c + 16 * u, p);
      }
    vsum = _mm512_add_ps(_mm512_add_ps(chains[0], chains[1]), _mm512_add_ps(chains[2], chains[3]));
  }
  for (; c < n; c += 16) {
    const __mmask16 k = tail_mask(n - c);
    __m512 p = _mm512_maskz_mov_ps(k, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + c), shift)));
    vsum = _mm512_add_ps(vsum, p);
    _mm512_mask_storeu_ps(s + c, k, p);
  }
  for (int j = n; j < cols; ++j) s[j] = 0.0f;
  return _mm512_reduce_add_ps(vsum);
}

// x[0, n) *= factor.
inline void scale_row(float* x, int n, float factor) {
  const __m512 f = _mm512_set1_ps(factor);
  for (int c = 0; c < n; c += 16) {
    const __mmask16 k = tail_mask(n - c);
    _mm512_mask_storeu_ps(x + c, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), f));
  }
}

// The vector row functions of simd_rows.h.
struct Rows {
  static constexpr bool kBase2 = false;
  static float max(float* s, const float* m, int n, float old_max) { return tile_row_max(s, m, n, old_max); }
  static float exp(float* s, int n, int cols, float new_max) { return tile_row_exp(s, n, cols, new_max); }
  static void scale(float* x, int n, float factor) { scale_row(x, n, factor); }
};

// The few-query primitives' vector traits (simd_rows.h): 16 of the 32 zmm registers for accumulators.
struct Zmm {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int width = 16, accumulators = 16;
  static mask tail(int n) { return n <= 0 ? 0 : tail_mask(n); }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg load(const float* p, mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, reg x, mask m) { _mm512_mask_storeu_ps(p, m, x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(reg x) { return _mm512_reduce_add_ps(x); }
};

void softmax_grad(float* scores, float* dscores, int64_t ld, const float* mask, int64_t ld_mask, int rows, int cols,
                  int64_t causal_diagonal, const float* lse, const float* delta) {
  for (int r = 0; r < rows; ++r) {
    float* s = scores + r * ld;
    float* ds = dscores + r * ld;
    const float* m = mask ? mask + r * ld_mask : nullptr;
    const int n = attention_valid_cols(r, cols, causal_diagonal);
    const __m512 shift = _mm512_set1_ps(lse[r]), d = _mm512_set1_ps(delta[r]);
    for (int c = 0; c < n; c += 16) {
      const __mmask16 k = tail_mask(n - c);
      __m512 x = _mm512_maskz_loadu_ps(k, s + c);
      if (m) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(k, m + c));
      const __m512 p = exp_ps(_mm512_sub_ps(x, shift));
      const __m512 dp = _mm512_maskz_loadu_ps(k, ds + c);
      _mm512_mask_storeu_ps(s + c, k, p);
      _mm512_mask_storeu_ps(ds + c, k, _mm512_mul_ps(p, _mm512_sub_ps(dp, d)));
    }
    for (int c = n; c < cols; ++c) s[c] = ds[c] = 0.0f;
  }
}

}  // namespace

void fill_attention(Table& t) {
  t.attention.softmax_step = softmax_step_rows<Rows>;
  t.attention.normalize_rows = normalize_rows_with<Rows>;
  t.attention.scores_rows = scores_rows<Zmm>;
  t.attention.weighted_sums = weighted_sums<Zmm>;
  t.attention.softmax_grad = softmax_grad;
}

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
