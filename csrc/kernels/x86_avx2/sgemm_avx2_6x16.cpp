// AVX2+FMA sgemm micro-kernel sgemm_avx2_6x16: a 6x16 tile of C in 12 ymm accumulators (6 rows x 2 vectors),
// A broadcast from a packed or strided sliver, B from the packed sliver (or in place), k loop unrolled by 4.
// Edge tiles use masked loads/stores (no scalar tail); alpha, beta, bias and ReLU/GELU are applied in registers.
// A tile with n <= 8 runs a 6x8 variant (6 accumulators) so skinny N does not pay for the padding. Also the
// FMA probe.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "ember/threads.h"

#include "kernels/kernels.h"
#include "kernels/x86_avx2/fast_exp.h"

namespace ember {
namespace kernels {
namespace avx2 {
namespace {

constexpr int kMR = 6, kNR = 16;


// 0.5 x (1 + erf(x / sqrt 2)) with erfc(z) = t P(t) e^{-z^2}, t = 1 / (1 + 0.3275911 z) (|error| < 2e-7).
inline __m256 gelu_erf_ps(__m256 x) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 z = _mm256_andnot_ps(sign_bit, _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
  __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(z, _mm256_set1_ps(0.3275911f), _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(p, t), exp_ps(_mm256_mul_ps(_mm256_xor_ps(z, sign_bit), z)));
  // 1 + erf(x/sqrt2) = erfc(|z|) for x < 0, 2 - erfc(|z|) for x >= 0.
  __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
  __m256 one_plus_erf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, negative);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), one_plus_erf);
}

// 0.5 x (1 + tanh(u)) = x / (1 + e^{-2u}), u = sqrt(2/pi) (x + 0.044715 x^3).
inline __m256 gelu_tanh_ps(__m256 x) {
  __m256 x2 = _mm256_mul_ps(x, x);
  __m256 u = _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.79788456080286536f)),
                           _mm256_fmadd_ps(x2, _mm256_set1_ps(0.044715f), _mm256_set1_ps(1.0f)));
  __m256 e = exp_ps(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
  return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

inline __m256 activate(__m256 v, GemmActivation act) {
  switch (act) {
    case GemmActivation::Relu: return _mm256_max_ps(_mm256_setzero_ps(), v);   // NaN stays NaN, as torch.relu
    case GemmActivation::Gelu: return gelu_erf_ps(v);
    case GemmActivation::GeluTanh: return gelu_tanh_ps(v);
    default: return v;
  }
}

// Lanes 0..n-1 on (n in 1..8).
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// C tile = act(alpha * acc + beta * C + bias) for the valid m x n part; acc indices stay compile-time
// constants (fully unrolled) and it is always inlined, so the accumulators never leave registers in the k loop
// (an out-of-line copy takes acc by address and GCC then stores all 12 every k step: a third of peak).
template <int NV>
__attribute__((always_inline)) inline void store_tile(const SgemmTile& t, __m256 (&acc)[kMR][NV]) {
  if (t.m == kMR && t.n == 8 * NV && t.alpha == 1.0f && !t.bias && t.act == GemmActivation::None && !t.pre &&
      (t.beta == 0.0f || t.beta == 1.0f)) {
    // The common full tile, C = acc or C += acc: no per-element conditions (short-k tiles are store-bound).
    const bool add = t.beta == 1.0f;
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      float* c = t.c + i * t.c_row_stride;
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        _mm256_storeu_ps(c + 8 * v, add ? _mm256_add_ps(acc[i][v], _mm256_loadu_ps(c + 8 * v)) : acc[i][v]);
    }
    return;
  }
  const int last_lanes = t.n - 8 * (NV - 1);
  const bool partial = last_lanes < 8;
  const __m256i mask = lane_mask(last_lanes);
  const __m256 alpha = _mm256_set1_ps(t.alpha), beta = _mm256_set1_ps(t.beta);
  const bool scale = t.alpha != 1.0f, use_beta = t.beta != 0.0f;
  const bool col_bias = t.bias && !t.bias_per_row, row_bias = t.bias && t.bias_per_row;
  __m256 bias[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) {
    bias[v] = _mm256_setzero_ps();
    if (col_bias)
      bias[v] = (v == NV - 1 && partial) ? _mm256_maskload_ps(t.bias + 8 * v, mask) : _mm256_loadu_ps(t.bias + 8 * v);
  }
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i) {
    if (i >= t.m) break;
    float* c = t.c + i * t.c_row_stride;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const bool masked = v == NV - 1 && partial;
      __m256 x = acc[i][v];
      if (scale) x = _mm256_mul_ps(x, alpha);
      if (use_beta) {
        __m256 old = masked ? _mm256_maskload_ps(c + 8 * v, mask) : _mm256_loadu_ps(c + 8 * v);
        x = _mm256_fmadd_ps(beta, old, x);
      }
      if (col_bias) x = _mm256_add_ps(x, bias[v]);
      if (row_bias) x = _mm256_add_ps(x, _mm256_set1_ps(t.bias[i]));
      if (t.pre) {
        float* pre = t.pre + i * t.c_row_stride + 8 * v;
        if (masked) _mm256_maskstore_ps(pre, mask, x);
        else _mm256_storeu_ps(pre, x);
      }
      if (t.act != GemmActivation::None) x = activate(x, t.act);
      if (masked) _mm256_maskstore_ps(c + 8 * v, mask, x);
      else _mm256_storeu_ps(c + 8 * v, x);
    }
  }
}

