// Reference kernels of the fused softmax cross-entropy (class-index and probability targets) and of
// embedding lookup / scatter-add. The log-softmax is never stored: the forward keeps logsumexp per position and
// the backward recomputes softmax from it. Accumulation in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/nn.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

// logsumexp over the C logits of one position, which are `L` apart.
template <typename T>
double logsumexp(const T* x, int64_t C, int64_t L) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < C; ++c) m = std::max(m, static_cast<double>(x[c * L]));
  if (std::isinf(m)) return m;   // all -inf (or +inf present): the result is that infinity
  // exp in T (float exp is several times faster than double exp); the sum in double
  const T shift = static_cast<T>(m);
  double s = 0.0;
  for (int64_t c = 0; c < C; ++c) s += static_cast<double>(std::exp(x[c * L] - shift));
  return m + std::log(s);
}

}  // namespace

template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* weight, T* loss, T* lse, int64_t C,
                           int64_t L, int64_t p_begin, int64_t p_end, int64_t ignore_index, double smoothing) {
  const double uniform = smoothing / static_cast<double>(C);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t n = p / L, l = p % L;
    const T* x = logits + n * C * L + l;
    const double m = logsumexp(x, C, L);
    lse[p] = static_cast<T>(m);
    const int64_t t = target[p];
    if (t == ignore_index) {
      loss[p] = T(0);
      continue;
    }
    double value = (1.0 - smoothing) * (weight ? static_cast<double>(weight[t]) : 1.0) *
                   (m - static_cast<double>(x[t * L]));
    if (smoothing > 0) {
      double smooth = 0.0;
      for (int64_t c = 0; c < C; ++c)
        smooth += (weight ? static_cast<double>(weight[c]) : 1.0) * (m - static_cast<double>(x[c * L]));
      value += uniform * smooth;
    }
    loss[p] = static_cast<T>(value);
  }
}

template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* weight, const T* lse,
                            const T* grad_loss, T* grad_logits, int64_t C, int64_t L, int64_t p_begin,
                            int64_t p_end, int64_t ignore_index, double smoothing) {
  const double uniform = smoothing / static_cast<double>(C);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t n = p / L, l = p % L;
    const T* x = logits + n * C * L + l;
    T* g = grad_logits + n * C * L + l;
    const int64_t t = target[p];
    if (t == ignore_index) {
      for (int64_t c = 0; c < C; ++c) g[c * L] = T(0);
      continue;
    }
    // sum_k w_k q_k with q = (1 - smoothing) onehot(t) + smoothing / C
    double total = (1.0 - smoothing) * (weight ? static_cast<double>(weight[t]) : 1.0);
    if (smoothing > 0) {
      double wsum = 0.0;
      for (int64_t c = 0; c < C; ++c) wsum += weight ? static_cast<double>(weight[c]) : 1.0;
      total += uniform * wsum;
    }
    const double scale = grad_loss[p];
    const T lse_t = lse[p];
    for (int64_t c = 0; c < C; ++c) {
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double q = (c == t ? 1.0 - smoothing : 0.0) + uniform;
      const double prob = static_cast<double>(std::exp(x[c * L] - lse_t));
      g[c * L] = static_cast<T>(scale * (prob * total - w * q));
    }
  }
}

template <typename T>
void cross_entropy_prob_forward(const T* logits, const T* probs, const T* weight, T* loss, T* lse, int64_t C,
                                int64_t L, int64_t p_begin, int64_t p_end, double smoothing) {
  const double uniform = smoothing / static_cast<double>(C);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t n = p / L, l = p % L;
    const T* x = logits + n * C * L + l;
    const T* q = probs + n * C * L + l;
    const double m = logsumexp(x, C, L);
    lse[p] = static_cast<T>(m);
    double value = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double qc = (1.0 - smoothing) * static_cast<double>(q[c * L]) + uniform;
      if (qc == 0.0) continue;   // 0 * (lse - x) is 0 even where x = -inf
      value += (weight ? static_cast<double>(weight[c]) : 1.0) * qc * (m - static_cast<double>(x[c * L]));
    }
    loss[p] = static_cast<T>(value);
  }
}

