// Scalar reference of the flash-attention row primitives (kernels/attention/attention_rows.h): the fallback
// without AVX2 and the oracle the SIMD versions are tested against.
#include <cmath>
#include <limits>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline float exp_or_zero(float x) { return x == kNegInf ? 0.0f : std::exp(x); }

void softmax_step(float* scores, int64_t ld, const float* mask, int64_t ld_mask, int rows, int cols,
                  int64_t causal_diagonal, float* row_max, float* row_sum, float* out, int64_t ld_out, int out_cols) {
  for (int r = 0; r < rows; ++r) {
    float* s = scores + r * ld;
    const float* m = mask ? mask + r * ld_mask : nullptr;
    const int n = attention_valid_cols(r, cols, causal_diagonal);
    float tile_max = kNegInf;
    for (int c = 0; c < n; ++c) {
      if (m) s[c] += m[c];
      tile_max = std::fmax(tile_max, s[c]);
    }
    const float new_max = std::fmax(row_max[r], tile_max);
    if (new_max == kNegInf) {
      for (int c = 0; c < cols; ++c) s[c] = 0.0f;
      continue;
    }
    const float correction = exp_or_zero(row_max[r] - new_max);
    float sum = 0.0f;
    for (int c = 0; c < n; ++c) {
      s[c] = exp_or_zero(s[c] - new_max);
      sum += s[c];
    }
    for (int c = n; c < cols; ++c) s[c] = 0.0f;
    row_sum[r] = row_sum[r] * correction + sum;
    row_max[r] = new_max;
    if (correction != 1.0f && out)
      for (int c = 0; c < out_cols; ++c) out[r * ld_out + c] *= correction;
  }
}

void normalize_rows(float* out, int64_t ld_out, int rows, int out_cols, const float* row_sum) {
  for (int r = 0; r < rows; ++r) {
    if (row_sum[r] == 0.0f) continue;
    const float inverse = 1.0f / row_sum[r];
    for (int c = 0; c < out_cols; ++c) out[r * ld_out + c] *= inverse;
  }
}

void scores_rows(const float* q, int64_t ld_q, int rows, const float* k, int64_t ld_k, int n, int dim, float scale,
                 float* out, int64_t ld_out) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int d = 0; d < dim; ++d) sum += q[r * ld_q + d] * k[j * ld_k + d];
      out[r * ld_out + j] = scale * sum;
    }
}

void weighted_sums(const float* w, int64_t ld_w, int rows, const float* x, int64_t ld_x, int n, int cols, float* out,
                   int64_t ld_out) {
  for (int r = 0; r < rows; ++r) {
    float* o = out + r * ld_out;
    for (int c = 0; c < cols; ++c) o[c] = 0.0f;
    for (int j = 0; j < n; ++j)
      for (int c = 0; c < cols; ++c) o[c] += w[r * ld_w + j] * x[j * ld_x + c];
  }
}

void softmax_grad(float* scores, float* dscores, int64_t ld, const float* mask, int64_t ld_mask, int rows, int cols,
                  int64_t causal_diagonal, const float* lse, const float* delta) {
  for (int r = 0; r < rows; ++r) {
    float* s = scores + r * ld;
    float* ds = dscores + r * ld;
    const float* m = mask ? mask + r * ld_mask : nullptr;
    const int n = attention_valid_cols(r, cols, causal_diagonal);
    for (int c = 0; c < n; ++c) {
      const float p = exp_or_zero((m ? s[c] + m[c] : s[c]) - lse[r]);
      s[c] = p;
      ds[c] = p * (ds[c] - delta[r]);
    }
    for (int c = n; c < cols; ++c) s[c] = ds[c] = 0.0f;
  }
}

}  // namespace

void fill_attention(Table& t) {
  t.attention.softmax_step = softmax_step;
  t.attention.normalize_rows = normalize_rows;
  t.attention.scores_rows = scores_rows;
  t.attention.weighted_sums = weighted_sums;
  t.attention.softmax_grad = softmax_grad;
}

}  // namespace ref
}  // namespace kernels
}  // namespace ember
