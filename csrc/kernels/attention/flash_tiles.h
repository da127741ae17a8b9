// Building blocks shared by the flash attention forward and backward drivers: block sizes, aligned scratch,
// packing of Q/K/V/dO into micro-kernel B slivers, a small-GEMM loop over packed B with per-row-group
// limits (for causal tile skipping) that steps the thread's active Prefetcher (the next (batch, head)'s inputs).
// Private to kernels/attention/.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "kernels/attention/attention.h"
#include "kernels/gemm/sgemm_pack.h"
#include "kernels/prefetch.h"

namespace ember {
namespace kernels {
namespace flash {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Query blocks are multiples of MR, key blocks multiples of every NR (8, 16, 32). Forward: 48 queries x 256
// keys (the per-row costs of the online softmax amortise over more columns; the score tile is 48 KiB).
// Backward: 192 x 128 (three tiles live at once; the dK/dV products get 192 deep and every product runs on
// fewer, longer micro-kernel calls: 96 x 128 was ~10% faster than 48 x 64 at T = 256 and 1024, D = 64, and 192
// a further -1.5 to -2% at T = 1024 and the GPT's T = 128 on a 512 KiB L2, Zen 3, 1 thread). With an L2 that
// holds three 256 x 128 tiles (1 MiB B-panel budget), query blocks of 256: a sequence up to T = 256 is one
// block, so dK and dV take one pass (vs 96: fwd+bwd causal T = 256 -2%, GPT T = 128 -3%, full -1%, T = 1024
// -0.5%, Zen 4, 1 and 2 threads). Key blocks, not query blocks, are the backward's tasks, so neither depends on
// the thread count (results never do). Causal skipping works per MR x NR tile, independent of these.
inline int64_t query_block(const SgemmConfig& cfg) { return round_up(48, cfg.mr); }
inline int64_t forward_key_block(const SgemmConfig& cfg) { return round_up(256, cfg.nr); }
inline int64_t backward_query_block(const SgemmConfig& cfg) {
  return round_up(cfg.rows_outer_panel_bytes >= (int64_t{1} << 20) ? 256 : 192, cfg.mr);
}
inline int64_t backward_key_block(const SgemmConfig& cfg) { return round_up(128, cfg.nr); }

// Grow-only 64-byte-aligned scratch, one per thread and slot, kept across calls (no page faults per call).
// Slots: kPackSlot for one (batch, head)'s packs, kTileSlot for tile buffers, kSharedPackSlot for the packs of
// every (batch, head) that the calling thread allocates for a parallel pass.
enum ScratchSlot { kPackSlot = 0, kTileSlot = 1, kSharedPackSlot = 2, kScratchSlots = 3 };

inline float* thread_scratch(ScratchSlot slot, int64_t floats) {
  struct Buffer {
    float* data = nullptr;
    int64_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffers[kScratchSlots];
  Buffer& b = buffers[slot];
  if (floats > b.capacity) {
    std::free(b.data);
    b.data = static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(round_up(floats * 4, 64))));
    b.capacity = b.data ? floats : 0;
    if (!b.data) throw std::bad_alloc();
  }
  return b.data;
}

// Floats of X^T (cols x rows) packed as B: ceil(rows / NR) slivers of cols x NR, rounded to 16 floats.
inline int64_t transposed_pack_size(const SgemmConfig& cfg, int64_t rows, int64_t cols) {
  return round_up(ceil_div(rows, cfg.nr) * cfg.nr * cols, 16);
}
// Floats of X (rows x cols) packed as B: ceil(cols / NR) slivers of rows x NR, rounded to 16 floats.
inline int64_t direct_pack_size(const SgemmConfig& cfg, int64_t rows, int64_t cols) {
  return round_up(ceil_div(cols, cfg.nr) * cfg.nr * rows, 16);
}

// Multiplies a pack of n floats by scale (the ISA's vector multiply, in place): the generic packers' scaling.
inline void scale_pack(const Table& table, float* packed, int64_t n, float scale) {
  if (scale != 1.0f) table.mul(packed, 1, &scale, 0, packed, n);
}

// The two packers below take a scale: the softmax scale goes into the K (and Q) packs once per (batch, head),
// applied in the ISA packers' registers (no pass of its own), so every tile product runs with alpha = 1 (the
// micro-kernel's plain store; alpha != 1 cost ~150 cycles a tile).
//
// x is (rows, cols), row stride x_rs. Packs B = scale * x^T (cols deep, rows wide): sliver s (rows s*NR..) at
// packed + s * cols * NR, element (c, j) at [c * NR + j], zero-padded past `rows`.
inline void pack_transposed(const Table& table, const float* x, int64_t x_rs, int64_t rows, int64_t cols,
                            float scale, float* packed) {
  const SgemmConfig& cfg = table.sgemm;
  const int64_t slivers = ceil_div(rows, cfg.nr);
  if (cfg.pack_b_col_major) {
    cfg.pack_b_col_major(x, x_rs, cols, rows, 0, slivers, scale, packed);
  } else {
    pack_b_slivers(x, 1, x_rs, cols, rows, cfg.nr, 0, slivers, packed);
    scale_pack(table, packed, slivers * cfg.nr * cols, scale);
  }
}

// x is (rows, cols), row stride x_rs. Packs B = scale * x (rows deep, cols wide): sliver s (cols s*NR..) at
// packed + s * rows * NR, element (r, j) at [r * NR + j], zero-padded past `cols`. Rows r0.. of sliver s
// start at packed + s * rows * NR + r0 * NR.
inline void pack_direct(const Table& table, const float* x, int64_t x_rs, int64_t rows, int64_t cols, float scale,
                        float* packed) {
  const SgemmConfig& cfg = table.sgemm;
  const int64_t slivers = ceil_div(cols, cfg.nr);
  if (cfg.pack_b_row_major) {
    cfg.pack_b_row_major(x, x_rs, rows, cols, 0, slivers, scale, packed);
  } else {
    pack_b_slivers(x, x_rs, 1, rows, cols, cfg.nr, 0, slivers, packed);
    scale_pack(table, packed, slivers * cfg.nr * rows, scale);
  }
}

// The part of a product that rows [r0, r0 + m) need: depth [k_begin, k_end) and columns [0, n_end).
struct RowLimits {
  int64_t k_begin, k_end, n_end;
};

// The A operand of packed_product: strided (element (i, p) at data[i * row_stride + p * k_stride]) or packed
// in MR-row slivers (sliver_stride > 0: element (i, p) at data[(i / MR) * sliver_stride + p * MR + i % MR]).
// A packed A feeds the micro-kernel from one pointer with fixed offsets (~12% faster on the D = 64 products).
struct OperandA {
  const float* data;
  int64_t row_stride, k_stride, sliver_stride;
};
inline OperandA strided_a(const float* a, int64_t row_stride, int64_t k_stride) {
  return {a, row_stride, k_stride, 0};
}
// Rows row0.. (a multiple of MR) of an A pack of depth `cols`.
inline OperandA packed_a_rows(const SgemmConfig& cfg, const float* packed, int64_t cols, int64_t row0) {
  return {packed + row0 * cols, 0, 0, cfg.mr * cols};
}

// Floats of x (rows, cols) packed as an A operand: ceil(rows / MR) slivers of MR x cols.
inline int64_t a_pack_size(const SgemmConfig& cfg, int64_t rows, int64_t cols) {
  return round_up(ceil_div(rows, cfg.mr) * cfg.mr * cols, 16);
}

// Packs x (rows, cols; row stride x_rs) as an A operand, zero-padded past `rows`.
inline OperandA pack_a(const SgemmConfig& cfg, const float* x, int64_t x_rs, int64_t rows, int64_t cols,
                       float* packed) {
  if (cfg.pack_a_row_major) cfg.pack_a_row_major(x, x_rs, rows, cols, packed);
  else pack_a_block(x, x_rs, 1, rows, cols, cfg.mr, packed);
  return packed_a_rows(cfg, packed, cols, 0);
}

// The factor the drivers fold into the scores for the table's row primitives: log2 e when they take base-2
// exponentials (AttentionRows::base2), else 1; a row max divided by it is back in natural units.
inline double score_unit(const Table& table) { return table.attention.base2 ? 1.4426950408889634 : 1.0; }

// The calling thread's active prefetcher (null: none), stepped kPrefetchLinesPerTile lines after each tile of
// packed_product; at most kPrefetchBytes (the next (batch, head)'s inputs; more would evict the packs in use).
constexpr int kPrefetchLinesPerTile = 32;
constexpr int64_t kPrefetchBytes = 512 << 10;
inline thread_local Prefetcher* active_prefetcher = nullptr;

// Makes `p` the thread's active prefetcher for the scope.
class PrefetchScope {
 public:
  explicit PrefetchScope(Prefetcher* p) : saved_(active_prefetcher) { active_prefetcher = p; }
  ~PrefetchScope() { active_prefetcher = saved_; }
  PrefetchScope(const PrefetchScope&) = delete;
  PrefetchScope& operator=(const PrefetchScope&) = delete;