// NV = vectors of 8 columns computed (1 or 2); kPackedA: A sliver packed (element (i, p) at a[p*MR + i]);
// kPackedB: B a packed sliver, else read in place (b_k_stride floats a k step, unaligned).
template <int NV, bool kPackedA, bool kPackedB = true>
void tile_kernel(const SgemmTile& t) {
  __m256 acc[kMR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  // Bring the C tile toward L1 while a long k loop runs (first and last column of each row).
  for (int i = 0; t.k >= 64 && i < t.m; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(t.c + i * t.c_row_stride), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(t.c + i * t.c_row_stride + t.n - 1), _MM_HINT_T0);
  }

  const float* b = t.b;
  const int64_t k = t.k, b_step = kPackedB ? kNR : t.b_k_stride;
  if (kPackedA || (t.a_row_stride == 1 && t.m == kMR)) {
    // A packed, or a full column-major sliver (a transposed view, as X^T in X^T dY): 6 contiguous floats
    // a k step from one pointer, the next step a_step floats on (prefetched 8 steps ahead when strided).
    const float* a = t.a;
    const int64_t a_step = kPackedA ? kMR : t.a_k_stride, ahead = kPackedA ? 64 : 8 * a_step;
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; ++p) {
      _mm_prefetch(reinterpret_cast<const char*>(a + ahead), _MM_HINT_T0);
      const __m256 b0 = kPackedB ? _mm256_load_ps(b) : _mm256_loadu_ps(b);
      const __m256 b1 = NV == 1 ? b0 : kPackedB ? _mm256_load_ps(b + 8) : _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < kMR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        if (NV > 1) acc[i][NV - 1] = _mm256_fmadd_ps(ai, b1, acc[i][NV - 1]);
      }
      a += a_step;
      b += b_step;
    }
  } else {
    // Rows past m point at row 0 (valid memory); their results are never stored.
    const float* rows[kMR];
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) rows[i] = t.a + (i < t.m ? i : 0) * t.a_row_stride;
    const int64_t ks = t.a_k_stride;
    int64_t offset = 0;
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; ++p) {
      const __m256 b0 = kPackedB ? _mm256_load_ps(b) : _mm256_loadu_ps(b);
      const __m256 b1 = NV == 1 ? b0 : kPackedB ? _mm256_load_ps(b + 8) : _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
      for (int i = 0; i < kMR; ++i) {
        const __m256 ai = _mm256_broadcast_ss(rows[i] + offset);
        acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
        if (NV > 1) acc[i][NV - 1] = _mm256_fmadd_ps(ai, b1, acc[i][NV - 1]);
      }
      offset += ks;
      b += b_step;
    }
  }
  store_tile<NV>(t, acc);
}

// 8x8 transpose of r[0..7] in place (unpack 32-bit, shuffle 64-bit, then swap 128-bit halves).
inline void transpose8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Writes the 6 floats of one packed k step (the low lanes of x), last_step being the sliver's final step. Every step
// but the last stores all 8 lanes, and the next step overwrites the 2 extra floats: a masked store (vmaskmovps)
// is microcoded on AMD Zen and made the A packs ~4x slower there.
inline void store_a_step(float* dst, __m256 x, bool last_step) {
  if (!last_step) {
    _mm256_storeu_ps(dst, x);
    return;
  }
  _mm_storeu_ps(dst, _mm256_castps256_ps128(x));
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(x, 1));
}

