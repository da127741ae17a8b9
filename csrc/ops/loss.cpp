// cross_entropy as ONE fused op (log-softmax + NLL forward saving logsumexp; backward softmax - target in one
// kernel) with class weights, ignore_index, label smoothing and probability targets; nll_loss; and the reduced
// MSE, Huber and smooth L1 losses (one pass each way). Reductions
// are PyTorch's: 'mean' divides by the summed target weights (class targets) or the batch size (probabilities).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/kernels.h"
#include "kernels/nn.h"
#include "ember/ops.h"

namespace ember {
namespace {

constexpr int64_t kGrain = 16384;

// The (N, C, L) view of an input (N, C, d1, ...) or (C); what a class target's shape must be.
struct LossLayout {
  int64_t N = 1, C = 1, L = 1;
  Shape target_shape;
};

LossLayout loss_layout(const Tensor& input, const char* op) {
  EMBER_CHECK(is_floating(input.dtype()), TypeError, op, ": expected a floating point input, got ",
              dtype_name(input.dtype()));
  EMBER_CHECK(input.dim() >= 1, ValueError, op, ": expected an input of shape (C), (N, C) or (N, C, d1, ...), got a 0-d tensor");
  LossLayout layout;
  if (input.dim() == 1) {
    layout.C = input.shape()[0];
    return layout;
  }
  layout.N = input.shape()[0];
  layout.C = input.shape()[1];
  layout.target_shape.push_back(layout.N);
  for (int64_t d = 2; d < input.dim(); ++d) {
    layout.L *= input.shape()[d];
    layout.target_shape.push_back(input.shape()[d]);
  }
  EMBER_CHECK(layout.C > 0, ValueError, op, ": the input has 0 classes (shape ", shape_str(input.shape()), ")");
  return layout;
}

// Class-index checks, done before any computation: dtype, shape and range.
void check_class_target(const Tensor& target, const LossLayout& layout, int64_t ignore_index, const Tensor& input,
                        const char* op) {
  EMBER_CHECK(target.dtype() == DType::Int64, TypeError, op, ": expected class-index targets of dtype int64 (or ",
              "probabilities of the input's dtype and shape), got ", dtype_name(target.dtype()), " of shape ",
              shape_str(target.shape()));
  EMBER_CHECK(target.shape() == layout.target_shape, ValueError, op, ": expected a target of shape ",
              shape_str(layout.target_shape), " for an input of shape ", shape_str(input.shape()), ", got ",
              shape_str(target.shape()));
  Tensor t = contiguous(target);
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    EMBER_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < layout.C), IndexError, op, ": target ", p[i],
                " is out of bounds for ", layout.C, " classes (valid: 0..", layout.C - 1, " or ignore_index=",
                ignore_index, ")");
  }
}

Tensor checked_weight(const Tensor& weight, const LossLayout& layout, DType dtype, const char* op) {
  if (!weight.defined()) return Tensor();
  EMBER_CHECK(weight.dim() == 1 && weight.shape()[0] == layout.C, ValueError, op, ": expected a weight of shape ",
              shape_str({layout.C}), " (one per class), got ", shape_str(weight.shape()));
  EMBER_CHECK(is_floating(weight.dtype()), TypeError, op, ": expected a floating point weight, got ",
              dtype_name(weight.dtype()));
  EMBER_CHECK(!(weight.requires_grad() && autograd::grad_enabled()), NotImplementedError, op,
              ": the derivative for 'weight' is not implemented");
  return contiguous(to_dtype(detach(weight), dtype));
}

// Sum of w[target] over the positions not ignored (their count without weights): the 'mean' denominator.
template <typename T>
double target_weight_sum(const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  const int64_t* t = target.data<int64_t>();
  double total = 0.0;
  for (int64_t i = 0; i < target.numel(); ++i)
    if (t[i] != ignore_index) total += weight.defined() ? static_cast<double>(weight.data<T>()[t[i]]) : 1.0;
  return total;
}

