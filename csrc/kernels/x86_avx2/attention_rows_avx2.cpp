// AVX2 flash-attention row primitives (contract: kernels/attention/attention_rows.h): the online-softmax step,
// the final row normalisation and the softmax gradient on one score tile, and the few-query scores and weighted
// sum, 8 columns per ymm, masked tails (vmaskmovps). Base 2 (AttentionRows::base2): scores arrive in log2 e units
// and exp2 is a polynomial that returns exactly 0 below -126 (so -inf scores give probability 0, never NaN).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/attention/simd_rows.h"
#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace avx2 {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2E = 1.44269504088896341f;

// 2^x = 2^n p(x - n), n = round(x), p a degree-6 fit of 2^f on [-1/2, 1/2] (1.6 ulp); exactly 0 below -126. The
// reduction x - n is exact, so no ln 2 split as exp needs: 4 fewer multiplies than exp_ps.
inline __m256 exp2_ps(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-126.0f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-126.0f)), _mm256_set1_ps(127.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(1.535417977720499e-4f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3398859882727265e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.618434123694897e-3f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5503323674201965e-2f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.24022647738456726f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.6931471824645996f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

// Lanes [0, remaining) set.
inline __m256i tail_mask(int remaining) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(remaining), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// x[0, n) *= factor.
inline void scale_row(float* x, int n, float factor) {
  const __m256 f = _mm256_set1_ps(factor);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), f));
  for (; j < n; ++j) x[j] *= factor;
}

// The row's running max after this tile's valid columns (mask, times log2 e, added in place first).
inline float tile_row_max(float* s, const float* m, int n, float old_max) {
  const __m256 neg_inf = _mm256_set1_ps(kNegInf);
  // Rows of 32+ columns keep four independent max chains (one chain waits on each previous step).
  __m256 vmax = neg_inf;
  int c = 0;
  if (!m && n >= 32) {
    __m256 chains[4] = {neg_inf, neg_inf, neg_inf, neg_inf};
    for (; c + 32 <= n; c += 32)
      for (int u = 0; u < 4; ++u) chains[u] = _mm256_max_ps(chains[u], _mm256_loadu_ps(s + c + 8 * u));
    vmax = _mm256_max_ps(_mm256_max_ps(chains[0], chains[1]), _mm256_max_ps(chains[2], chains[3]));
  }
  for (; c + 8 <= n; c += 8) {
    __m256 x = _mm256_loadu_ps(s + c);
    if (m) {
      x = _mm256_fmadd_ps(_mm256_loadu_ps(m + c), _mm256_set1_ps(kLog2E), x);
      _mm256_storeu_ps(s + c, x);
    }
    vmax = _mm256_max_ps(vmax, x);
  }
  if (c < n) {
    const __m256i k = tail_mask(n - c);
    __m256 x = _mm256_maskload_ps(s + c, k);
    if (m) {
      x = _mm256_fmadd_ps(_mm256_maskload_ps(m + c, k), _mm256_set1_ps(kLog2E), x);
      _mm256_maskstore_ps(s + c, k, x);
    }
    vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(neg_inf, x, _mm256_castsi256_ps(k)));
  }
  return std::fmax(old_max, horizontal_max(vmax));
}

// The probabilities 2^(s - new_max) of the row's valid columns in place, 0 in columns [n, cols); their sum.
inline float tile_row_exp(float* s, int n, int cols, float new_max) {
  const __m256 shift = _mm256_set1_ps(new_max);
  __m256 vsum = _mm256_setzero_ps();
  int c = 0;
  if (n >= 32) {
    __m256 chains[4] = {vsum, vsum, vsum, vsum};
    for (; c + 32 <= n; c += 32)
      for (int u = 0; u < 4; ++u) {
        const __m256 p = exp2_ps(_mm256_sub_ps(_mm256_loadu_ps(s + c + 8 * u), shift));
        chains[u] = _mm256_add_ps(chains[u], p);
        _mm256_storeu_ps(s + c + 8 * u, p);
      }
    vsum = _mm256_add_ps(_mm256_add_ps(chains[0], chains[1]), _mm256_add_ps(chains[2], chains[3]));
  }
  for (; c + 8 <= n; c += 8) {
    __m256 p = exp2_ps(_mm256_sub_ps(_mm256_loadu_ps(s + c), shift));
    vsum = _mm256_add_ps(vsum, p);
    _mm256_storeu_ps(s + c, p);
  }
  if (c < n) {
    const __m256i k = tail_mask(n - c);
    __m256 p = _mm256_and_ps(_mm256_castsi256_ps(k), exp2_ps(_mm256_sub_ps(_mm256_maskload_ps(s + c, k), shift)));
    vsum = _mm256_add_ps(vsum, p);
    if (c + 8 <= cols) {   // lanes past n are 0: store them whole (a masked store is microcoded on AMD Zen)
      _mm256_storeu_ps(s + c, p);
      c += 8;
    } else {
      _mm256_maskstore_ps(s + c, k, p);
      c = n;
    }
  }
  for (; c < cols; ++c) s[c] = 0.0f;
  return horizontal_sum(vsum);
}

