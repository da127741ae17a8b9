// The GEMM micro-kernel contract shared by the driver (kernels/gemm/) and the ISA files (ref/, x86_avx2/,
// x86_avx512/): one MR x NR tile of C from an A sliver and a packed B sliver, with the epilogue applied while
// the tile is in registers. No Tensor, no threads, no allocation.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

enum class GemmActivation : int { None = 0, Relu = 1, Gelu = 2, GeluTanh = 3 };

struct SgemmTile {
  int64_t k;                 // depth of this K block (may be 0: the tile is then beta * C + epilogue)
  const float* a;            // A sliver (MR x k): element (i, p) at a[i * a_row_stride + p * a_k_stride]
  int64_t a_row_stride;      //   packed A: 1
  int64_t a_k_stride;        //   packed A: MR
  bool a_packed;             // a is a packed, zero-padded MR x k sliver (rows >= m readable); else strided
                             //   and rows >= m are never read
  const float* b;            // packed B sliver (k x NR), 64-byte aligned: element (p, j) at b[p * NR + j],
                             //   columns >= n zero
  int64_t b_k_stride;        // 0 for a packed sliver; else B read in place: element (p, j) at
                             //   b[p * b_k_stride + j], any alignment, and n == NR
  float* c;                  // C tile (m x n): element (i, j) at c[i * c_row_stride + j]
  int64_t c_row_stride;
  int m, n;                  // valid rows (1..MR) and columns (1..NR)
  float alpha, beta;         // C = act(alpha * A B + beta * C + bias); beta == 0 never reads C
  const float* bias;         // epilogue bias at this tile's origin, or null: bias[j] per column, or bias[i]
  bool bias_per_row;         //   per row when bias_per_row
  GemmActivation act;
  float* pre;                // or null: also receives each value before the activation (c_row_stride apart)
};

using SgemmMicroKernel = void (*)(const SgemmTile& tile);
// Packs a row-major A block (mc, kc) (element (i, p) at a[i * rsA + p]) into MR-row slivers, zero-padded:
// sliver s at packed + s * MR * kc, element (i, p) at [p * MR + i]. SIMD transposes; null = generic packing.
using SgemmPackRowMajorA = void (*)(const float* a, int64_t rsA, int64_t mc, int64_t kc, float* packed);
// Packs NR-column slivers [s_begin, s_end) of a column-major B panel (kc, nc) (element (p, j) at b[p + j * csB],
// e.g. W in x W^T), times scale, into packed + s * kc * NR, element (p, j) at [p * NR + j], zero-padded.
// Null = generic. (scale is 1 for GEMM; flash attention folds its softmax scale into the K pack.)
using SgemmPackColMajorB = void (*)(const float* b, int64_t csB, int64_t kc, int64_t nc, int64_t s_begin,
                                    int64_t s_end, float scale, float* packed);

// Packs a column-major A block (mc, kc) (element (i, p) at a[i + p * csA], e.g. X^T in X^T dY) like the above.
using SgemmPackColMajorA = void (*)(const float* a, int64_t csA, int64_t mc, int64_t kc, float* packed);
// Packs slivers [s_begin, s_end) of a row-major B panel (kc, nc) (element (p, j) at b[p * rsB + j]) like the above.
using SgemmPackRowMajorB = void (*)(const float* b, int64_t rsB, int64_t kc, int64_t nc, int64_t s_begin,
                                    int64_t s_end, float scale, float* packed);

// A product with few columns (N <= the kernel's max_n, a classifier head) whose A rows and B columns are both
// contiguous along K: C (m, n) = act(alpha * A B + beta * C + bias) as m x n dot products over K. A row i at
// a + i * a_row_stride, B column j at bt + j * bt_col_stride; C (i, j) at c[i * c_row_stride + j].
struct SgemmDotBlock {
  int64_t m, n, k;
  const float* a; int64_t a_row_stride;
  const float* bt; int64_t bt_col_stride;
  float* c; int64_t c_row_stride;
  float alpha, beta;         // beta == 0 never reads C
  const float* bias;         // bias[j] per column, or bias[i] per row when bias_per_row; or null
  bool bias_per_row;
  GemmActivation act;
};
using SgemmDotKernel = void (*)(const SgemmDotBlock& block);
// Packs a row-major B (k x n, element (p, j) at b[p * rsB + j], n <= 16) for SgemmDotBlock: (j, p) at bt[j * k + p].
using SgemmPackDotB = void (*)(const float* b, int64_t rsB, int64_t k, int n, float* bt);

// A micro-kernel with its tile and the cache blocking tuned for it (see kernels/gemm/sgemm.cpp).
struct SgemmConfig {
  SgemmMicroKernel kernel = nullptr;
  const char* name = "";
  int mr = 1, nr = 1;        // tile rows and columns
  int kc = 256, mc = 128, nc = 4096;   // K block (B sliver in L1), M block (A block in L2), N block (B panel)
  int64_t rows_outer_panel_bytes = 0;  // B panels up to this size are walked row tile by row tile (sgemm.cpp)
  bool panels_fit_rows_outer = false;  // narrower NC blocks rather than a panel too big to walk rows-outer
  SgemmPackRowMajorA pack_a_row_major = nullptr;
  SgemmPackColMajorB pack_b_col_major = nullptr;
  SgemmPackColMajorA pack_a_col_major = nullptr;
  SgemmPackRowMajorB pack_b_row_major = nullptr;
  SgemmDotKernel dot = nullptr;   // optional narrow-N path (SgemmDotBlock), for n <= dot_max_n
  int dot_max_n = 0;
  SgemmPackDotB pack_dot_b = nullptr;
};

}  // namespace kernels
}  // namespace ember
