// The kernel table: one function pointer per compute primitive, filled once at start-up with the best
// implementation the CPU supports (ref < avx2 < avx512). Kernels take raw pointers and sizes only.
#pragma once
#include <cstdint>

#include "kernels/attention/attention_rows.h"
#include "kernels/gemm/microkernel.h"
#include "kernels/optim.h"

namespace ember {
namespace kernels {

// out[i] = a[i*sa] (op) b[i*sb] for i < n, with sa, sb in {0, 1} (0 = broadcast scalar). float32.
using BinaryF32 = void (*)(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n);
// y[i] = f(x[i]); x and y contiguous, may alias.
using UnaryF32 = void (*)(const float* x, float* y, int64_t n);
// gx[i] = gy[i] * f'(...) where `saved` is the forward input x or output y, as named per entry.
using UnaryBackwardF32 = void (*)(const float* saved, const float* gy, float* gx, int64_t n);
// Row-wise over a (rows, cols) contiguous matrix.
using RowsF32 = void (*)(const float* x, float* y, int64_t rows, int64_t cols);
using RowsBackwardF32 = void (*)(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols);
// Softmax cross-entropy rows, x (rows, cols) contiguous logits. lse[r] = log(sum_c exp(x[r, c])), shifted by the
// row max (which it is when infinite; NaN when the row holds one).
using LogsumexpRowsF32 = void (*)(const float* x, float* lse, int64_t rows, int64_t cols);
// y[r, c] = scale[r] * (exp(x[r, c] - lse[r]) - offset): the loss gradient but for the target's own term.
// Binary cross-entropy from logits over n elements: loss = (1 - y) x + (1 + (pw - 1) y) softplus(-x); backward
// grad_x = g (sigmoid(x) (pw y + 1 - y) - pw y), grad_y = g ((pw - 1) softplus(-x) - x). pos_weight (pw) may be
// null (1), as may either gradient output.
using BceLogitsF32 = void (*)(const float* x, const float* y, const float* pos_weight, float* loss, int64_t n);
using BceLogitsBackwardF32 = void (*)(const float* x, const float* y, const float* pos_weight, const float* g,
                                      float* grad_x, float* grad_y, int64_t n);
using CrossEntropyGradRowsF32 = void (*)(const float* x, const float* lse, const float* scale, float offset, float* y,
                                         int64_t rows, int64_t cols);
// Layer norm of (rows, cols) rows; see x86_common/rows.h. The backward adds into float partials (cols) for the
// weight and bias gradients (null: not wanted) and writes gx (null: not wanted).
// 2x2 stride-2 max pool of one (2 OH.., 2 OW..) plane with row length W: y (OH, OW), indices (OH, OW) flat
// ih * W + iw (or null); see kernels/conv/pool.h.
using MaxPool2x2F32 = void (*)(const float* x, float* y, int64_t* indices, int64_t W, int64_t OH, int64_t OW);
using LayerNormRowsF32 = void (*)(const float* x, const float* weight, const float* bias, float* y, float* mean,
                                  float* rstd, int64_t rows, int64_t cols, double eps);
using LayerNormBackwardRowsF32 = void (*)(const float* x, const float* gy, const float* mean, const float* rstd,
                                          const float* weight, float* gx, float* partial_w, float* partial_b,
                                          int64_t rows, int64_t cols);

struct Table {
  const char* isa = "ref";
  BinaryF32 add, sub, mul, div, maximum, minimum;
  UnaryF32 neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, gelu, gelu_tanh, silu;
  UnaryBackwardF32 relu_backward, gelu_backward, gelu_tanh_backward, silu_backward;   // saved = x
  UnaryBackwardF32 sigmoid_backward, tanh_backward;                                  // saved = y
  double (*sum)(const float* x, int64_t n);   // accumulated in float lanes, returned as double
  float (*max)(const float* x, int64_t n);    // n >= 1; NaN propagates
  RowsF32 softmax_rows, log_softmax_rows;
  RowsBackwardF32 softmax_backward_rows, log_softmax_backward_rows;   // saved = y
  LogsumexpRowsF32 logsumexp_rows;
  CrossEntropyGradRowsF32 cross_entropy_grad_rows;
  BceLogitsF32 bce_logits;
  BceLogitsBackwardF32 bce_logits_backward;
  double (*squared_distance)(const float* a, const float* b, int64_t n);   // sum((a - b)^2), accumulated as sum
  void (*scaled_difference)(const float* a, const float* b, float scale, float* out, int64_t n);   // scale (a - b)
  LayerNormRowsF32 layer_norm_rows;
  LayerNormBackwardRowsF32 layer_norm_backward_rows;
  MaxPool2x2F32 max_pool_2x2;
  // GEMM (kernels/gemm/): the sgemm micro-kernel with its tile and blocking; an FMA throughput probe.
  SgemmConfig sgemm;
  double (*fma_peak_gflops)(int threads);   // measured FMA throughput of this ISA level, GFLOP/s
  // Optimizer steps (kernels/optim.h), float32; float64 uses kernels::ref::*_f64 at every level.
  SgdStep<float> sgd_step;
  AdamStep<float> adam_step;
  AdagradStep<float> adagrad_step;
  RmspropStep<float> rmsprop_step;
  AttentionRows attention;                  // flash-attention row primitives (kernels/attention/)
};

// The active table (resolved once, thread-safe). EMBER_ISA=ref|avx2|avx512 forces a level.
const Table& table();
// A table for a given level, for tests; returns nullptr when the CPU lacks it. level: "ref", "avx2", "avx512".
const Table* table_for(const char* level);

namespace ref { void fill(Table& t); void fill_gemm(Table& t); }
namespace avx2 { void fill(Table& t); void fill_gemm(Table& t); }
namespace avx512 { void fill(Table& t); void fill_gemm(Table& t); }
namespace ref { void fill_optim(Table& t); }
namespace avx2 { void fill_optim(Table& t); }
namespace avx512 { void fill_optim(Table& t); }
namespace ref { void fill_attention(Table& t); }
namespace avx2 { void fill_attention(Table& t); }
namespace avx512 { void fill_attention(Table& t); }

}  // namespace kernels
}  // namespace ember
