// AVX-512 sgemm micro-kernel sgemm_avx512_12x32: the AVX2 6x16 kernel's logic with zmm registers, a 12x32
// tile in 24 accumulators (12 rows x 2 vectors), A broadcast from a packed or strided sliver, B from the
// packed sliver (or read in place). Edge tiles use mask registers; alpha, beta, bias and ReLU/GELU are applied
// in registers. A tile with n <= 16 runs a 12x16 variant. Also the FMA probe for zmm.
// GCC 12 warns about _mm512_undefined_* inside its own intrinsic headers (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "ember/threads.h"

#include "kernels/kernels.h"
#include "kernels/x86_avx512/gemm_shared.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

constexpr int kMR = 12, kNR = 32;

// C tile = act(alpha * acc + beta * C + bias) for the valid m x n part (fully unrolled: constant indices).
template <int NV>
__attribute__((always_inline)) inline void store_tile(const SgemmTile& t, __m512 (&acc)[kMR][NV]) {
  if (t.m == kMR && t.n == 16 * NV && t.alpha == 1.0f && !t.bias && t.act == GemmActivation::None && !t.pre &&
      (t.beta == 0.0f || t.beta == 1.0f)) {
    // The common full tile, C = acc or C += acc: no per-element conditions (short-k tiles are store-bound).
    const bool add = t.beta == 1.0f;
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) {
      float* c = t.c + i * t.c_row_stride;
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v)
        _mm512_storeu_ps(c + 16 * v, add ? _mm512_add_ps(acc[i][v], _mm512_loadu_ps(c + 16 * v)) : acc[i][v]);
    }
    return;
  }
  const int last_lanes = t.n - 16 * (NV - 1);
  const bool partial = last_lanes < 16;
  const __mmask16 mask = static_cast<__mmask16>((1u << last_lanes) - 1u);
  const __m512 alpha = _mm512_set1_ps(t.alpha), beta = _mm512_set1_ps(t.beta);
  const bool scale = t.alpha != 1.0f, use_beta = t.beta != 0.0f;
  const bool col_bias = t.bias && !t.bias_per_row, row_bias = t.bias && t.bias_per_row;
  __m512 bias[NV];
#pragma GCC unroll 2
  for (int v = 0; v < NV; ++v) {
    bias[v] = _mm512_setzero_ps();
    if (col_bias)
      bias[v] = (v == NV - 1 && partial) ? _mm512_maskz_loadu_ps(mask, t.bias + 16 * v) : _mm512_loadu_ps(t.bias + 16 * v);
  }
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i) {
    if (i >= t.m) break;
    float* c = t.c + i * t.c_row_stride;
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) {
      const bool masked = v == NV - 1 && partial;
      __m512 x = acc[i][v];
      if (scale) x = _mm512_mul_ps(x, alpha);
      if (use_beta) {
        __m512 old = masked ? _mm512_maskz_loadu_ps(mask, c + 16 * v) : _mm512_loadu_ps(c + 16 * v);
        x = _mm512_fmadd_ps(beta, old, x);
      }
      if (col_bias) x = _mm512_add_ps(x, bias[v]);
      if (row_bias) x = _mm512_add_ps(x, _mm512_set1_ps(t.bias[i]));
      if (t.pre) {
        float* pre = t.pre + i * t.c_row_stride + 16 * v;
        if (masked) _mm512_mask_storeu_ps(pre, mask, x);
        else _mm512_storeu_ps(pre, x);
      }
      if (t.act != GemmActivation::None) x = activate(x, t.act);
      if (masked) _mm512_mask_storeu_ps(c + 16 * v, mask, x);
      else _mm512_storeu_ps(c + 16 * v, x);
    }
  }
}

