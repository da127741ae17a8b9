// The ISA-independent parts of the SIMD row primitives (contract: kernels/attention/attention_rows.h), which
// x86_avx2/ and x86_avx512/ instantiate: the online-softmax step and row normalisation over their vector row
// functions, Row::max (a row's running max after its valid columns, mask added in place), Row::exp (the
// probabilities in place, zeros past the valid columns; returns their sum) and Row::scale (x[0, n) *= factor);
// and the dispatch of the few-query primitives on their row count.
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
      const float correction = row_max[r] == kNegInf ? 0.0f : std::exp(row_max[r] - new_max[i]);
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

// Calls f(std::integral_constant<int, R>()) with R = rows (1..kDecodeRows): the few-query primitives keep R x J
// accumulators in registers, so the row count is a compile-time constant there.
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

}  // namespace kernels
}  // namespace ember