// K steps a pack pass takes together: the source is read row by row (a few sequential streams that the hardware
// prefetcher follows), not one sliver's column down every row (a stride of a whole row, often 4 KiB: every read a
// miss in one L1 set, or a new page). X^T dY weight gradients on the char-GPT shapes spent 14-18% of their time
// packing that way (1 thread, Zen 3).
constexpr int64_t kPackSteps = 8;

// Prefetches rows [r0, r1), columns [c0, c1) of x (row stride ld): the next pass's rows while this one packs.
inline void prefetch_rows(const float* x, int64_t ld, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; c += 16) _mm_prefetch(reinterpret_cast<const char*>(x + r * ld + c), _MM_HINT_T0);
}

// Row-major A block (mc, kc) into 6-row slivers: 8 k steps at a time, 6 row loads + one transpose.
void pack_a_row_major_6(const float* a, int64_t rsA, int64_t mc, int64_t kc, float* packed) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    const int m = static_cast<int>(mc - i0 < kMR ? mc - i0 : kMR);
    const float* src = a + i0 * rsA;
    float* dst = packed + i0 * kc;
    const int next_rows = static_cast<int>(std::min<int64_t>(kMR, mc - i0 - kMR));
    for (int64_t p0 = 0; p0 < kc; p0 += 8) {
      const int width = static_cast<int>(kc - p0 < 8 ? kc - p0 : 8);
      const __m256i load_mask = lane_mask(width);
      if (p0 % 16 == 0) prefetch_rows(src + kMR * rsA, rsA, 0, next_rows, p0, p0 + 1);   // one sliver ahead
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = i < m ? _mm256_maskload_ps(src + i * rsA + p0, load_mask) : _mm256_setzero_ps();
      transpose8x8(r);
      for (int j = 0; j < width; ++j) store_a_step(dst + (p0 + j) * kMR, r[j], p0 + j == kc - 1);
    }
  }
}

// Column-major B panel (times scale) into 16-column slivers: per 8 columns x 8 k steps, 8 column loads + one
// transpose.
void pack_b_col_major_16(const float* b, int64_t csB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end,
                         float scale, float* packed) {
  const __m256 factor = _mm256_set1_ps(scale);
  const bool scaled = scale != 1.0f;
  for (int64_t s = s_begin; s < s_end; ++s) {
    float* dst = packed + s * kc * kNR;
    for (int half = 0; half < 2; ++half) {
      const int64_t j0 = s * kNR + half * 8;
      const int n = static_cast<int>(nc - j0 < 0 ? 0 : (nc - j0 < 8 ? nc - j0 : 8));
      const float* src = b + j0 * csB;
      for (int64_t p0 = 0; p0 < kc; p0 += 8) {
        const int width = static_cast<int>(kc - p0 < 8 ? kc - p0 : 8);
        const __m256i load_mask = lane_mask(width);
        __m256 r[8];
        for (int j = 0; j < 8; ++j)
          r[j] = j < n ? _mm256_maskload_ps(src + j * csB + p0, load_mask) : _mm256_setzero_ps();
        transpose8x8(r);
        for (int q = 0; q < width; ++q)
          _mm256_store_ps(dst + (p0 + q) * kNR + half * 8, scaled ? _mm256_mul_ps(r[q], factor) : r[q]);
      }
    }
  }
}

// Column-major A block (a transposed view) into 6-row slivers: each k step is 6 contiguous floats.
void pack_a_col_major_6(const float* a, int64_t csA, int64_t mc, int64_t kc, float* packed) {
  for (int64_t p0 = 0; p0 < kc; p0 += kPackSteps) {
    const int64_t p_end = std::min(kc, p0 + kPackSteps);
    prefetch_rows(a, csA, p_end, std::min(kc, p_end + kPackSteps), 0, mc);
    for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
      const __m256i load_mask = lane_mask(static_cast<int>(mc - i0 < 8 ? mc - i0 : 8));
      float* dst = packed + i0 * kc;
      for (int64_t p = p0; p < p_end; ++p)
        store_a_step(dst + p * kMR, _mm256_maskload_ps(a + i0 + p * csA, load_mask), p == kc - 1);
    }
  }
}