// The vector row functions of simd_rows.h.
struct Rows {
  static constexpr bool kBase2 = true;
  static float max(float* s, const float* m, int n, float old_max) { return tile_row_max(s, m, n, old_max); }
  static float exp(float* s, int n, int cols, float new_max) { return tile_row_exp(s, n, cols, new_max); }
  static void scale(float* x, int n, float factor) { scale_row(x, n, factor); }
};

// The few-query primitives' vector traits (simd_rows.h): 8 of the 16 ymm registers for accumulators.
struct Ymm {
  using reg = __m256;
  using mask = __m256i;
  static constexpr int width = 8, accumulators = 8;
  static mask tail(int n) { return tail_mask(n); }   // n <= 0: no lanes
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg load(const float* p, mask m) { return _mm256_maskload_ps(p, m); }
  static void store(float* p, reg x, mask m) { _mm256_maskstore_ps(p, m, x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(reg x) { return horizontal_sum(x); }
};

void softmax_grad(float* scores, float* dscores, int64_t ld, const float* mask, int64_t ld_mask, int rows, int cols,
                  int64_t causal_diagonal, const float* lse, const float* delta) {
  for (int r = 0; r < rows; ++r) {
    float* s = scores + r * ld;
    float* ds = dscores + r * ld;
    const float* m = mask ? mask + r * ld_mask : nullptr;
    const int n = attention_valid_cols(r, cols, causal_diagonal);
    const __m256 shift = _mm256_set1_ps(lse[r] * kLog2E), d = _mm256_set1_ps(delta[r]);
    int c = 0;
    for (; c + 8 <= n; c += 8) {
      __m256 x = _mm256_loadu_ps(s + c);
      if (m) x = _mm256_fmadd_ps(_mm256_loadu_ps(m + c), _mm256_set1_ps(kLog2E), x);
      const __m256 p = exp2_ps(_mm256_sub_ps(x, shift));
      _mm256_storeu_ps(s + c, p);
      _mm256_storeu_ps(ds + c, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_loadu_ps(ds + c), d)));
    }
    if (c < n) {
      // The tail: lanes past n become 0, stored whole while they stay inside the tile's cols (a masked store is
      // microcoded on AMD Zen).
      const __m256i k = tail_mask(n - c);
      __m256 x = _mm256_maskload_ps(s + c, k);
      if (m) x = _mm256_fmadd_ps(_mm256_maskload_ps(m + c, k), _mm256_set1_ps(kLog2E), x);
      const __m256 keep = _mm256_castsi256_ps(k);
      const __m256 p = _mm256_and_ps(keep, exp2_ps(_mm256_sub_ps(x, shift)));
      const __m256 g = _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_sub_ps(_mm256_maskload_ps(ds + c, k), d)));
      if (c + 8 <= cols) {
        _mm256_storeu_ps(s + c, p);
        _mm256_storeu_ps(ds + c, g);
        c += 8;
      } else {
        _mm256_maskstore_ps(s + c, k, p);
        _mm256_maskstore_ps(ds + c, k, g);
        c = n;
      }
    }
    for (; c < cols; ++c) s[c] = ds[c] = 0.0f;
  }
}

}  // namespace

void fill_attention(Table& t) {
  t.attention.base2 = Rows::kBase2;
  t.attention.softmax_step = softmax_step_rows<Rows>;
  t.attention.normalize_rows = normalize_rows_with<Rows>;
  t.attention.scores_rows = scores_rows<Ymm>;
  t.attention.weighted_sums = weighted_sums<Ymm>;
  t.attention.softmax_grad = softmax_grad;
}

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
