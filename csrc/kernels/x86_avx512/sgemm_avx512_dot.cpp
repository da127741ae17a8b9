// AVX-512 narrow-N sgemm, sgemm_avx512_dot: C = act(alpha A B + beta C + bias) for up to 12 columns as dot
// products along K (kernels/gemm/microkernel.h, SgemmDotBlock). R rows of A meet all N columns of B^T per
// 16-float step in R x N zmm accumulators: every FMA is fed by full-vector loads, none by a broadcast, and
// neither operand is packed or transposed. This is a classifier head's forward (x W^T, N = classes).
// GCC 12 warns about _mm512_undefined_* inside its own intrinsic headers (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/kernels.h"
#include "kernels/x86_avx512/gemm_shared.h"

namespace ember {
namespace kernels {
namespace avx512 {
namespace {

// Rows [i, i + rows) of the block, rows <= R (missing rows re-read row i; their sums are never stored).
template <int N, int R>
void dot_rows(const SgemmDotBlock& d, int64_t i, int rows) {
  __m512 acc[R][N];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 12
    for (int j = 0; j < N; ++j) acc[r][j] = _mm512_setzero_ps();
  const float* a[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) a[r] = d.a + (i + (r < rows ? r : 0)) * d.a_row_stride;
  const float* bt = d.bt;
  const int64_t ldb = d.bt_col_stride;
  for (int64_t p = 0; p < d.k; p += 16) {
    const __mmask16 lanes = d.k - p >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (d.k - p)) - 1u);
    __m512 x[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) x[r] = _mm512_maskz_loadu_ps(lanes, a[r] + p);
#pragma GCC unroll 12
    for (int j = 0; j < N; ++j) {
      const __m512 w = _mm512_maskz_loadu_ps(lanes, bt + j * ldb + p);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(x[r], w, acc[r][j]);
    }
  }

  const __mmask16 cols = static_cast<__mmask16>((1u << N) - 1u);
  const __m512 col_bias = d.bias && !d.bias_per_row ? _mm512_maskz_loadu_ps(cols, d.bias) : _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {   // constant r: the accumulators stay in registers through the k loop
    if (r >= rows) break;
    alignas(64) float sums[16] = {};
#pragma GCC unroll 12
    for (int j = 0; j < N; ++j) sums[j] = _mm512_reduce_add_ps(acc[r][j]);
    __m512 v = _mm512_mul_ps(_mm512_load_ps(sums), _mm512_set1_ps(d.alpha));
    float* c = d.c + (i + r) * d.c_row_stride;
    if (d.beta != 0.0f) v = _mm512_fmadd_ps(_mm512_set1_ps(d.beta), _mm512_maskz_loadu_ps(cols, c), v);
    if (d.bias) v = _mm512_add_ps(v, d.bias_per_row ? _mm512_set1_ps(d.bias[i + r]) : col_bias);
    if (d.act != GemmActivation::None) v = activate(v, d.act);
    _mm512_mask_storeu_ps(c, cols, v);
  }
}

// R rows a step: 2 for wide heads (24 accumulators), 4 when N <= 6 (loads then stay under the FMAs).
template <int N>
void dot_block(const SgemmDotBlock& d) {
  constexpr int R = N <= 6 ? 4 : 2;
  for (int64_t i = 0; i < d.m; i += R) dot_rows<N, R>(d, i, static_cast<int>(std::min<int64_t>(R, d.m - i)));
}

}  // namespace

// B (k x n, row stride rsB, n <= 16) into n K-contiguous columns: 16 rows at a time, one transpose.
void pack_dot_b(const float* b, int64_t rsB, int64_t k, int n, float* bt) {
  const __mmask16 cols = static_cast<__mmask16>((1u << n) - 1u);
  for (int64_t p0 = 0; p0 < k; p0 += 16) {
    const int rows = static_cast<int>(std::min<int64_t>(16, k - p0));
    __m512 r[16];
    for (int q = 0; q < 16; ++q)
      r[q] = q < rows ? _mm512_maskz_loadu_ps(cols, b + (p0 + q) * rsB) : _mm512_setzero_ps();
    transpose16x16(r);
    const __mmask16 keep = static_cast<__mmask16>((1u << rows) - 1u);
    for (int j = 0; j < n; ++j) _mm512_mask_storeu_ps(bt + j * k + p0, keep, r[j]);
  }
}

void sgemm_dot(const SgemmDotBlock& d) {
  switch (d.n) {
    case 1: return dot_block<1>(d);
    case 2: return dot_block<2>(d);
    case 3: return dot_block<3>(d);
    case 4: return dot_block<4>(d);
    case 5: return dot_block<5>(d);
    case 6: return dot_block<6>(d);
    case 7: return dot_block<7>(d);
    case 8: return dot_block<8>(d);
    case 9: return dot_block<9>(d);
    case 10: return dot_block<10>(d);
    case 11: return dot_block<11>(d);
    case 12: return dot_block<12>(d);
    default: return;
  }
}

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