// Row-major B panel (times scale when kScaled) into 16-column slivers: each k step is two vector copies (masked
// at the panel's last columns).
template <bool kScaled>
void pack_b_rows_16(const float* b, int64_t rsB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end, float scale,
                    float* packed) {
  const __m256 factor = _mm256_set1_ps(scale);
  auto times = [&](__m256 x) { return kScaled ? _mm256_mul_ps(x, factor) : x; };
  for (int64_t p0 = 0; p0 < kc; p0 += kPackSteps) {
    const int64_t p_end = std::min(kc, p0 + kPackSteps);
    prefetch_rows(b, rsB, p_end, std::min(kc, p_end + kPackSteps), s_begin * kNR, std::min(nc, s_end * kNR));
    for (int64_t s = s_begin; s < s_end; ++s) {
      const int64_t j0 = s * kNR;
      const float* src = b + j0;
      float* dst = packed + s * kc * kNR;
      if (nc - j0 >= kNR) {
        for (int64_t p = p0; p < p_end; ++p) {
          _mm256_store_ps(dst + p * kNR, times(_mm256_loadu_ps(src + p * rsB)));
          _mm256_store_ps(dst + p * kNR + 8, times(_mm256_loadu_ps(src + p * rsB + 8)));
        }
        continue;
      }
      const int n = static_cast<int>(nc - j0);
      const __m256i m0 = lane_mask(n < 8 ? n : 8), m1 = lane_mask(n > 8 ? n - 8 : 0);
      for (int64_t p = p0; p < p_end; ++p) {
        _mm256_store_ps(dst + p * kNR, times(_mm256_maskload_ps(src + p * rsB, m0)));
        _mm256_store_ps(dst + p * kNR + 8, times(_mm256_maskload_ps(src + p * rsB + 8, m1)));
      }
    }
  }
}

void pack_b_row_major_16(const float* b, int64_t rsB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end,
                         float scale, float* packed) {
  if (scale != 1.0f) pack_b_rows_16<true>(b, rsB, kc, nc, s_begin, s_end, scale, packed);
  else pack_b_rows_16<false>(b, rsB, kc, nc, s_begin, s_end, scale, packed);
}

void sgemm_avx2_6x16(const SgemmTile& t) {
  if (t.b_k_stride) {   // B in place: always a full tile width
    if (t.a_packed) tile_kernel<2, true, false>(t);
    else tile_kernel<2, false, false>(t);
    return;
  }
  if (t.n > 8) {
    if (t.a_packed) tile_kernel<2, true>(t);
    else tile_kernel<2, false>(t);
  } else {
    if (t.a_packed) tile_kernel<1, true>(t);
    else tile_kernel<1, false>(t);
  }
}

// 10 independent FMA chains per thread (more than the 2 pipes x 4-cycle latency need).
double fma_peak_gflops(int threads) {
  const int64_t iters = 20000000;   // ~0.1 s a thread: long enough that a late-waking worker still gets its task
  auto start = std::chrono::steady_clock::now();
  std::vector<float> partial(threads, 0);
  parallel_tasks(threads, threads, [&](int64_t task) {
    float sink = 0;
    __m256 x[10];
    for (int j = 0; j < 10; ++j) x[j] = _mm256_set1_ps(1.0f + j * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 10
      for (int j = 0; j < 10; ++j) x[j] = _mm256_fmadd_ps(x[j], m, c);
    __m256 s = x[0];
    for (int j = 1; j < 10; ++j) s = _mm256_add_ps(s, x[j]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    sink += lanes[0];
    partial[task] = sink;
  });
  float sink = 0;
  for (float v : partial) sink += v;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sink != 0 ? 2.0 * 8 * 10 * iters * threads / seconds / 1e9 : 0.0;
}

}  // namespace

void fill_gemm(Table& t) {
  SgemmConfig c;
  c.kernel = sgemm_avx2_6x16;
  c.name = "sgemm_avx2_6x16";
  c.mr = kMR;
  c.nr = kNR;
  // KC = 384: the 16 x KC B sliver (24 KiB) stays in L1 while the MC x KC A block streams from L2 (L1-hot
  // kernel: KC 384 ~7% above 256); MC = 144: A block 144 x 384 x 4 B = 216 KiB of the 1+ MiB L2;
  // NC = 4080: B panel 384 x 4080 x 4 B = 6 MiB in the L3.
  c.kc = 384;
  c.mc = 144;
  c.nc = 4080;
  c.rows_outer_panel_bytes = 256 << 10;   // B panels within 256 KiB stay in the L2 across row tiles
  c.pack_a_row_major = pack_a_row_major_6;
  c.pack_b_col_major = pack_b_col_major_16;
  c.pack_a_col_major = pack_a_col_major_6;
  c.pack_b_row_major = pack_b_row_major_16;
  t.sgemm = c;
  t.fma_peak_gflops = fma_peak_gflops;
}

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
