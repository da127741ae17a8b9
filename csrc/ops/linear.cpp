// linear: y = act(x W^T + b) as one op, bias and activation fused into the GEMM epilogue. Backward:
// dY' = dY * act'(.), dX = dY' W, dW = dY'^T X, db = column sums of dY'; the transposes are strides handed to
// the GEMM driver (packing absorbs them), never materialised. Saves x, W, and y (ReLU) or the pre-activation (GELU;
// the epilogue stores it beside y).
#include <algorithm>
#include <cmath>
#include <vector>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/gemm/gemm.h"
#include "kernels/kernels.h"
#include "ops/gemm_operands.h"
#include "ember/ops.h"

namespace ember {
namespace {

using gemm_operands::as_row_matrix;
using gemm_operands::RowMatrix;

constexpr int64_t kElementGrain = 16384;   // elements per thread for the activation passes

kernels::GemmActivation gemm_activation(Activation act) {
  switch (act) {
    case Activation::Relu: return kernels::GemmActivation::Relu;
    case Activation::Gelu: return kernels::GemmActivation::Gelu;
    case Activation::GeluTanh: return kernels::GemmActivation::GeluTanh;
    default: return kernels::GemmActivation::None;
  }
}

// out[i] = g[i] * act'(saved[i]) (out may be g); saved is y for ReLU, the pre-activation for GELU.
void activation_backward(const float* saved, const float* g, float* out, int64_t n, Activation act) {
  const kernels::Table& t = kernels::table();
  // relu_backward zeroes g where its saved input is <= 0: y <= 0 exactly where the pre-activation is.
  auto f = act == Activation::Relu ? t.relu_backward : act == Activation::Gelu ? t.gelu_backward : t.gelu_tanh_backward;
  parallel_for(n, kElementGrain, [&](int64_t b, int64_t e) { f(saved + b, g + b, out + b, e - b); });
}
void activation_backward(const double* saved, const double* g_in, double* g, int64_t n, Activation act) {
  if (g != g_in) std::copy(g_in, g_in + n, g);
  for (int64_t i = 0; i < n; ++i) {
    const double x = saved[i];
    double d;
    if (act == Activation::Relu) {
      if (x <= 0.0) g[i] = 0.0;   // selected, as the float kernel (an inf gradient stays out)
      continue;
    } else if (act == Activation::Gelu) {
      d = 0.5 * (1.0 + std::erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * std::exp(-0.5 * x * x);
    } else {
      const double c = 0.79788456080286536, u = c * (x + 0.044715 * x * x * x), th = std::tanh(u);
      d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * c * (1.0 + 3.0 * 0.044715 * x * x);
    }
    g[i] *= d;
  }
}

// out[j] = sum over r of g[r * rs + j * cs] (db): each column's sum is taken in T over blocks of 256 rows, then
// in double, in block order (the same for any thread count). Threads split the row blocks (a split of the columns
// left a 256-column gradient on one thread).
template <typename T>
void column_sums(const T* g, int64_t rows, int64_t cols, int64_t rs, int64_t cs, T* out) {
  constexpr int64_t kBlockRows = 256;
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  std::vector<T> partial(static_cast<size_t>(blocks * cols), T(0));
  parallel_for(blocks, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(kBlockRows * cols, 1)),
               [&](int64_t b0, int64_t b1) {
                 for (int64_t b = b0; b < b1; ++b) {
                   T* sum = partial.data() + b * cols;
                   for (int64_t r = b * kBlockRows; r < std::min(rows, (b + 1) * kBlockRows); ++r) {
                     const T* row = g + r * rs;
                     if (cs == 1)
                       for (int64_t j = 0; j < cols; ++j) sum[j] += row[j];
                     else
                       for (int64_t j = 0; j < cols; ++j) sum[j] += row[j * cs];
                   }
                 }
               });
  for (int64_t j = 0; j < cols; ++j) {
    double total = 0.0;
    for (int64_t b = 0; b < blocks; ++b) total += static_cast<double>(partial[b * cols + j]);
    out[j] = static_cast<T>(total);
  }
}

// dY' = dY * act'(saved) (both (rows, cols) contiguous) with db = the column sums of dY', added up while
// each row is still in cache (no second pass over dY'). Tasks own blocks of kSumRows rows; each block's sums are
// taken in float in row order, then the blocks' in double in block order: the same for any thread count.
constexpr int64_t kSumRows = 64;
void activation_backward_with_sums(const float* saved, const float* g, float* out, int64_t rows, int64_t cols,
                                   Activation act, float* db) {
  const kernels::Table& t = kernels::table();
  auto f = act == Activation::Relu ? t.relu_backward
           : act == Activation::Gelu ? t.gelu_backward : t.gelu_tanh_backward;
  const int64_t blocks = (rows + kSumRows - 1) / kSumRows;
  std::vector<float> partial(static_cast<size_t>(blocks * cols), 0.0f);
  parallel_for(blocks, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(kSumRows * cols, 1)),
               [&](int64_t b0, int64_t b1) {
                 for (int64_t b = b0; b < b1; ++b) {
                   float* sum = partial.data() + b * cols;
                   for (int64_t r = b * kSumRows; r < std::min(rows, (b + 1) * kSumRows); ++r) {
                     float* row = out + r * cols;
                     f(saved + r * cols, g + r * cols, row, cols);
                     for (int64_t j = 0; j < cols; ++j) sum[j] += row[j];
                   }
                 }
               });
  for (int64_t j = 0; j < cols; ++j) {
    double total = 0.0;
    for (int64_t b = 0; b < blocks; ++b) total += static_cast<double>(partial[b * cols + j]);
    db[j] = static_cast<float>(total);
  }
}

void activation_backward_with_sums(const double* saved, const double* g, double* out, int64_t rows, int64_t cols,
                                   Activation act, double* db) {
  activation_backward(saved, g, out, rows * cols, act);
  column_sums(out, rows, cols, cols, int64_t{1}, db);
}

template <typename T>
Tensor linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act, bool keep_pre,
                      Tensor* pre_out) {
  const int64_t out_features = weight.shape()[0], in_features = weight.shape()[1];
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out_features);
  RowMatrix X = as_row_matrix(x);
  Tensor bias_c = bias.defined() && bias.strides()[0] != 1 && out_features > 1 ? gemm_operands::contiguous_copy(bias) : bias;
  Tensor y = empty(out_shape, x.dtype());
  kernels::Epilogue<T> ep;
  ep.bias = bias_c.defined() ? bias_c.data<T>() : nullptr;
  ep.act = gemm_activation(act);
  if (keep_pre) {   // the epilogue also stores the pre-activation, for the backward
    *pre_out = empty(out_shape, x.dtype());
    ep.pre = pre_out->data<T>();
  }
  kernels::gemm(X.rows, out_features, in_features, T(1), X.data<T>(), X.row_stride, X.col_stride, weight.data<T>(),
                weight.strides()[1], weight.strides()[0], T(0), y.data<T>(), out_features, 1, &ep);
  return y;
}