// Reduces per-position losses (N, L) to the op's output.
Tensor reduce_loss(const Tensor& losses, Reduction reduction, double denominator, const Shape& none_shape) {
  if (reduction == Reduction::None) return view(losses, none_shape);
  Tensor total = sum(losses);
  if (reduction == Reduction::Sum) return total;
  return binary(BinaryOp::Div, total, Scalar(denominator));
}

// The common case: float32 logits with contiguous classes (L == 1), class targets, no class weights. The kernel
// table's SIMD rows take the logsumexp and the gradient (5-10x the double-precision reference); per row only
// the target's term (and the smoothing sum) remain.
bool simd_path(const Tensor& x, const Tensor& w, const LossLayout& layout, bool probability_target) {
  return x.dtype() == DType::Float32 && layout.L == 1 && !probability_target && !w.defined();
}

void simd_forward(const float* x, const int64_t* target, float* loss, float* lse, int64_t C, int64_t p0, int64_t p1,
                  int64_t ignore_index, double smoothing) {
  const kernels::Table& k = kernels::table();
  k.logsumexp_rows(x + p0 * C, lse + p0, p1 - p0, C);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t t = target[p];
    if (t == ignore_index) {
      loss[p] = 0.0f;
      continue;
    }
    const double m = lse[p];
    double value = (1.0 - smoothing) * (m - x[p * C + t]);
    if (smoothing > 0) value += smoothing / static_cast<double>(C) * (static_cast<double>(C) * m - k.sum(x + p * C, C));
    loss[p] = static_cast<float>(value);
  }
}

void simd_backward(const float* x, const int64_t* target, const float* lse, const float* scale, float* g, int64_t C,
                   int64_t p0, int64_t p1, int64_t ignore_index, double smoothing) {
  kernels::table().cross_entropy_grad_rows(x + p0 * C, lse + p0, scale + p0, static_cast<float>(smoothing / C),
                                           g + p0 * C, p1 - p0, C);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t t = target[p];
    if (t == ignore_index) std::fill(g + p * C, g + (p + 1) * C, 0.0f);
    else g[p * C + t] -= static_cast<float>(scale[p] * (1.0 - smoothing));
  }
}

// The per-position gradient scale (N*L) from the upstream gradient of the reduced loss.
Tensor position_scale(const Tensor& grad, Reduction reduction, double denominator, int64_t positions, DType dtype) {
  if (reduction == Reduction::None) return contiguous(reshape(grad, {positions}));
  double g = item(grad);
  return full({positions}, Scalar(reduction == Reduction::Mean ? g / denominator : g), dtype);
}