// NV = vectors of 16 columns computed (1 or 2); kPackedA: A sliver packed (element (i, p) at a[p*MR + i]);
// kPackedB: B a packed sliver, else read in place (b_k_stride floats a k step, unaligned).
template <int NV, bool kPackedA, bool kPackedB = true>
void tile_kernel(const SgemmTile& t) {
  __m512 acc[kMR][NV];
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  // Bring the C tile toward L1 while a long k loop runs (first and last column of each row).
  for (int i = 0; t.k >= 64 && i < t.m; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(t.c + i * t.c_row_stride), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(t.c + i * t.c_row_stride + t.n - 1), _MM_HINT_T0);
  }

  const float* b = t.b;
  const int64_t k = t.k, b_step = kPackedB ? kNR : t.b_k_stride;
  if (kPackedA || (t.a_row_stride == 1 && t.m == kMR)) {
    // A packed, or a full column-major sliver (a transposed view, as X^T in X^T dY): 12 contiguous floats
    // a k step from one pointer, the next step a_step floats on (prefetched 8 steps ahead when strided).
    const float* a = t.a;
    const int64_t a_step = kPackedA ? kMR : t.a_k_stride, ahead = kPackedA ? 128 : 8 * a_step;
#pragma GCC unroll 4
    for (int64_t p = 0; p < k; ++p) {
      _mm_prefetch(reinterpret_cast<const char*>(a + ahead), _MM_HINT_T0);
      const __m512 b0 = kPackedB ? _mm512_load_ps(b) : _mm512_loadu_ps(b);
      const __m512 b1 = NV == 1 ? b0 : kPackedB ? _mm512_load_ps(b + 16) : _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
      for (int i = 0; i < kMR; ++i) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        if (NV > 1) acc[i][NV - 1] = _mm512_fmadd_ps(ai, b1, acc[i][NV - 1]);
      }
      a += a_step;
      b += b_step;
    }
  } else {
    // Rows past m point at row 0 (valid memory); their results are never stored.
    const float* rows[kMR];
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) rows[i] = t.a + (i < t.m ? i : 0) * t.a_row_stride;
    const int64_t ks = t.a_k_stride;
    int64_t offset = 0;
#pragma GCC unroll 2
    for (int64_t p = 0; p < k; ++p) {
      const __m512 b0 = kPackedB ? _mm512_load_ps(b) : _mm512_loadu_ps(b);
      const __m512 b1 = NV == 1 ? b0 : kPackedB ? _mm512_load_ps(b + 16) : _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
      for (int i = 0; i < kMR; ++i) {
        const __m512 ai = _mm512_set1_ps(rows[i][offset]);
        acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
        if (NV > 1) acc[i][NV - 1] = _mm512_fmadd_ps(ai, b1, acc[i][NV - 1]);
      }
      offset += ks;
      b += b_step;
    }
  }
  store_tile<NV>(t, acc);
}

// Row-major A block (mc, kc) into 12-row slivers: 16 k steps at a time, 12 row loads + one transpose.
void pack_a_row_major_12(const float* a, int64_t rsA, int64_t mc, int64_t kc, float* packed) {
  for (int64_t i0 = 0; i0 < mc; i0 += kMR) {
    const int m = static_cast<int>(mc - i0 < kMR ? mc - i0 : kMR);
    const float* src = a + i0 * rsA;
    float* dst = packed + i0 * kc;
    for (int64_t p0 = 0; p0 < kc; p0 += 16) {
      const int width = static_cast<int>(kc - p0 < 16 ? kc - p0 : 16);
      const __mmask16 load_mask = static_cast<__mmask16>((1u << width) - 1u);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < m ? _mm512_maskz_loadu_ps(load_mask, src + i * rsA + p0) : _mm512_setzero_ps();
      transpose16x16(r);
      for (int j = 0; j < width; ++j) _mm512_mask_storeu_ps(dst + (p0 + j) * kMR, 0x0FFF, r[j]);
    }
  }
}

