// Convolution kernels on raw pointers (NCHW): the geometry of a 2-D convolution, im2col/col2im for the GEMM
// path, the naive reference loops (the test oracle), the plane layouts of the direct path, and the table of
// direct stride-1 SIMD kernels per ISA level. No Tensor, no autograd, no Python; a 1-D convolution is H = 1.
#pragma once
#include <cstdint>
#include <vector>

namespace ember {
namespace kernels {

struct ConvGeometry {
  int64_t N = 1, C_in = 1, H = 1, W = 1;   // input (N, C_in, H, W)
  int64_t C_out = 1, KH = 1, KW = 1;       // weight (C_out, C_in / groups, KH, KW)
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;   // asymmetric for 'same' with even kernels
  int64_t OH = 1, OW = 1;                  // output (N, C_out, OH, OW)

  int64_t c_in_group() const { return C_in / groups; }
  int64_t c_out_group() const { return C_out / groups; }
  int64_t taps() const { return KH * KW; }
  int64_t col_rows() const { return c_in_group() * KH * KW; }   // K of the GEMM path
  int64_t out_plane() const { return OH * OW; }
  int64_t in_plane() const { return H * W; }
};

// ---- im2col / col2im (GEMM path), float and double, one image and one group.
// x is (C_in/groups, H, W) contiguous; col is (C_in/groups * KH * KW, OH * OW) contiguous, zeros where the
// window reads padding.
template <typename T> void im2col(const T* x, const ConvGeometry& g, T* col);
// x (C_in/groups, H, W) += the scatter of col (C_in/groups * KH * KW, OH * OW) back onto the input positions.
template <typename T> void col2im_add(const T* col, const ConvGeometry& g, T* x);

// ---- the naive reference (direct loops over every index): the oracle for every fast path.
// x (N, C_in, H, W), w (C_out, C_in/groups, KH, KW), bias (C_out) or null, y (N, C_out, OH, OW); all contiguous.
template <typename T> void conv2d_ref_forward(const T* x, const T* w, const T* bias, T* y, const ConvGeometry& g);
// dx (N, C_in, H, W) = the gradient of the forward with respect to x, from dy (N, C_out, OH, OW).
template <typename T> void conv2d_ref_backward_input(const T* dy, const T* w, T* dx, const ConvGeometry& g);
// dw (C_out, C_in/groups, KH, KW) = the gradient with respect to w.
template <typename T> void conv2d_ref_backward_weight(const T* dy, const T* x, T* dw, const ConvGeometry& g);

// ---- the direct path (stride 1): "wide grid" planes.
// An input plane is copied into a zero-padded (hp, wp) plane followed by kDirectSlack readable floats; a
// stride-1 output position (oh, ow) is computed at flat index q = oh * wp + ow of a wide plane of
// (oh_count * wp) positions, so every tap (kh, kw) reads the contiguous run at q + kh * dh * wp + kw * dw
// and the SIMD lanes run across rows. The forward stores only the columns ow < OW, straight into the output.
constexpr int64_t kDirectSlack = 64;   // > the widest vector block, in floats
constexpr int64_t kDirectAlign = 16;   // wide gradient planes are a multiple of this many floats

// Where the forward stores wide vector k (positions k * lanes ..): its valid lanes (bit l set iff position
// k * lanes + l is a kept column of a real row) go, in order, to output offset `offset[k]` of the channel.
struct DirectStorePlan {
  std::vector<uint32_t> mask;
  std::vector<int64_t> offset;
};
DirectStorePlan direct_store_plan(int64_t rows, int64_t cols, int64_t wp, int lanes);

struct DirectForwardArgs {
  const float* x;              // (c_in, x_plane) padded input planes, each followed by kDirectSlack zeros
  int64_t c_in, x_plane;
  const float* w;              // (c_out, c_in, taps) weights, as pack_forward_weights packs these c_out channels
  const int64_t* tap_offsets;  // (taps): kh * dilation_h * wp + kw * dilation_w, kh-major
  int64_t taps;
  // Plane rows outside [data_row_begin, data_row_end) are zero padding: a block skips the tap rows (kh; each
  // taps_per_row taps, row_dilation plane rows apart) that read only those, for all its output rows.
  int64_t wp, taps_per_row, row_dilation, data_row_begin, data_row_end;
  float* y;                    // (c_out, y_channel) outputs: act(sum over ci, taps of w * x + bias)
  int64_t c_out, y_channel;
  int64_t positions;           // wide positions computed: rows * wp
  const uint32_t* store_mask;  // the DirectStorePlan of this layout for the kernels' lane count
  const int64_t* store_offset;
  const float* bias;           // (c_out) or null
  bool relu;                   // max(0, v), NaN kept
  float* partial;              // scratch: c_out * round_up(positions, 16) floats (partial sums over input channels)
};

struct DirectWeightGradArgs {
  const float* dy;             // (images, ., y_plane) wide output gradients of c_out channels, zero in the
  int64_t dy_image_stride;     //   discarded columns; image n's first channel at dy + n * dy_image_stride
  const float* x;              // (images, ., x_plane) padded input planes of c_in channels, as for the forward
  int64_t x_image_stride, x_plane, c_in;
  const int64_t* tap_offsets;  // (taps)
  int64_t taps, images, c_out, y_plane;
  float* dw;                   // (c_out, c_in, taps) contiguous, accumulated: dw += sum over images and q
};

struct DirectConvKernels {
  const char* isa = "ref";
  int lanes = 1;                                                       // floats per vector
  void (*forward)(const DirectForwardArgs& args) = nullptr;          // y = act(sum over ci, taps of w * x + b)
  // packed (c_out * c_in * taps) = w (c_out, c_in, taps) in the forward's layout for a call with these c_out
  void (*pack_forward_weights)(const float* w, int64_t c_out, int64_t c_in, int64_t taps, float* packed) = nullptr;
  void (*weight_grad)(const DirectWeightGradArgs& args) = nullptr;   // dw += sum over n, q of dy * x
};

// The direct kernels of the active ISA level (follows kernels::table(), so EMBER_ISA applies), or of a named
// level ("ref", "avx2", "avx512"; nullptr when the CPU lacks it).
const DirectConvKernels& direct_conv_kernels();
const DirectConvKernels* direct_conv_kernels_for(const char* level);

namespace ref { void fill_direct_conv(DirectConvKernels& k); }
namespace avx2 { void fill_direct_conv(DirectConvKernels& k); }
namespace avx512 { void fill_direct_conv(DirectConvKernels& k); }

// Plane layout helpers of the direct path (float). Both write only where source values go: the destination
// must already be zero everywhere else (a zero-filled buffer, reused with the same layout), so the padding,
// the gap columns and the kDirectSlack tail are never rewritten.
// dst (channels, dst_plane): each (hp, wp) plane gets src (channels, h, w) placed at (top, left) (negative =
// cropped).
void pad_planes(const float* src, int64_t channels, int64_t h, int64_t w, float* dst, int64_t dst_plane, int64_t hp,
                int64_t wp, int64_t top, int64_t left);
// dst wide (channels, dst_plane) with row stride wp gets src (channels, rows, cols) in its first cols columns.
void widen_planes(const float* src, int64_t channels, int64_t rows, int64_t cols, float* dst, int64_t dst_plane,
                  int64_t wp);

}  // namespace kernels
}  // namespace ember
