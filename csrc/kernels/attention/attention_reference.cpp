// Reference attention, one query row at a time in the problem's arithmetic (float64 for gradcheck, float32 as
// a test oracle): the scores of a row are materialised (S values), never the T x S matrix. Same contract,
// masking and dropout draws as the flash drivers (attention.h). Parallel over batch x heads only.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ember/threads.h"
#include "kernels/attention/attention.h"

namespace ember {
namespace kernels {
namespace {

// Probabilities of query row i of matrix bh: p[j] = exp(s_j - lse) (0 where masked); returns the row's lse.
// When `lse_known` is given it is used instead of being computed (the backward).
template <typename T>
T row_probabilities(const AttentionProblem<T>& pr, int64_t bh, int64_t i, std::vector<T>& p, const T* lse_known) {
  const T* q = pr.q.of(bh) + i * pr.q.row_stride;
  const T* mask = pr.mask.data ? pr.mask.of(bh) + i * pr.mask.row_stride : nullptr;
  const int64_t valid = pr.causal ? std::min(pr.S, i + 1) : pr.S;
  const T neg_inf = -std::numeric_limits<T>::infinity();
  T max_score = neg_inf;
  for (int64_t j = 0; j < pr.S; ++j) {
    if (j >= valid) { p[j] = neg_inf; continue; }
    const T* k = pr.k.of(bh) + j * pr.k.row_stride;
    T dot = 0;
    for (int64_t d = 0; d < pr.D; ++d) dot += q[d] * k[d];
    p[j] = dot * static_cast<T>(pr.scale) + (mask ? mask[j] : T(0));
    max_score = std::max(max_score, p[j]);
  }
  T lse;
  if (lse_known) {
    lse = *lse_known;
  } else if (max_score == neg_inf) {
    lse = std::numeric_limits<T>::infinity();
  } else {
    T sum = 0;
    for (int64_t j = 0; j < pr.S; ++j) sum += p[j] == neg_inf ? T(0) : std::exp(p[j] - max_score);
    lse = max_score + std::log(sum);
  }
  for (int64_t j = 0; j < pr.S; ++j) p[j] = p[j] == neg_inf ? T(0) : std::exp(p[j] - lse);
  return lse;
}

// keep[j]: the dropout factor of (bh, i, j) (1 without dropout).
template <typename T>
void row_dropout(const AttentionProblem<T>& pr, int64_t bh, int64_t i, std::vector<T>& keep) {
  const uint64_t base = static_cast<uint64_t>((bh * pr.T + i) * pr.S);
  for (int64_t j = 0; j < pr.S; ++j) keep[j] = pr.dropout.active() ? pr.dropout.factor(base + j) : T(1);
}

// Small problems stay on the calling thread.
template <typename T>
int64_t grain(const AttentionProblem<T>& pr) {
  const double flops = 2.0 * pr.T * pr.S * (pr.D + pr.Dv) + 1.0;
  return std::max<int64_t>(1, static_cast<int64_t>(2.0e5 / flops));
}

}  // namespace

template <typename T>
void reference_attention_forward(const AttentionProblem<T>& pr) {
  parallel_for(pr.batch_heads, grain(pr), [&](int64_t begin, int64_t end) {
    std::vector<T> p(pr.S), keep(pr.S);
    for (int64_t bh = begin; bh < end; ++bh)
      for (int64_t i = 0; i < pr.T; ++i) {
        pr.lse[bh * pr.T + i] = row_probabilities<T>(pr, bh, i, p, nullptr);
        row_dropout(pr, bh, i, keep);
        T* o = pr.out.of(bh) + i * pr.out.row_stride;
        for (int64_t e = 0; e < pr.Dv; ++e) o[e] = 0;
        for (int64_t j = 0; j < pr.S; ++j) {
          const T w = p[j] * keep[j];
          if (w == T(0)) continue;
          const T* v = pr.v.of(bh) + j * pr.v.row_stride;
          for (int64_t e = 0; e < pr.Dv; ++e) o[e] += w * v[e];
        }
      }
  });
}

template <typename T>
void reference_attention_backward(const AttentionProblem<T>& pr) {
  const T scale = static_cast<T>(pr.scale);
  parallel_for(pr.batch_heads, grain(pr), [&](int64_t begin, int64_t end) {
    std::vector<T> p(pr.S), keep(pr.S);
    for (int64_t bh = begin; bh < end; ++bh) {
      for (int64_t i = 0; i < pr.T; ++i) {
        T* dq = pr.dq.of(bh) + i * pr.dq.row_stride;
        for (int64_t d = 0; d < pr.D; ++d) dq[d] = 0;
      }
      for (int64_t j = 0; j < pr.S; ++j) {
        T* dk = pr.dk.of(bh) + j * pr.dk.row_stride;
        T* dv = pr.dv.of(bh) + j * pr.dv.row_stride;
        for (int64_t d = 0; d < pr.D; ++d) dk[d] = 0;
        for (int64_t e = 0; e < pr.Dv; ++e) dv[e] = 0;
      }
      for (int64_t i = 0; i < pr.T; ++i) {
        row_probabilities(pr, bh, i, p, pr.lse + bh * pr.T + i);
        row_dropout(pr, bh, i, keep);
        const T* q = pr.q.of(bh) + i * pr.q.row_stride;
        const T* o = pr.out_const.of(bh) + i * pr.out_const.row_stride;
        const T* dout = pr.dout.of(bh) + i * pr.dout.row_stride;
        T* dq = pr.dq.of(bh) + i * pr.dq.row_stride;
        T delta = 0;
        for (int64_t e = 0; e < pr.Dv; ++e) delta += dout[e] * o[e];
        T* dmask = pr.dmask.data ? pr.dmask.of(bh) + i * pr.dmask.row_stride : nullptr;
        for (int64_t j = 0; j < pr.S; ++j) {
          if (dmask) dmask[j] = 0;
          if (p[j] == T(0)) continue;
          const T* k = pr.k.of(bh) + j * pr.k.row_stride;
          const T* v = pr.v.of(bh) + j * pr.v.row_stride;
          T* dk = pr.dk.of(bh) + j * pr.dk.row_stride;
          T* dv = pr.dv.of(bh) + j * pr.dv.row_stride;
          T dp = 0;
          for (int64_t e = 0; e < pr.Dv; ++e) {
            dv[e] += p[j] * keep[j] * dout[e];
            dp += dout[e] * v[e];
          }
          const T dscore = p[j] * (dp * keep[j] - delta);
          if (dmask) dmask[j] = dscore;
          const T ds = dscore * scale;
          for (int64_t d = 0; d < pr.D; ++d) {
            dq[d] += ds * k[d];
            dk[d] += ds * q[d];
          }
        }
      }
    }
  });
}

template void reference_attention_forward<float>(const AttentionProblem<float>&);
template void reference_attention_forward<double>(const AttentionProblem<double>&);
template void reference_attention_backward<float>(const AttentionProblem<float>&);
template void reference_attention_backward<double>(const AttentionProblem<double>&);

}  // namespace kernels
}  // namespace ember
