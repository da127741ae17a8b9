// The ISA-independent parts of the SIMD row primitives (contract: kernels/attention/attention_rows.h), which
// x86_avx2/ and x86_avx512/ instantiate: the online-softmax step and row normalisation over their vector row
// functions, Row::max (a row's running max after its valid columns, mask added in place), Row::exp (the
// probabilities in place, zeros past the valid columns; returns their sum), Row::scale (x[0, n) *= factor) and
// Row::kBase2 (its exponentials are base 2: AttentionRows::base2); and the dispatch of the few-query primitives
// on their row count.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/attention/attention_rows.h"

namespace ember {
namespace kernels {

template <typename Row>
void softmax_step_rows(float* scores, int64_t ld, const float* mask, int64_t ld_mask, int rows, int cols,
                       int64_t causal_diagonal, float* row_max, float* row_sum, float* out, int64_t ld_out,
                       int out_cols) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  // Rows go in groups: every row's max first, then the exponentials, so one row's horizontal reductions (long
  // dependency chains) overlap the next row's work instead of stalling its own (causal T = 256 forward -2.4%).
  constexpr int kGroup = 16;
  for (int g = 0; g < rows; g += kGroup) {
    const int group_rows = std::min(kGroup, rows - g);
    float new_max[kGroup];
    for (int i = 0; i < group_rows; ++i) {
      const int r = g + i;
      new_max[i] = Row::max(scores + r * ld, mask ? mask + r * ld_mask : nullptr,
                            attention_valid_cols(r, cols, causal_diagonal), row_max[r]);
    }
    for (int i = 0; i < group_rows; ++i) {
      const int r = g + i;
      float* s = scores + r * ld;
      if (new_max[i] == kNegInf) {   // every score so far masked: probabilities 0, sum and max unchanged
        std::fill(s, s + cols, 0.0f);
        continue;
      }
      const float shift = row_max[r] - new_max[i];
      const float correction = row_max[r] == kNegInf ? 0.0f : Row::kBase2 ? std::exp2(shift) : std::exp(shift);
      row_sum[r] = row_sum[r] * correction + Row::exp(s, attention_valid_cols(r, cols, causal_diagonal), cols,
                                                      new_max[i]);
      row_max[r] = new_max[i];
      if (correction != 1.0f && out) Row::scale(out + r * ld_out, out_cols, correction);
    }
  }
}

template <typename Row>
void normalize_rows_with(float* out, int64_t ld_out, int rows, int out_cols, const float* row_sum) {
  for (int r = 0; r < rows; ++r)
    if (row_sum[r] != 0.0f) Row::scale(out + r * ld_out, out_cols, 1.0f / row_sum[r]);
}

// The few-query primitives over a vector traits type V (reg, mask, width, accumulators: how many registers the
// R x J accumulators may take; tail(n): lanes [0, n) for any n; zero, set1, load / store with a mask, fmadd, sum).
// The row count R is a compile-time constant so the accumulators stay in registers.
template <typename V, int R, int J>
inline void scores_block(const float* q, int64_t ld_q, const float* k, int64_t ld_k, int j, int dim, float scale,
                         float* out, int64_t ld_out) {
  typename V::reg acc[R][J];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < J; ++u) acc[r][u] = V::zero();
  for (int d = 0; d < dim; d += V::width) {
    const typename V::mask m = V::tail(dim - d);
    typename V::reg kv[J];
    for (int u = 0; u < J; ++u) kv[u] = V::load(k + (j + u) * ld_k + d, m);
    for (int r = 0; r < R; ++r) {
      const typename V::reg qv = V::load(q + r * ld_q + d, m);
      for (int u = 0; u < J; ++u) acc[r][u] = V::fmadd(qv, kv[u], acc[r][u]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < J; ++u) out[r * ld_out + j + u] = scale * V::sum(acc[r][u]);
}

// Rows prefetched ahead of the few-query loops (K and V stream from memory once: hardware prefetch alone left a cold
// decoding step (B8 H8 S1024 D64, 1 thread, Zen 3) at 4.2-4.6 ms, 2.1-2.5 ms with it; 8 or 32 rows: the same).
constexpr int kAhead = 16;

// R query rows against keys [0, n), J keys at a time (each key row loaded once for all R rows; one row: 8 keys in
// flight, not 2).
template <typename V, int R>
void scores_rows_of(const float* q, int64_t ld_q, const float* k, int64_t ld_k, int n, int dim, float scale,
                    float* out, int64_t ld_out) {
  constexpr int J = std::max(1, std::min(8, V::accumulators / R));
  int j = 0;
  for (; j + J <= n; j += J) {
    for (int u = 0; u < J; ++u)   // one prefetch a 64-byte line
      for (int d = 0; d < dim; d += 16) __builtin_prefetch(k + (j + u + kAhead) * ld_k + d);
    scores_block<V, R, J>(q, ld_q, k, ld_k, j, dim, scale, out, ld_out);
  }
  for (; j < n; ++j) scores_block<V, R, 1>(q, ld_q, k, ld_k, j, dim, scale, out, ld_out);
}

// R rows of weights over C vectors of columns at a time: every row of x read once per column block.
template <typename V, int R>
void weighted_sums_of(const float* w, int64_t ld_w, const float* x, int64_t ld_x, int n, int cols, float* out,
                      int64_t ld_out) {
  constexpr int C = std::max(1, std::min(64 / V::width, V::accumulators / R));   // 64 columns a pass at most
  for (int c0 = 0; c0 < cols; c0 += C * V::width) {
    typename V::mask m[C];
    for (int u = 0; u < C; ++u) m[u] = V::tail(cols - c0 - u * V::width);
    typename V::reg acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < C; ++u) acc[r][u] = V::zero();
    for (int j = 0; j < n; ++j) {
      const float* row = x + j * ld_x + c0;
      for (int u = 0; u < C * V::width; u += 16) __builtin_prefetch(row + kAhead * ld_x + u);
      typename V::reg xv[C];
      for (int u = 0; u < C; ++u) xv[u] = V::load(row + u * V::width, m[u]);
      for (int r = 0; r < R; ++r) {
        const typename V::reg wj = V::set1(w[r * ld_w + j]);
        for (int u = 0; u < C; ++u) acc[r][u] = V::fmadd(wj, xv[u], acc[r][u]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < C; ++u) V::store(out + r * ld_out + c0 + u * V::width, acc[r][u], m[u]);
  }
}

// Calls f(std::integral_constant<int, R>()) with R = rows (1..kDecodeRows).
template <typename F>
void for_decode_rows(int rows, F&& f) {
  static_assert(kDecodeRows == 8, "one case per row count");
  switch (rows) {
    case 1: return f(std::integral_constant<int, 1>());
    case 2: return f(std::integral_constant<int, 2>());
    case 3: return f(std::integral_constant<int, 3>());
    case 4: return f(std::integral_constant<int, 4>());
    case 5: return f(std::integral_constant<int, 5>());
    case 6: return f(std::integral_constant<int, 6>());
    case 7: return f(std::integral_constant<int, 7>());
    default: return f(std::integral_constant<int, 8>());
  }
}

// The AttentionScoresRows and AttentionWeightedSums primitives for V.
template <typename V>
void scores_rows(const float* q, int64_t ld_q, int rows, const float* k, int64_t ld_k, int n, int dim, float scale,
                 float* out, int64_t ld_out) {
  for_decode_rows(rows, [&](auto r) { scores_rows_of<V, r.value>(q, ld_q, k, ld_k, n, dim, scale, out, ld_out); });
}

template <typename V>
void weighted_sums(const float* w, int64_t ld_w, int rows, const float* x, int64_t ld_x, int n, int cols, float* out,
                   int64_t ld_out) {
  for_decode_rows(rows, [&](auto r) { weighted_sums_of<V, r.value>(w, ld_w, x, ld_x, n, cols, out, ld_out); });
}

}  // namespace kernels
}  // namespace ember
