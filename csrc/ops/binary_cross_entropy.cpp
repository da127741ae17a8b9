// Elementwise binary cross-entropy ops (from probabilities, and from logits with pos_weight), each with a fused
// backward for input and target. Class weights and the reduction are applied in Python (nn.functional).
#include <algorithm>
#include <type_traits>

#include "ember/node.h"
#include "ember/threads.h"
#include "kernels/kernels.h"
#include "kernels/nn.h"
#include "ember/ops.h"

namespace ember {
namespace {

constexpr int64_t kGrain = 16384;

void check_pair(const Tensor& input, const Tensor& target, const char* op) {
  EMBER_CHECK(is_floating(input.dtype()), TypeError, op, ": expected a floating point input, got ",
              dtype_name(input.dtype()));
  EMBER_CHECK(target.dtype() == input.dtype(), TypeError, op, ": expected a target of dtype ",
              dtype_name(input.dtype()), " (the input's), got ", dtype_name(target.dtype()));
  EMBER_CHECK(target.shape() == input.shape(), ValueError, op, ": using a target size ", shape_str(target.shape()),
              " that is different to the input size ", shape_str(input.shape()), " is not supported");
}

struct BinaryCrossEntropyBackward : autograd::Node {
  autograd::SavedTensor input, target, pos_weight;
  bool logits = false;
  const char* name() const override {
    return logits ? "BinaryCrossEntropyWithLogitsBackward0" : "BinaryCrossEntropyBackward0";
  }
  void release_saved() override { input.reset(); target.reset(); pos_weight.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor x = contiguous(input.get()), y = contiguous(target.get()), g = contiguous(grads[0]);
    Tensor pw = pos_weight.get();
    if (pw.defined()) pw = contiguous(pw);
    const bool want_x = static_cast<bool>(next_edges[0].fn), want_y = static_cast<bool>(next_edges[1].fn);
    Tensor gx = want_x ? empty(x.shape(), x.dtype()) : Tensor(), gy = want_y ? empty(x.shape(), x.dtype()) : Tensor();
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
        T* gxp = want_x ? gx.data<T>() + b : nullptr;
        T* gyp = want_y ? gy.data<T>() + b : nullptr;
        if constexpr (std::is_same_v<T, float>) {
          if (logits)
            return kernels::table().bce_logits_backward(x.data<T>() + b, y.data<T>() + b,
                                                        pw.defined() ? pw.data<T>() + b : nullptr, g.data<T>() + b,
                                                        gxp, gyp, e - b);
        }
        if (logits)
          kernels::ref::bce_logits_backward<T>(x.data<T>() + b, y.data<T>() + b, pw.defined() ? pw.data<T>() + b : nullptr,
                                               g.data<T>() + b, gxp, gyp, e - b);
        else
          kernels::ref::bce_backward<T>(x.data<T>() + b, y.data<T>() + b, g.data<T>() + b, gxp, gyp, e - b);
      });
    });
    return {gx, gy, Tensor()};
  }
};

Tensor bce_common(const Tensor& input, const Tensor& target, const Tensor& pos_weight, bool logits, const char* op) {
  check_pair(input, target, op);
  Tensor x = contiguous(detach(input)), y = contiguous(detach(target)), pw;
  if (pos_weight.defined()) {
    EMBER_CHECK(pos_weight.shape() == input.shape(), ValueError, op, ": pos_weight of shape ",
                shape_str(pos_weight.shape()), " must be expanded to the input shape ", shape_str(input.shape()));
    EMBER_CHECK(!(pos_weight.requires_grad() && autograd::grad_enabled()), NotImplementedError, op,
                ": the derivative for 'pos_weight' is not implemented");
    pw = contiguous(to_dtype(detach(pos_weight), input.dtype()));
  }
  Tensor loss = empty(input.shape(), input.dtype());
  dispatch_floating(input.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (!logits) {
      const T* xp = x.data<T>();
      for (int64_t i = 0; i < x.numel(); ++i)
        EMBER_CHECK(xp[i] >= T(0) && xp[i] <= T(1), ValueError, op,
                    ": all elements of input should be between 0 and 1, got ", xp[i]);
    }
    parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>) {
        if (logits)   // the kernel table's SIMD loop (the reference takes ~40 ns an element in double)
          return kernels::table().bce_logits(x.data<T>() + b, y.data<T>() + b, pw.defined() ? pw.data<T>() + b : nullptr,
                                             loss.data<T>() + b, e - b);
      }
      if (logits)
        kernels::ref::bce_logits_forward<T>(x.data<T>() + b, y.data<T>() + b, pw.defined() ? pw.data<T>() + b : nullptr,
                                            loss.data<T>() + b, e - b);
      else
        kernels::ref::bce_forward<T>(x.data<T>() + b, y.data<T>() + b, loss.data<T>() + b, e - b);
    });
  });
  if (auto node = autograd::make_node<BinaryCrossEntropyBackward>({&input, &target, &pos_weight})) {
    node->input = autograd::SavedTensor(input);
    node->target = autograd::SavedTensor(target);
    node->pos_weight = autograd::SavedTensor(pw);
    node->logits = logits;
    autograd::set_history(loss, node);
  }
  return loss;
}

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target) {
  return bce_common(input, target, Tensor(), false, "binary_cross_entropy");
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight) {
  return bce_common(input, target, pos_weight, true, "binary_cross_entropy_with_logits");
}

}  // namespace ember