// Column-major B panel (times scale) into 32-column slivers: per 16 columns x 16 k steps, 16 column loads + one
// transpose.
void pack_b_col_major_32(const float* b, int64_t csB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end,
                         float scale, float* packed) {
  const __m512 factor = _mm512_set1_ps(scale);
  const bool scaled = scale != 1.0f;
  for (int64_t s = s_begin; s < s_end; ++s) {
    float* dst = packed + s * kc * kNR;
    for (int half = 0; half < 2; ++half) {
      const int64_t j0 = s * kNR + half * 16;
      const int n = static_cast<int>(nc - j0 < 0 ? 0 : (nc - j0 < 16 ? nc - j0 : 16));
      const float* src = b + j0 * csB;
      for (int64_t p0 = 0; p0 < kc; p0 += 16) {
        const int width = static_cast<int>(kc - p0 < 16 ? kc - p0 : 16);
        const __mmask16 load_mask = static_cast<__mmask16>((1u << width) - 1u);
        __m512 r[16];
        for (int j = 0; j < 16; ++j)
          r[j] = j < n ? _mm512_maskz_loadu_ps(load_mask, src + j * csB + p0) : _mm512_setzero_ps();
        transpose16x16(r);
        for (int q = 0; q < width; ++q)
          _mm512_store_ps(dst + (p0 + q) * kNR + half * 16, scaled ? _mm512_mul_ps(r[q], factor) : r[q]);
      }
    }
  }
}

// Column-major A block (a transposed view) into 12-row slivers. k outer: each source column (mc contiguous
// floats) is read once, front to back, and dealt out 12 floats to each sliver.
void pack_a_col_major_12(const float* a, int64_t csA, int64_t mc, int64_t kc, float* packed) {
  const int64_t full = mc / kMR;
  const int rest = static_cast<int>(mc - full * kMR);
  const __mmask16 rest_mask = static_cast<__mmask16>((1u << rest) - 1u);
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = a + p * csA;
    float* dst = packed + p * kMR;
    for (int64_t s = 0; s < full; ++s)
      _mm512_mask_storeu_ps(dst + s * kMR * kc, 0x0FFF, _mm512_maskz_loadu_ps(0x0FFF, src + s * kMR));
    if (rest) _mm512_mask_storeu_ps(dst + full * kMR * kc, 0x0FFF, _mm512_maskz_loadu_ps(rest_mask, src + full * kMR));
  }
}

// Row-major B panel (times scale when kScaled) into 32-column slivers. k outer: each source row is read once,
// front to back, and dealt out 32 floats (two vectors, masked at the edge) to each sliver.
template <bool kScaled>
void pack_b_rows_32(const float* b, int64_t rsB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end, float scale,
                    float* packed) {
  const __m512 factor = _mm512_set1_ps(scale);
  auto times = [&](__m512 x) { return kScaled ? _mm512_mul_ps(x, factor) : x; };
  const int64_t full_end = std::min<int64_t>(s_end, nc / kNR);
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = b + p * rsB;
    float* dst = packed + p * kNR;
    int64_t s = s_begin;
    for (; s < full_end; ++s) {
      _mm512_store_ps(dst + s * kc * kNR, times(_mm512_loadu_ps(src + s * kNR)));
      _mm512_store_ps(dst + s * kc * kNR + 16, times(_mm512_loadu_ps(src + s * kNR + 16)));
    }
    for (; s < s_end; ++s) {
      const int64_t n = nc - s * kNR < kNR ? nc - s * kNR : kNR;
      const __mmask16 m0 = static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
      const __mmask16 m1 = static_cast<__mmask16>(n >= 32 ? 0xFFFFu : n <= 16 ? 0u : (1u << (n - 16)) - 1u);
      _mm512_store_ps(dst + s * kc * kNR, times(_mm512_maskz_loadu_ps(m0, src + s * kNR)));
      _mm512_store_ps(dst + s * kc * kNR + 16, times(_mm512_maskz_loadu_ps(m1, src + s * kNR + 16)));
    }
  }
}