template <typename T>
void linear_backward(const Tensor& x, const Tensor& weight, const Tensor& saved, Activation act, const Tensor& grad,
                     Tensor* dx, Tensor* dw, Tensor* db) {
  const int64_t out_features = weight.shape()[0], in_features = weight.shape()[1];
  RowMatrix G = as_row_matrix(grad);
  const int64_t rows = G.rows;
  const T* g = G.data<T>();
  int64_t rsG = G.row_stride, csG = G.col_stride;
  Tensor g_act;
  bool db_done = false;
  if (act != Activation::None) {
    g_act = empty({rows, out_features}, x.dtype());
    T* gp = g_act.data<T>();
    const T* s = saved.data<T>();   // (rows, out) contiguous: y or the pre-activation
    if (csG == 1 && rsG == out_features && db) {
      *db = empty({out_features}, x.dtype());
      activation_backward_with_sums(s, g, gp, rows, out_features, act, db->data<T>());
      db_done = true;
    } else if (csG == 1 && rsG == out_features) {
      activation_backward(s, g, gp, rows * out_features, act);
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        T* dst = gp + r * out_features;
        const T* src = g + r * rsG;
        for (int64_t j = 0; j < out_features; ++j) dst[j] = src[j * csG];
        activation_backward(s + r * out_features, dst, dst, out_features, act);
      }
    }
    g = gp;
    rsG = out_features;
    csG = 1;
  }
  if (db && !db_done) {
    *db = empty({out_features}, x.dtype());
    column_sums(g, rows, out_features, rsG, csG, db->data<T>());
  }
  if (dx) {
    *dx = empty(x.shape(), x.dtype());
    kernels::gemm(rows, in_features, out_features, T(1), g, rsG, csG, weight.data<T>(), weight.strides()[0],
                  weight.strides()[1], T(0), dx->data<T>(), in_features, 1);
  }
  if (dw) {
    RowMatrix X = as_row_matrix(x);
    *dw = empty({out_features, in_features}, x.dtype());
    kernels::gemm(out_features, in_features, rows, T(1), g, csG, rsG, X.data<T>(), X.row_stride, X.col_stride, T(0),
                  dw->data<T>(), in_features, 1);
  }
}

