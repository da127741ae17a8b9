// Fused scaled-dot-product attention on raw pointers: the flash forward/backward drivers (float32; tiled
// Q K^T and P V on the sgemm micro-kernel of a kernels::Table, online softmax, no T x S matrix) and a plain
// row-at-a-time reference (float32/float64; the float64 path and a test oracle). No Tensor, no autograd.
#pragma once
#include <cstdint>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {

// A batch of matrices, one per (batch, head) index bh: matrix bh starts at data + offsets[bh], its rows are
// row_stride elements apart (0 = one row repeated, masks only) and its columns are contiguous.
template <typename T>
struct BatchedMatrix {
  T* data = nullptr;
  const int64_t* offsets = nullptr;   // (batch_heads)
  int64_t row_stride = 0;
  T* of(int64_t bh) const { return data + offsets[bh]; }
};

// Dropout on the attention probabilities: element (bh, i, j) is kept iff the top 24 bits of
// bits(first, (bh * T + i) * S + j), as a fraction of 2^24, are >= p; kept ones are scaled by 1 / (1 - p).
// The same draws in forward and backward (a counter-based generator), so no mask is stored.
struct AttentionDropout {
  double p = 0.0;
  uint64_t first = 0;
  uint64_t (*bits)(uint64_t first, uint64_t i) = nullptr;
  bool active() const { return p > 0.0; }
  float keep_scale() const { return p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p)); }
  // 0 or keep_scale() for element counter `i`.
  float factor(uint64_t i) const {
    const double u = static_cast<double>(bits(first, i) >> 40) * (1.0 / 16777216.0);
    return u >= p ? keep_scale() : 0.0f;
  }
};

template <typename Element>
struct AttentionProblem {
  int64_t batch_heads = 0, T = 0, S = 0, D = 0, Dv = 0;   // queries T, keys S, head dims D (q, k) and Dv (v)
  double scale = 1.0;
  bool causal = false;                 // top-left aligned: query i attends key j iff j <= i
  BatchedMatrix<const Element> q;      // (T, D) each
  BatchedMatrix<const Element> k;      // (S, D)
  BatchedMatrix<const Element> v;      // (S, Dv)
  BatchedMatrix<const Element> mask;   // (T, S) additive (-inf = masked), or data == nullptr
  AttentionDropout dropout;
  BatchedMatrix<Element> out;          // (T, Dv), written by the forward
  Element* lse = nullptr;              // (batch_heads, T) contiguous: log-sum-exp per row (+inf: fully masked)
  // backward only
  BatchedMatrix<const Element> out_const;   // (T, Dv): the forward's output
  BatchedMatrix<const Element> dout;   // (T, Dv)
  BatchedMatrix<Element> dq, dk, dv;   // (T, D), (S, D), (S, Dv), overwritten
  BatchedMatrix<Element> dmask;        // (T, S): the gradient of the scores (= of an additive mask), written
                                       // where a query attends a key (zero elsewhere is the caller's), or null
};

// Flash attention with the micro-kernel and row primitives of `table`; threads via parallel_for.
// Forward writes out and lse. Backward reads q, k, v, mask, dropout, out_const, dout, lse; writes dq, dk, dv
// (and dmask when given).
void flash_attention_forward(const Table& table, const AttentionProblem<float>& problem);
void flash_attention_backward(const Table& table, const AttentionProblem<float>& problem);

// The same contract computed one query row at a time in T's arithmetic (parallel over batch_heads).
template <typename T>
void reference_attention_forward(const AttentionProblem<T>& problem);
template <typename T>
void reference_attention_backward(const AttentionProblem<T>& problem);

}  // namespace kernels
}  // namespace ember