struct CrossEntropyBackward : autograd::Node {
  autograd::SavedTensor logits, target, weight, lse;
  LossLayout layout;
  Reduction reduction = Reduction::Mean;
  double denominator = 1.0, smoothing = 0.0;
  int64_t ignore_index = -100;
  bool probability_target = false;
  const char* name() const override { return "CrossEntropyLossBackward0"; }
  void release_saved() override { logits.reset(); target.reset(); weight.reset(); lse.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor x = contiguous(logits.get()), t = contiguous(target.get()), w = weight.get(), m = lse.get();
    const int64_t positions = layout.N * layout.L, C = layout.C, L = layout.L;
    Tensor scale = position_scale(grads[0], reduction, denominator, positions, x.dtype());
    Tensor grad_x, grad_t;
    if (next_edges[0].fn) {
      grad_x = empty(x.shape(), x.dtype());
      dispatch_floating(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* wp = w.defined() ? w.data<T>() : nullptr;
        const bool simd = simd_path(x, w, layout, probability_target);
        parallel_for(positions, std::max<int64_t>(1, kGrain / C), [&](int64_t p0, int64_t p1) {
          if constexpr (std::is_same_v<T, float>) {
            if (simd)
              return simd_backward(x.data<float>(), t.data<int64_t>(), m.data<float>(), scale.data<float>(),
                                   grad_x.data<float>(), C, p0, p1, ignore_index, smoothing);
          }
          if (probability_target)
            kernels::ref::cross_entropy_prob_backward<T>(x.data<T>(), t.data<T>(), wp, m.data<T>(), scale.data<T>(),
                                                         grad_x.data<T>(), C, L, p0, p1, smoothing);
          else
            kernels::ref::cross_entropy_backward<T>(x.data<T>(), t.data<int64_t>(), wp, m.data<T>(),
                                                    scale.data<T>(), grad_x.data<T>(), C, L, p0, p1, ignore_index,
                                                    smoothing);
        });
      });
    }
    if (probability_target && next_edges[1].fn) {
      // d loss / d probs_c = -(1 - smoothing) * w_c * log_softmax(x)_c * scale
      Shape position_shape = x.dim() == 1 ? Shape{1, C, 1} : Shape{layout.N, C, L};
      Tensor log_probs = sub(view(x, position_shape), view(m, {layout.N, 1, L}));
      Tensor g = mul(log_probs, view(scale, {layout.N, 1, L}));
      if (w.defined()) g = mul(g, view(w, {1, C, 1}));
      grad_t = view(binary(BinaryOp::Mul, g, Scalar(-(1.0 - smoothing))), x.shape());
    }
    return {grad_x, grad_t, Tensor()};
  }
};

struct NllLossBackward : autograd::Node {
  autograd::SavedTensor target, weight;
  LossLayout layout;
  Shape input_shape;
  Reduction reduction = Reduction::Mean;
  double denominator = 1.0;
  int64_t ignore_index = -100;
  const char* name() const override { return "NllLossBackward0"; }
  void release_saved() override { target.reset(); weight.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor t = contiguous(target.get()), w = weight.get();
    const int64_t positions = layout.N * layout.L;
    DType dtype = grads[0].dtype();
    Tensor scale = position_scale(grads[0], reduction, denominator, positions, dtype);
    Tensor grad_x = zeros(input_shape, dtype);
    dispatch_floating(dtype, [&](auto tag) {
      using T = decltype(tag);
      kernels::ref::nll_backward<T>(t.data<int64_t>(), w.defined() ? w.data<T>() : nullptr, scale.data<T>(),
                                    grad_x.data<T>(), layout.C, layout.L, 0, positions, ignore_index);
    });
    return {grad_x, Tensor(), Tensor()};
  }
};

// The reduced regression losses of same-shape, same-dtype floating input and target, one pass each way. The sum
// runs over fixed blocks combined in order (the same result for any thread count). MSE: sum((x - y)^2), grad
// 2 (x - y) on the SIMD table. Huber: with a = |x - y| and m = min(a, delta), m (a - m/2) is 0.5 d^2 below delta
// and delta (a - delta/2) above, without a branch; grad clamp(d, -delta, delta). Smooth L1 (beta > 0) is Huber
// with delta = beta, divided by beta.
enum class Regression { Mse, Huber, SmoothL1 };
constexpr int64_t kRegressionBlock = 65536;

template <typename T>
double loss_sum(Regression kind, const T* x, const T* y, int64_t n, T delta) {
  if (kind == Regression::Mse) {
    if constexpr (std::is_same_v<T, float>) return kernels::table().squared_distance(x, y, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    return s;
  }
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const T a = std::abs(x[i] - y[i]), m = std::min(a, delta);
    s += static_cast<double>(m * (a - T(0.5) * m));
  }
  return s;
}