struct LinearBackward : autograd::Node {
  autograd::SavedTensor x, weight, activation_input;   // activation_input: y (ReLU) or pre-activation (GELU)
  Activation act = Activation::None;
  const char* name() const override { return "LinearBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = x.get(), wv = weight.get(), saved = activation_input.get();
    Tensor dx, dw, db;
    const bool need_x = next_edges[0].fn != nullptr, need_w = next_edges[1].fn != nullptr,
               need_b = next_edges.size() > 2 && next_edges[2].fn != nullptr;
    dispatch_floating(xv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      linear_backward<T>(xv, wv, saved, act, grads[0], need_x ? &dx : nullptr, need_w ? &dw : nullptr,
                         need_b ? &db : nullptr);
    });
    return {dx, dw, db};
  }
  void release_saved() override { x.reset(); weight.reset(); activation_input.reset(); }
};

void check_linear_args(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  EMBER_CHECK(x.defined() && weight.defined(), ValueError, "linear: expected input and weight tensors");
  EMBER_CHECK(weight.dim() == 2, ValueError, "linear: weight must be 2-D (out_features, in_features), got shape ",
              shape_str(weight.shape()));
  EMBER_CHECK(x.dim() >= 1, ValueError, "linear: input must be at least 1-D, got a 0-D tensor");
  gemm_operands::check_float_dtypes(x, weight, "linear");
  EMBER_CHECK(x.shape().back() == weight.shape()[1], ValueError, "linear: input of shape ", shape_str(x.shape()),
              " has ", x.shape().back(), " features but weight of shape ", shape_str(weight.shape()), " expects ",
              weight.shape()[1]);
  if (bias.defined()) {
    EMBER_CHECK(bias.dtype() == x.dtype(), TypeError, "linear: bias dtype ", dtype_name(bias.dtype()),
                " does not match input dtype ", dtype_name(x.dtype()));
    EMBER_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], ValueError, "linear: bias must have shape (",
                weight.shape()[0], ",), got ", shape_str(bias.shape()));
  }
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act) {
  check_linear_args(x, weight, bias);
  auto node = autograd::make_node<LinearBackward>({&x, &weight, &bias});
  const bool keep_pre = node && (act == Activation::Gelu || act == Activation::GeluTanh);
  Tensor pre;
  Tensor y = dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return linear_forward<T>(x, weight, bias, act, keep_pre, &pre);
  });
  if (node) {
    node->x = autograd::SavedTensor(x);
    node->weight = autograd::SavedTensor(weight);
    if (act == Activation::Relu) node->activation_input = autograd::SavedTensor(y);
    if (keep_pre) node->activation_input = autograd::SavedTensor(pre);
    node->act = act;
    autograd::set_history(y, node);
  }
  return y;
}

}  // namespace ember
