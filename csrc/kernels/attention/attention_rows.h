// The per-ISA row primitives of flash attention (ref/, x86_avx2/, x86_avx512/ fill them into kernels::Table):
// the online-softmax step and the final row normalisation of the forward, and the softmax gradient of the
// backward, on one score tile; and the scores and weighted sum of the few-query (decoding) forward.
// Raw pointers and sizes only. A tile has `rows` x `cols` scores; row r of it is query i0 + r, column c key
// j0 + c. Causal masking: column c of row r is valid iff c <= r + causal_diagonal (causal_diagonal = i0 - j0);
// pass kNoDiagonal for none. Invalid or -inf-masked scores give probability exactly 0.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

constexpr int64_t kNoDiagonal = int64_t{1} << 40;

// Number of valid columns of tile row r (0..cols) under the causal rule above.
inline int attention_valid_cols(int r, int cols, int64_t causal_diagonal) {
  int64_t n = static_cast<int64_t>(r) + causal_diagonal + 1;
  return static_cast<int>(n < 0 ? 0 : (n > cols ? cols : n));
}

// One online-softmax step. scores (rows, cols), row stride ld: in scale * Q K^T, out the unnormalised
// probabilities exp(x - new_max) (0 beyond each row's valid columns). mask (rows, cols), row stride ld_mask
// (0 = one row for all), additive, or null. row_max, row_sum (rows): the running max and sum, updated.
// out (rows, out_cols), row stride ld_out: the running output, multiplied by exp(old_max - new_max).
// A row whose max stays -inf keeps probabilities 0, sum 0 and max -inf.
using AttentionSoftmaxStep = void (*)(float* scores, int64_t ld, const float* mask, int64_t ld_mask, int rows,
                                      int cols, int64_t causal_diagonal, float* row_max, float* row_sum, float* out,
                                      int64_t ld_out, int out_cols);

// The softmax gradient of one tile. scores (rows, cols), row stride ld: in scale * Q K^T, out P =
// exp(x + mask - lse). dscores (rows, cols), row stride ld: in dP, out dS = P * (dP - delta). Both 0 beyond
// each row's valid columns. mask as above or null; lse, delta (rows): log-sum-exp (+inf for a fully masked
// row) and rowsum(dO * O) of the tile's queries.
using AttentionSoftmaxGrad = void (*)(float* scores, float* dscores, int64_t ld, const float* mask, int64_t ld_mask,
                                      int rows, int cols, int64_t causal_diagonal, const float* lse,
                                      const float* delta);

// The forward's last step: out row r (out_cols wide, row stride ld_out) divided by row_sum[r]; rows whose sum is
// 0 (fully masked) are left as they are.
using AttentionNormalizeRows = void (*)(float* out, int64_t ld_out, int rows, int out_cols, const float* row_sum);

// For up to kDecodeRows query rows (decoding), K and V read in place. Scores: out[r * ld_out + j] = scale * (sum
// over d < dim of q[r * ld_q + d] * k[j * ld_k + d]), for r < rows, j < n.
constexpr int kDecodeRows = 8;
using AttentionScoresRows = void (*)(const float* q, int64_t ld_q, int rows, const float* k, int64_t ld_k, int n,
                                     int dim, float scale, float* out, int64_t ld_out);
// out[r * ld_out + c] = sum over j < n of w[r * ld_w + j] * x[j * ld_x + c], for r < rows (<= kDecodeRows),
// c < cols (overwritten; n = 0 gives zeros).
using AttentionWeightedSums = void (*)(const float* w, int64_t ld_w, int rows, const float* x, int64_t ld_x, int n,
                                       int cols, float* out, int64_t ld_out);

// base2: the primitives take exponentials base 2: scores arrive in log2(e) * scale * Q K^T units (the drivers fold
// log2 e into the packed K), masks and lse stay natural (the primitives scale them), row_max is in score units.
// exp2 costs fewer multiplies than exp (no ln 2 range reduction): AVX2 T1024 fwd+bwd ~-3%.
struct AttentionRows {
  bool base2 = false;
  AttentionSoftmaxStep softmax_step = nullptr;
  AttentionNormalizeRows normalize_rows = nullptr;
  AttentionScoresRows scores_rows = nullptr;
  AttentionWeightedSums weighted_sums = nullptr;
  AttentionSoftmaxGrad softmax_grad = nullptr;
};

}  // namespace kernels
}  // namespace ember