// grad = factor * d(loss)/dx of each element (MSE without its 2, which factor carries).
template <typename T>
void loss_gradient(Regression kind, const T* x, const T* y, T factor, T delta, T* g, int64_t n) {
  if (kind == Regression::Mse) {
    if constexpr (std::is_same_v<T, float>) return kernels::table().scaled_difference(x, y, factor, g, n);
    for (int64_t i = 0; i < n; ++i) g[i] = factor * (x[i] - y[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) g[i] = factor * std::min(std::max(x[i] - y[i], -delta), delta);
}

struct RegressionLossBackward : autograd::Node {
  autograd::SavedTensor input, target;
  Regression kind = Regression::Mse;
  double delta = 1.0, scale = 1.0;   // loss = scale * sum; smooth L1: scale = 1 / beta
  bool mean = true;
  const char* name() const override {
    return kind == Regression::Mse ? "MseLossBackward0"
           : kind == Regression::Huber ? "HuberLossBackward0" : "SmoothL1LossBackward0";
  }
  void release_saved() override { input.reset(); target.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor x = contiguous(input.get()), y = contiguous(target.get());
    const int64_t n = x.numel();
    const double factor = (kind == Regression::Mse ? 2.0 : 1.0) * item(grads[0]) * scale /
                          (mean ? static_cast<double>(n) : 1.0);
    Tensor gx = empty(x.shape(), x.dtype());
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      parallel_for(n, kRegressionBlock, [&](int64_t b, int64_t e) {
        loss_gradient<T>(kind, x.data<T>() + b, y.data<T>() + b, static_cast<T>(factor), static_cast<T>(delta),
                         gx.data<T>() + b, e - b);
      });
    });
    Tensor gy = next_edges[1].fn ? neg(gx) : Tensor();
    return {next_edges[0].fn ? gx : Tensor(), gy};
  }
};

