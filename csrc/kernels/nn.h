// Reference kernels of the nn layers: layer norm, batch norm, the fused softmax cross-entropy, NLL and
// embedding, for float and double. Pure compute on raw contiguous pointers; callers pick the row/channel range
// (so they can split it across threads). No Tensor, no autograd, no allocation in the loops.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {
namespace ref {

// ---- layer norm over the last `cols` elements of each row
// x, y are (rows, cols); weight, bias are (cols) or null; mean, rstd are (rows).
template <typename T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd, int64_t rows,
                        int64_t cols, double eps);
// x, grad_y, grad_x are (rows, cols); mean, rstd are (rows); weight is (cols) or null.
// grad_weight, grad_bias are (cols) accumulators (added to) or null when not wanted; grad_x may be null.
template <typename T>
void layer_norm_backward(const T* x, const T* grad_y, const T* mean, const T* rstd, const T* weight, T* grad_x,
                         double* grad_weight, double* grad_bias, int64_t rows, int64_t cols);

// The float table entries of the ref level (kernels.h LayerNormRowsF32 / LayerNormBackwardRowsF32).
void layer_norm_rows(const float* x, const float* weight, const float* bias, float* y, float* mean, float* rstd,
                     int64_t rows, int64_t cols, double eps);
void layer_norm_backward_rows(const float* x, const float* gy, const float* mean, const float* rstd,
                              const float* weight, float* gx, float* partial_w, float* partial_b, int64_t rows,
                              int64_t cols);

// ---- batch norm over channels c in [c_begin, c_end) of an (N, C, L) tensor (L = H*W, or 1)
// x is (N, C, L); mean, var_biased are (C): the per-channel batch statistics.
template <typename T>
void batch_norm_stats(const T* x, T* mean, T* var_biased, int64_t N, int64_t C, int64_t L, int64_t c_begin,
                      int64_t c_end);
// y = (x - mean) * rstd * weight + bias; x, y are (N, C, L); mean, rstd are (C); weight, bias (C) or null.
template <typename T>
void batch_norm_apply(const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, T* y, int64_t N,
                      int64_t C, int64_t L, int64_t c_begin, int64_t c_end);
// x, grad_y, grad_x are (N, C, L); mean, rstd, weight, grad_weight, grad_bias are (C) (weight and the grads may be
// null). `batch_statistics`: mean/rstd came from this batch (training), so they depend on x.
template <typename T>
void batch_norm_backward(const T* x, const T* grad_y, const T* mean, const T* rstd, const T* weight, T* grad_x,
                         T* grad_weight, T* grad_bias, int64_t N, int64_t C, int64_t L, int64_t c_begin,
                         int64_t c_end, bool batch_statistics);

// ---- softmax cross-entropy, fused. Positions p = n * L + l for p in [p_begin, p_end); logits is (N, C, L).
// The per-position target distribution q is (1 - smoothing) * onehot(target) + smoothing / C for class targets
// and (1 - smoothing) * probs + smoothing / C for probability targets; loss_p = sum_c w_c q_c (lse_p - x_c).
// target is (N, L) class indices (positions equal to ignore_index get loss 0); weight is (C) or null.
// loss, lse are (N, L).
template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* target, const T* weight, T* loss, T* lse, int64_t C,
                           int64_t L, int64_t p_begin, int64_t p_end, int64_t ignore_index, double smoothing);
// grad_logits (N, C, L) = grad_loss_p * (p_c * sum_k w_k q_k - w_c q_c); grad_loss is (N, L).
template <typename T>
void cross_entropy_backward(const T* logits, const int64_t* target, const T* weight, const T* lse,
                            const T* grad_loss, T* grad_logits, int64_t C, int64_t L, int64_t p_begin,
                            int64_t p_end, int64_t ignore_index, double smoothing);
// The same with probability targets: probs is (N, C, L).
template <typename T>
void cross_entropy_prob_forward(const T* logits, const T* probs, const T* weight, T* loss, T* lse, int64_t C,
                                int64_t L, int64_t p_begin, int64_t p_end, double smoothing);
template <typename T>
void cross_entropy_prob_backward(const T* logits, const T* probs, const T* weight, const T* lse,
                                 const T* grad_loss, T* grad_logits, int64_t C, int64_t L, int64_t p_begin,
                                 int64_t p_end, double smoothing);

// ---- negative log-likelihood of log-probabilities logp (N, C, L) at class-index targets (N, L)
// loss_p = -w_t logp_t (0 where target == ignore_index); weight (C) or null; loss is (N, L).
template <typename T>
void nll_forward(const T* logp, const int64_t* target, const T* weight, T* loss, int64_t C, int64_t L,
                 int64_t p_begin, int64_t p_end, int64_t ignore_index);
// grad_logp (N, C, L), zero-filled by the caller, gets -w_t * grad_loss_p at each target.
template <typename T>
void nll_backward(const int64_t* target, const T* weight, const T* grad_loss, T* grad_logp, int64_t C, int64_t L,
                  int64_t p_begin, int64_t p_end, int64_t ignore_index);

// ---- binary cross-entropy, elementwise (weights and reduction are applied by the caller); all arrays (n).
// loss = -(y log x + (1 - y) log(1 - x)) with each log clamped to >= -100 (PyTorch's rule).
template <typename T>
void bce_forward(const T* x, const T* y, T* loss, int64_t n);
// grad_x = g (x - y) / max(x (1 - x), 1e-12); grad_y = g (log(1 - x) - log x) (clamped logs); either may be null.
template <typename T>
void bce_backward(const T* x, const T* y, const T* grad, T* grad_x, T* grad_y, int64_t n);
// From logits, stable: loss = (1 - y) x + (1 + (pw - 1) y) softplus(-x); pos_weight pw may be null (= 1).
template <typename T>
void bce_logits_forward(const T* x, const T* y, const T* pos_weight, T* loss, int64_t n);
// grad_x = g (sigmoid(x) (pw y + 1 - y) - pw y); grad_y = g ((pw - 1) softplus(-x) - x); either may be null.
template <typename T>
void bce_logits_backward(const T* x, const T* y, const T* pos_weight, const T* grad, T* grad_x, T* grad_y,
                         int64_t n);

// ---- embedding: out[i, :] = weight[indices[i], :]; weight is (V, D), indices (n), out (n, D)
template <typename T>
void embedding_forward(const T* weight, const int64_t* indices, T* out, int64_t n, int64_t D);
// grad_weight (V, D) += grad_out rows scattered by index, skipping padding_idx (-1: none); columns [d_begin,
// d_end) only, so callers may split the columns across threads without write conflicts.
template <typename T>
void embedding_backward(const T* grad_out, const int64_t* indices, T* grad_weight, int64_t n, int64_t D,
                        int64_t padding_idx, int64_t d_begin, int64_t d_end);

}  // namespace ref
}  // namespace kernels
}  // namespace ember
