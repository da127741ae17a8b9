// Building blocks shared by the flash attention forward and backward drivers: block sizes, aligned scratch,
// packing of Q/K/V/dO into micro-kernel B slivers, and a small-GEMM loop over packed B with per-row-group
// limits (for causal tile skipping). Private to kernels/attention/.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/attention/attention.h"
#include "kernels/gemm/sgemm_pack.h"

namespace ember {
namespace kernels {
namespace flash {

// Query block: a multiple of MR near 48 rows. Key block: 64 keys (a multiple of every NR: 8, 16, 32).
inline int64_t query_block(const SgemmConfig& cfg) { return (48 + cfg.mr - 1) / cfg.mr * cfg.mr; }
inline int64_t key_block(const SgemmConfig& cfg) { return (64 + cfg.nr - 1) / cfg.nr * cfg.nr; }

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// A 64-byte-aligned float buffer owned by one scope (never inside the tile loops).
class Scratch {
 public:
  explicit Scratch(int64_t floats) {
    const size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(floats, 1) * 4, 64));
    data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!data_) throw std::bad_alloc();
  }
  ~Scratch() { std::free(data_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* get() const { return data_; }

 private:
  float* data_ = nullptr;
};

// Floats of X^T (cols x rows) packed as B: ceil(rows / NR) slivers of cols x NR, rounded to 16 floats.
inline int64_t transposed_pack_size(const SgemmConfig& cfg, int64_t rows, int64_t cols) {
  return round_up(ceil_div(rows, cfg.nr) * cfg.nr * cols, 16);
}
// Floats of X (rows x cols) packed as B: ceil(cols / NR) slivers of rows x NR, rounded to 16 floats.
inline int64_t direct_pack_size(const SgemmConfig& cfg, int64_t rows, int64_t cols) {
  return round_up(ceil_div(cols, cfg.nr) * cfg.nr * rows, 16);
}

// x is (rows, cols), row stride x_rs. Packs B = x^T (cols deep, rows wide): sliver s (rows s*NR..) at
// packed + s * cols * NR, element (c, j) at [c * NR + j], zero-padded past `rows`.
inline void pack_transposed(const SgemmConfig& cfg, const float* x, int64_t x_rs, int64_t rows, int64_t cols,
                            float* packed) {
  const int64_t slivers = ceil_div(rows, cfg.nr);
  if (cfg.pack_b_col_major) cfg.pack_b_col_major(x, x_rs, cols, rows, 0, slivers, packed);
  else pack_b_slivers(x, 1, x_rs, cols, rows, cfg.nr, 0, slivers, packed);
}

// x is (rows, cols), row stride x_rs. Packs B = x (rows deep, cols wide): sliver s (cols s*NR..) at
// packed + s * rows * NR, element (r, j) at [r * NR + j], zero-padded past `cols`. Rows r0.. of sliver s
// start at packed + s * rows * NR + r0 * NR.
inline void pack_direct(const SgemmConfig& cfg, const float* x, int64_t x_rs, int64_t rows, int64_t cols,
                        float* packed) {
  pack_b_slivers(x, x_rs, 1, rows, cols, cfg.nr, 0, ceil_div(cols, cfg.nr), packed);
}

// The part of a product that rows [r0, r0 + m) need: depth [k_begin, k_end) and columns [0, n_end).
struct RowLimits {
  int64_t k_begin, k_end, n_end;
};

// C (m, n) = alpha * A (m, k) B (k, n) + beta * C over tiles of MR x NR, with B packed in slivers (sliver s at
// b + s * b_sliver_stride, element (p, j) at [p * NR + j]). A is strided: element (i, p) at a[i*a_rs + p*a_ks].
// limits(r0, m) narrows the depth and columns a row group needs; tiles outside are not computed (C keeps
// whatever it had). Depth offsets must keep b 64-byte aligned (true for any offset when NR >= 16).
template <typename Limits>
void packed_product(const SgemmConfig& cfg, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t a_rs, int64_t a_ks, const float* b, int64_t b_sliver_stride, float beta, float* c,
                    int64_t c_rs, Limits limits) {
  const int MR = cfg.mr, NR = cfg.nr;
  SgemmTile t;
  t.a_packed = false;
  t.a_row_stride = a_rs;
  t.a_k_stride = a_ks;
  t.c_row_stride = c_rs;
  t.alpha = alpha;
  t.beta = beta;
  t.bias = nullptr;
  t.bias_per_row = false;
  t.act = GemmActivation::None;
  for (int64_t r0 = 0; r0 < m; r0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, m - r0));
    RowLimits lim = limits(r0, rows);
    lim.k_begin = std::max<int64_t>(lim.k_begin, 0);
    lim.k_end = std::min(lim.k_end, k);
    lim.n_end = std::min(lim.n_end, n);
    if (lim.k_end <= lim.k_begin || lim.n_end <= 0) continue;
    t.k = lim.k_end - lim.k_begin;
    t.a = a + r0 * a_rs + lim.k_begin * a_ks;
    t.m = rows;
    for (int64_t c0 = 0; c0 < lim.n_end; c0 += NR) {
      t.b = b + (c0 / NR) * b_sliver_stride + lim.k_begin * NR;
      t.c = c + r0 * c_rs + c0;
      t.n = static_cast<int>(std::min<int64_t>(NR, lim.n_end - c0));
      cfg.kernel(t);
    }
  }
}

inline RowLimits full_limits(int64_t k, int64_t n) { return {0, k, n}; }

}  // namespace flash
}  // namespace kernels
}  // namespace ember