template <typename T>
void cross_entropy_prob_backward(const T* logits, const T* probs, const T* weight, const T* lse,
                                 const T* grad_loss, T* grad_logits, int64_t C, int64_t L, int64_t p_begin,
                                 int64_t p_end, double smoothing) {
  const double uniform = smoothing / static_cast<double>(C);
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t n = p / L, l = p % L;
    const T* x = logits + n * C * L + l;
    const T* q = probs + n * C * L + l;
    T* g = grad_logits + n * C * L + l;
    double total = 0.0;
    for (int64_t c = 0; c < C; ++c)
      total += (weight ? static_cast<double>(weight[c]) : 1.0) *
               ((1.0 - smoothing) * static_cast<double>(q[c * L]) + uniform);
    const double scale = grad_loss[p];
    const T lse_t = lse[p];
    for (int64_t c = 0; c < C; ++c) {
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double qc = (1.0 - smoothing) * static_cast<double>(q[c * L]) + uniform;
      const double prob = static_cast<double>(std::exp(x[c * L] - lse_t));
      g[c * L] = static_cast<T>(scale * (prob * total - w * qc));
    }
  }
}

template <typename T>
void nll_forward(const T* logp, const int64_t* target, const T* weight, T* loss, int64_t C, int64_t L,
                 int64_t p_begin, int64_t p_end, int64_t ignore_index) {
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t t = target[p];
    if (t == ignore_index) {
      loss[p] = T(0);
      continue;
    }
    const T value = logp[((p / L) * C + t) * L + p % L];
    loss[p] = -(weight ? weight[t] * value : value);
  }
}

template <typename T>
void nll_backward(const int64_t* target, const T* weight, const T* grad_loss, T* grad_logp, int64_t C, int64_t L,
                  int64_t p_begin, int64_t p_end, int64_t ignore_index) {
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t t = target[p];
    if (t == ignore_index) continue;
    grad_logp[((p / L) * C + t) * L + p % L] = -(weight ? weight[t] : T(1)) * grad_loss[p];
  }
}

template <typename T>
void embedding_forward(const T* weight, const int64_t* indices, T* out, int64_t n, int64_t D) {
  for (int64_t i = 0; i < n; ++i) std::copy(weight + indices[i] * D, weight + (indices[i] + 1) * D, out + i * D);
}

template <typename T>
void embedding_backward(const T* grad_out, const int64_t* indices, T* grad_weight, int64_t n, int64_t D,
                        int64_t padding_idx, int64_t d_begin, int64_t d_end) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = indices[i];
    if (row == padding_idx) continue;
    const T* g = grad_out + i * D;
    T* gw = grad_weight + row * D;
    for (int64_t d = d_begin; d < d_end; ++d) gw[d] += g[d];
  }
}

#define EMBER_LOSS_INSTANTIATE(T)                                                                              \
  template void cross_entropy_forward<T>(const T*, const int64_t*, const T*, T*, T*, int64_t, int64_t, int64_t,  \
                                         int64_t, int64_t, double);                                            \
  template void cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, const T*, T*, int64_t,   \
                                          int64_t, int64_t, int64_t, int64_t, double);                         \
  template void cross_entropy_prob_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t, int64_t,   \
                                              int64_t, double);                                                \
  template void cross_entropy_prob_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t,    \
                                               int64_t, int64_t, int64_t, double);                             \
  template void nll_forward<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t, int64_t, int64_t,       \
                               int64_t);                                                                      \
  template void nll_backward<T>(const int64_t*, const T*, const T*, T*, int64_t, int64_t, int64_t, int64_t,      \
                                int64_t);                                                                     \
  template void embedding_forward<T>(const T*, const int64_t*, T*, int64_t, int64_t);                           \
  template void embedding_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);
EMBER_LOSS_INSTANTIATE(float)
EMBER_LOSS_INSTANTIATE(double)
#undef EMBER_LOSS_INSTANTIATE

}  // namespace ref
}  // namespace kernels
}  // namespace ember
