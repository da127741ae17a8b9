// The convolution paths behind ops/conv.cpp (internal): each computes the forward or the backward of one
// convolution on contiguous raw data, choosing threads itself. The op layer validates and records autograd.
#pragma once
#include "kernels/conv/conv.h"
#include "kernels/kernels.h"
#include "ember/conv.h"

namespace ember {
namespace conv_paths {

struct ConvRun {
  kernels::ConvGeometry geo;
  ConvPath path = ConvPath::Im2col;                   // never Auto here
  bool relu = false;                                  // forward epilogue
  const kernels::Table* table = nullptr;              // GEMM micro-kernels of the chosen ISA level
  const kernels::DirectConvKernels* direct = nullptr; // direct kernels of the same level
};

// y (N, C_out, OH, OW) = act(conv(x (N, C_in, H, W), w (C_out, C_in/g, KH, KW)) + bias (C_out, or null)).
template <typename T>
void forward(const ConvRun& run, const T* x, const T* w, const T* bias, T* y);

// From dy (N, C_out, OH, OW) (the activation's mask already applied): dx (N, C_in, H, W) and dw (C_out, C_in/g,
// KH, KW), each skipped when null. Bias gradients are the op layer's (a plain sum).
template <typename T>
void backward(const ConvRun& run, const T* x, const T* w, const T* dy, T* dx, T* dw);

}  // namespace conv_paths
}  // namespace ember