 private:
  Prefetcher* saved_;
};

// C (m, n) = alpha * A (m, k) B (k, n) + beta * C over tiles of MR x NR, A as above, B packed in slivers
// (sliver s at b + s * b_sliver_stride, element (p, j) at [p * NR + j]). limits(r0, m) narrows the depth and
// columns a row group needs; tiles outside are not computed (C keeps whatever it had). Depth offsets must keep
// b 64-byte aligned (true for any offset when NR >= 16).
template <typename Limits>
void packed_product(const SgemmConfig& cfg, int64_t m, int64_t n, int64_t k, float alpha, const OperandA& a,
                    const float* b, int64_t b_sliver_stride, float beta, float* c, int64_t c_rs, Limits limits) {
  const int MR = cfg.mr, NR = cfg.nr;
  SgemmTile t;
  const bool a_packed = a.sliver_stride > 0;
  t.a_packed = a_packed;
  t.b_k_stride = 0;
  t.a_row_stride = a_packed ? 1 : a.row_stride;
  t.a_k_stride = a_packed ? MR : a.k_stride;
  t.c_row_stride = c_rs;
  t.alpha = alpha;
  t.beta = beta;
  t.bias = nullptr;
  t.bias_per_row = false;
  t.act = GemmActivation::None;
  t.pre = nullptr;
  Prefetcher* const prefetcher = active_prefetcher;
  // Slivers outer, row groups inner: a B sliver stays in L1 while every row group uses it.
  int64_t n_needed = 0;
  for (int64_t r0 = 0; r0 < m; r0 += MR)
    n_needed = std::max(n_needed, limits(r0, static_cast<int>(std::min<int64_t>(MR, m - r0))).n_end);
  n_needed = std::min(n_needed, n);
  for (int64_t c0 = 0; c0 < n_needed; c0 += NR) {
    for (int64_t r0 = 0; r0 < m; r0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, m - r0));
      RowLimits lim = limits(r0, rows);
      lim.k_begin = std::max<int64_t>(lim.k_begin, 0);
      lim.k_end = std::min(lim.k_end, k);
      lim.n_end = std::min(lim.n_end, n);
      if (lim.k_end <= lim.k_begin || c0 >= lim.n_end) continue;
      t.k = lim.k_end - lim.k_begin;
      t.a = a_packed ? a.data + (r0 / MR) * a.sliver_stride + lim.k_begin * MR
                     : a.data + r0 * a.row_stride + lim.k_begin * a.k_stride;
      t.m = rows;
      t.b = b + (c0 / NR) * b_sliver_stride + lim.k_begin * NR;
      t.c = c + r0 * c_rs + c0;
      t.n = static_cast<int>(std::min<int64_t>(NR, lim.n_end - c0));
      cfg.kernel(t);
      if (prefetcher) prefetcher->step(kPrefetchLinesPerTile);
    }
  }
}

// sum(a[i] * b[i]) in 16 independent lanes (vectorisable without reassociating one serial sum).
inline float dot(const float* a, const float* b, int64_t n) {
  float lanes[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; ++l) lanes[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) lanes[0] += a[i] * b[i];
  float sum = 0.0f;
  for (float l : lanes) sum += l;
  return sum;
}

inline RowLimits full_limits(int64_t k, int64_t n) { return {0, k, n}; }

}  // namespace flash
}  // namespace kernels
}  // namespace ember
