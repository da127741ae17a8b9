// Pooling kernels on raw pointers (float and double), one pass each, parallel over the N*C planes: max pooling
// (with int64 indices flat per plane, ih * W + iw, as PyTorch), average pooling, adaptive average/max pooling.
// Backward of every max pool scatters through the saved indices (no recomputation). No Tensor, no autograd.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

struct PoolGeometry {
  int64_t planes = 1, H = 1, W = 1, OH = 1, OW = 1;   // x (planes, H, W), y (planes, OH, OW)
  int64_t KH = 1, KW = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
};

// The reference 2x2 stride-2 max pool of one plane (the float table entry max_pool_2x2 of the ref level).
void max_pool_2x2_plane(const float* x, float* y, int64_t* indices, int64_t W, int64_t OH, int64_t OW);
// y = the max of each window (NaN wins, the first maximum's index is kept); indices (planes, OH, OW) or null.
template <typename T> void max_pool2d_forward(const T* x, T* y, int64_t* indices, const PoolGeometry& g);
// dx (planes, in_plane) = 0, then dx[p][indices[p][o]] += dy[p][o]; dy and indices are (planes, out_plane).
template <typename T>
void max_pool_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane, int64_t out_plane);
// divisor_override <= 0: divide by the window size, clipped to the padded input (count_include_pad) or to the input.
template <typename T>
void avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override);
template <typename T>
void avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g, bool count_include_pad, int64_t divisor_override);
// Adaptive pooling: output cell (oh, ow) covers rows [oh*H/OH, ceil((oh+1)*H/OH)) and likewise columns.
template <typename T> void adaptive_avg_pool2d_forward(const T* x, T* y, const PoolGeometry& g);
template <typename T> void adaptive_avg_pool2d_backward(const T* dy, T* dx, const PoolGeometry& g);
template <typename T> void adaptive_max_pool2d_forward(const T* x, T* y, int64_t* indices, const PoolGeometry& g);

}  // namespace kernels
}  // namespace ember