void pack_b_row_major_32(const float* b, int64_t rsB, int64_t kc, int64_t nc, int64_t s_begin, int64_t s_end,
                         float scale, float* packed) {
  if (scale != 1.0f) pack_b_rows_32<true>(b, rsB, kc, nc, s_begin, s_end, scale, packed);
  else pack_b_rows_32<false>(b, rsB, kc, nc, s_begin, s_end, scale, packed);
}

void sgemm_avx512_12x32(const SgemmTile& t) {
  if (t.b_k_stride) {   // B in place: always a full tile width
    if (t.a_packed) tile_kernel<2, true, false>(t);
    else tile_kernel<2, false, false>(t);
    return;
  }
  if (t.n > 16) {
    if (t.a_packed) tile_kernel<2, true>(t);
    else tile_kernel<2, false>(t);
  } else {
    if (t.a_packed) tile_kernel<1, true>(t);
    else tile_kernel<1, false>(t);
  }
}

// 12 independent zmm FMA chains per thread (2 pipes x 4-cycle latency need 8).
double fma_peak_gflops(int threads) {
  const int64_t iters = 20000000;   // ~0.1 s a thread: long enough that a late-waking worker still gets its task
  auto start = std::chrono::steady_clock::now();
  std::vector<float> partial(threads, 0);
  parallel_tasks(threads, threads, [&](int64_t task) {
    float sink = 0;
    __m512 x[12];
    for (int j = 0; j < 12; ++j) x[j] = _mm512_set1_ps(1.0f + j * 1e-3f);
    const __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; ++it)
#pragma GCC unroll 12
      for (int j = 0; j < 12; ++j) x[j] = _mm512_fmadd_ps(x[j], m, c);
    __m512 s = x[0];
    for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, x[j]);
    sink += _mm512_reduce_add_ps(s);
    partial[task] = sink;
  });
  float sink = 0;
  for (float v : partial) sink += v;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sink != 0 ? 2.0 * 16 * 12 * iters * threads / seconds / 1e9 : 0.0;
}

}  // namespace

// sgemm_avx512_dot.cpp
void sgemm_dot(const SgemmDotBlock& block);
void pack_dot_b(const float* b, int64_t rsB, int64_t k, int n, float* bt);

void fill_gemm(Table& t) {
  SgemmConfig c;
  c.kernel = sgemm_avx512_12x32;
  c.name = "sgemm_avx512_12x32";
  c.mr = kMR;
  c.nr = kNR;
  // KC = 384: the 32 x KC B sliver (48 KiB) streams from L1/L2 at 2 loads per 24 FMAs, which L2 sustains,
  // while fewer K blocks mean fewer passes over C (measured: KC 384 beat 192 by ~15% on 1024^3, 1 thread).
  // A 48 KiB B sliver cannot stay in the 48 KiB L1 while A slivers stream past it, so every B panel is walked
  // rows-outer: the 18 KiB A sliver stays in L1, the B panel (<= 1 MiB: NC <= 672 at KC = 384) in the L2.
  // Measured against NC = 4096 walked sliver by sliver: squares 1024-3072 +5-10% on 1 thread, +15-23% on 2.
  // MC = 48: a packed A block (only a column-major A is packed then) just passes through the L2 (MC 48 vs 240:
  // 0-5% better, less of the L2 taken from the B panel).
  c.kc = 384;
  c.mc = 48;
  c.nc = 4096;
  c.rows_outer_panel_bytes = 1 << 20;
  c.panels_fit_rows_outer = true;
  c.pack_a_row_major = pack_a_row_major_12;
  c.pack_b_col_major = pack_b_col_major_32;
  c.pack_a_col_major = pack_a_col_major_12;
  c.pack_b_row_major = pack_b_row_major_32;
  c.dot = sgemm_dot;
  c.dot_max_n = 12;
  c.pack_dot_b = pack_dot_b;
  t.sgemm = c;
  t.fma_peak_gflops = fma_peak_gflops;
}

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