Tensor regression_loss(const Tensor& input, const Tensor& target, Regression kind, double delta, bool mean,
                       const char* op) {
  EMBER_CHECK(is_floating(input.dtype()) && target.dtype() == input.dtype() && target.shape() == input.shape(),
              ValueError, op, ": the fused loss takes a floating input and a target of its shape and dtype");
  EMBER_CHECK(delta > 0, ValueError, op, ": the fused loss needs a positive ",
              kind == Regression::SmoothL1 ? "beta" : "delta");
  Tensor x = contiguous(detach(input)), y = contiguous(detach(target));
  const int64_t n = x.numel(), blocks = (n + kRegressionBlock - 1) / kRegressionBlock;
  std::vector<double> partial(blocks, 0.0);
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        const int64_t lo = blk * kRegressionBlock, hi = std::min(n, lo + kRegressionBlock);
        partial[blk] = loss_sum<T>(kind, x.data<T>() + lo, y.data<T>() + lo, hi - lo, static_cast<T>(delta));
      }
    });
  });
  const double scale = kind == Regression::SmoothL1 ? 1.0 / delta : 1.0;
  double total = 0.0;
  for (double v : partial) total += v;
  total *= scale;
  if (mean) total /= static_cast<double>(n);   // 0 / 0 = NaN for an empty input, as PyTorch
  Tensor out = full({}, Scalar(total), input.dtype());
  if (auto node = autograd::make_node<RegressionLossBackward>({&input, &target})) {
    node->input = autograd::SavedTensor(input);
    node->target = autograd::SavedTensor(target);
    node->kind = kind;
    node->delta = delta;
    node->scale = scale;
    node->mean = mean;
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace

Tensor mse_loss_reduced(const Tensor& input, const Tensor& target, bool mean) {
  return regression_loss(input, target, Regression::Mse, 1.0, mean, "mse_loss");
}

Tensor huber_loss_reduced(const Tensor& input, const Tensor& target, double delta, bool mean, bool smooth_l1) {
  return regression_loss(input, target, smooth_l1 ? Regression::SmoothL1 : Regression::Huber, delta, mean,
                         smooth_l1 ? "smooth_l1_loss" : "huber_loss");
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                     int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy";
  LossLayout layout = loss_layout(input, op);
  EMBER_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError, op,
              ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  const bool probability_target = is_floating(target.dtype());
  if (probability_target) {
    EMBER_CHECK(target.shape() == input.shape(), ValueError, op, ": probability targets must have the input's shape ",
                shape_str(input.shape()), ", got ", shape_str(target.shape()));
    EMBER_CHECK(target.dtype() == input.dtype(), TypeError, op, ": probability targets must have the input's dtype ",
                dtype_name(input.dtype()), ", got ", dtype_name(target.dtype()));
  } else {
    check_class_target(target, layout, ignore_index, input, op);
  }
  Tensor w = checked_weight(weight, layout, input.dtype(), op);
  Tensor x = contiguous(detach(input)), t = contiguous(detach(target));
  const int64_t positions = layout.N * layout.L, C = layout.C, L = layout.L;
  Tensor losses = empty({positions}, input.dtype()), lse = empty({positions}, input.dtype());
  double denominator = static_cast<double>(positions);
  dispatch_floating(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* wp = w.defined() ? w.data<T>() : nullptr;
    const bool simd = simd_path(x, w, layout, probability_target);
    parallel_for(positions, std::max<int64_t>(1, kGrain / C), [&](int64_t p0, int64_t p1) {
      if constexpr (std::is_same_v<T, float>) {
        if (simd)
          return simd_forward(x.data<float>(), t.data<int64_t>(), losses.data<float>(), lse.data<float>(), C, p0, p1,
                              ignore_index, label_smoothing);
      }
      if (probability_target)
        kernels::ref::cross_entropy_prob_forward<T>(x.data<T>(), t.data<T>(), wp, losses.data<T>(), lse.data<T>(),
                                                    C, L, p0, p1, label_smoothing);
      else
        kernels::ref::cross_entropy_forward<T>(x.data<T>(), t.data<int64_t>(), wp, losses.data<T>(),
                                               lse.data<T>(), C, L, p0, p1, ignore_index, label_smoothing);
    });
    if (!probability_target) denominator = target_weight_sum<T>(t, w, ignore_index);
  });
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = reduce_loss(losses, reduction, denominator, probability_target ? layout.target_shape : target.shape());
  }
  if (auto node = autograd::make_node<CrossEntropyBackward>({&input, &target, &weight})) {
    node->logits = autograd::SavedTensor(input);
    node->target = autograd::SavedTensor(target);
    node->weight = autograd::SavedTensor(w);
    node->lse = autograd::SavedTensor(lse);
    node->layout = layout;
    node->reduction = reduction;
    node->denominator = denominator;
    node->smoothing = label_smoothing;
    node->ignore_index = ignore_index;
    node->probability_target = probability_target;
    autograd::set_history(out, node);
  }
  return out;
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                int64_t ignore_index) {
  const char* op = "nll_loss";
  LossLayout layout = loss_layout(input, op);
  check_class_target(target, layout, ignore_index, input, op);
  Tensor w = checked_weight(weight, layout, input.dtype(), op);
  Tensor x = contiguous(detach(input)), t = contiguous(detach(target));
  const int64_t positions = layout.N * layout.L;
  Tensor losses = empty({positions}, input.dtype());
  double denominator = 1.0;
  dispatch_floating(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::ref::nll_forward<T>(x.data<T>(), t.data<int64_t>(), w.defined() ? w.data<T>() : nullptr,
                                 losses.data<T>(), layout.C, layout.L, 0, positions, ignore_index);
    denominator = target_weight_sum<T>(t, w, ignore_index);
  });
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = reduce_loss(losses, reduction, denominator, target.shape());
  }
  if (auto node = autograd::make_node<NllLossBackward>({&input, &target, &weight})) {
    node->target = autograd::SavedTensor(target);
    node->weight = autograd::SavedTensor(w);
    node->layout = layout;
    node->input_shape = input.shape();
    node->reduction = reduction;
    node->denominator = denominator;
    node->ignore_index = ignore_index;
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace ember
