// The direct stride-1 convolution kernels at the "ref" level: the shared algorithm (conv/direct_impl.inc) over a
// one-lane scalar "vector", so the direct path is testable (and correct) on any CPU.
#include <cstdint>

#include "kernels/conv/conv.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

struct Vec {
  using reg = float;
  static constexpr int L = 1;
  static constexpr int kForwardAcc = 4, kForwardChannelPass = 16, kForwardMaxCo = 4, kGradCo = 2, kGradTaps = 2;
  static reg zero() { return 0.0f; }
  static reg loadu(const float* p) { return *p; }
  static void storeu(float* p, reg v) { *p = v; }
  static reg set1(float v) { return v; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg add(reg a, reg b) { return a + b; }
  static reg relu(reg v) { return v < 0.0f ? 0.0f : v; }   // NaN stays NaN
  static void store_lanes(float* p, uint32_t mask, reg v) {
    if (mask) *p = v;
  }
  static float hsum(reg v) { return v; }
};

#include "kernels/conv/direct_impl.inc"

}  // namespace

void fill_direct_conv(DirectConvKernels& k) {
  k.isa = "ref";
  k.lanes = Vec::L;
  k.forward = direct_forward;
  k.pack_forward_weights = pack_forward_weights;
  k.weight_grad = direct_weight_grad;
}

}  // namespace ref
}  // namespace kernels
}  // namespace ember
