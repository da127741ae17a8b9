// The sgemm driver: BLIS's five loops around the ISA's MR x NR micro-kernel (JC over NC columns, PC over KC
// depth, IC over MC rows, JR over NR, IR over MR). One parallel_tasks call per GEMM with a 2-D split of C into
// blocks: each block (rows x columns) packs its own A and B panels into its slice of the caller's workspace, so
// blocks never wait on each other (no barriers: robust when the box is oversubscribed) at the price of packing
// A or B twice, which the grid choice keeps small. Every C element sums K in the same order whatever the split,
// so results do not depend on the thread count. Blocking comes from the ISA's SgemmConfig.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <numeric>
#include <vector>

#include <unistd.h>

#include "ember/threads.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/sgemm_pack.h"
#include "kernels/prefetch.h"

namespace ember {
namespace kernels {
namespace {

// Below this many flops (128^3 is 4.2 M: ~40 us on one AVX-512 core) a GEMM runs on the calling thread:
// waking the pool costs more than it saves, and on an oversubscribed box a descheduled worker can stall a
// small GEMM for a whole time slice (measured: 128^3 with 2 threads under load fell to 0.1 GFLOP/s).
constexpr double kSingleThreadFlops = 6.0e6;

// A growable 64-byte-aligned scratch buffer; one per thread and role, reused across calls.
class AlignedBuffer {
 public:
  ~AlignedBuffer() { std::free(data_); }
  float* get(size_t floats) {
    if (floats > capacity_) {
      std::free(data_);
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) { capacity_ = 0; throw std::bad_alloc(); }
      capacity_ = floats;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

// The calling thread's workspace: every team thread's packed A block and B panel, sized before the parallel
// region (so allocation never happens, or fails, inside it).
thread_local AlignedBuffer t_workspace;

struct Problem {
  int64_t M, N, K;
  float alpha;
  const float* A; int64_t rsA, csA;   // (M, K)
  const float* B; int64_t rsB, csB;   // (K, N)
  float beta;
  float* C; int64_t rsC;              // (M, N), unit column stride
  const Epilogue<float>* ep;
  bool b_in_place = false;            // full NR-column slivers of a row-major B are read in place, not packed
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Equal blocks of at most max_block (a multiple of unit) covering n, each a multiple of unit but the last:
// 2048 columns in blocks of <= 672 are 4 x 512, not 3 x 672 + 32 (a thin block repacks A for one sliver).
int64_t balanced_block(int64_t n, int64_t max_block, int64_t unit) {
  return ceil_div(ceil_div(n, ceil_div(n, max_block)), unit) * unit;
}

// Splits [0, n) units into `parts` contiguous ranges; returns part `index`.
void split(int64_t n, int parts, int index, int64_t& begin, int64_t& end) {
  int64_t chunk = ceil_div(n, parts);
  begin = std::min<int64_t>(n, index * chunk);
  end = std::min<int64_t>(n, begin + chunk);
}

// Thread grid threads_m x threads_n minimising the busiest thread's time: its C block's FMAs (32 per cycle)
// plus its packing (~0.5 cycle per element of its rows of A and columns of B), per unit of K.
int choose_threads_m(int64_t m_tiles, int64_t n_tiles, int mr, int nr, int threads) {
  int best = threads;
  double best_cost = -1;
  for (int tm = threads; tm >= 1; --tm) {
    if (threads % tm) continue;
    const double rows = double(ceil_div(m_tiles, tm) * mr), cols = double(ceil_div(n_tiles, threads / tm) * nr);
    const double cost = rows * cols / 32.0 + 0.5 * (rows + cols);
    if (best_cost < 0 || cost < best_cost) { best = tm; best_cost = cost; }
  }
  return best;
}

SgemmTile make_tile(const Problem& p, int64_t i, int64_t j, int64_t k, int m, int n, float beta, bool last_k) {
  SgemmTile t;
  t.k = k;
  t.c = p.C + i * p.rsC + j;
  t.c_row_stride = p.rsC;
  t.m = m;
  t.n = n;
  t.alpha = p.alpha;
  t.beta = beta;
  t.bias = nullptr;
  t.bias_per_row = false;
  t.act = GemmActivation::None;
  t.pre = nullptr;
  t.b_k_stride = 0;
  if (last_k && p.ep) {
    t.act = p.ep->act;
    t.bias_per_row = p.ep->bias_per_row;
    if (p.ep->bias) t.bias = p.ep->bias + (p.ep->bias_per_row ? i : j);
    if (p.ep->pre) t.pre = p.ep->pre + i * p.rsC + j;
  }
  return t;
}

// The L1 data cache's associativity as the C library reads it from cpuid, or 8 where it cannot tell.
int l1_data_ways() {
#ifdef _SC_LEVEL1_DCACHE_ASSOC
  const long ways = sysconf(_SC_LEVEL1_DCACHE_ASSOC);
  if (ways > 0 && ways <= 64) return static_cast<int>(ways);
#endif
  return 8;
}

// Whether MR rows of a row-major A, read in place, crowd one L1 set: the set index repeats every 4 KiB (64 sets
// of 64-byte lines in both 8-way 32 KiB and 12-way 48 KiB L1s), so rows 4 KiB apart all land in one set and
// rows 2 KiB apart in two. More lines a set than the L1 has ways thrash: 12 rows 4 KiB apart (K = 1024) ran
// 6-10% faster packed on 8-way Zen 4 (1 thread; +10-40% on 2) but 1-5% slower packed on a 12-way Intel Xeon
// (char-GPT step -1% on 1 and 2 threads), where the pack pass is pure cost.
bool rows_alias_in_l1(int64_t row_stride, int mr) {
  static const int ways = l1_data_ways();
  const int64_t bytes = row_stride * static_cast<int64_t>(sizeof(float)) % 4096;
  const int64_t sets = bytes == 0 ? 1 : std::min<int64_t>(mr, 4096 / std::gcd<int64_t>(bytes, 4096));
  return ceil_div(mr, sets) > ways;
}

struct Workspace {
  float* base;
  int64_t a_floats, b_floats;   // per thread
  float* packed_a(int tid) const { return base + tid * (a_floats + b_floats); }
  float* packed_b(int tid) const { return packed_a(tid) + a_floats; }
};

// Queues the (rows, cols) block at x (strides rs, cs; one of them 1) on pf, to be fetched over `tiles` tiles:
// returns the cache lines to prefetch after each tile.
int64_t queue_block(Prefetcher& pf, const float* x, int64_t rs, int64_t cs, int64_t rows, int64_t cols, int64_t tiles) {
  if (cs == 1) pf.add(x, rs, rows, cols);
  else if (rs == 1) pf.add(x, cs, cols, rows);
  const int64_t lines = cs == 1 ? rows * ceil_div(cols, 16) : cols * ceil_div(rows, 16);
  return ceil_div(lines, tiles) + 1;
}

// One thread's block of C: rows [m_begin, m_end) x columns [n_begin, n_end), through the five loops.
void run_thread(const Problem& p, const SgemmConfig& cfg, bool pack_a, int threads_m, const Workspace& ws, int tid,
                int nthreads) {
  const int MR = cfg.mr, NR = cfg.nr;
  // K blocks of equal depth (784 = 392 + 392, not 384 + 384 + 16: a thin last block is all C traffic).
  int64_t KC = ceil_div(p.K, ceil_div(p.K, cfg.kc));
  const int64_t MC = std::max<int64_t>(cfg.mc / MR, 1) * MR;
  const int64_t NC_max = std::max<int64_t>(cfg.nc / NR, 1) * NR;
  const int tid_m = tid % threads_m, tid_n = tid / threads_m, threads_n = nthreads / threads_m;
  const bool b_in_place = p.b_in_place && p.csB == 1 && p.rsB != 1;
  int64_t m_begin, m_end, n_begin, n_end;
  split(ceil_div(p.M, MR), threads_m, tid_m, m_begin, m_end);
  split(ceil_div(p.N, NR), threads_n, tid_n, n_begin, n_end);
  m_begin = std::min(p.M, m_begin * MR);
  m_end = std::min(p.M, m_end * MR);
  n_begin = std::min(p.N, n_begin * NR);
  n_end = std::min(p.N, n_end * NR);
  float* packed_a = ws.packed_a(tid);
  float* packed_b = ws.packed_b(tid);
  const InterruptWatch watch;   // Ctrl-C: stop between KC x MC blocks (the caller then raises)

  // With cfg.panels_fit_rows_outer, columns come in equal blocks narrow enough for a rows-outer B panel. When A
  // is packed (column-major: X^T in X^T dY), a K block down to 2/3 of KC that lets all the thread's columns share
  // one panel beats splitting them, which packs A once per block (TN weight gradients +3-8%, 1 thread, A/B).
  if (cfg.panels_fit_rows_outer && pack_a && p.csA != 1) {
    const int64_t cols = std::max<int64_t>(ceil_div(n_end - n_begin, NR), 1) * NR;
    const int64_t kc_fit = cfg.rows_outer_panel_bytes / (cols * static_cast<int64_t>(sizeof(float)));
    if (kc_fit < KC && 3 * kc_fit >= 2 * cfg.kc) KC = ceil_div(p.K, ceil_div(p.K, kc_fit));
  }
  const int64_t panel_cols = cfg.rows_outer_panel_bytes / (KC * static_cast<int64_t>(sizeof(float))) / NR * NR;
  const int64_t NC = cfg.panels_fit_rows_outer && panel_cols >= NR
                         ? balanced_block(std::max<int64_t>(n_end - n_begin, 1), std::min(NC_max, panel_cols), NR)
                         : NC_max;
  for (int64_t jc = n_begin; jc < n_end; jc += NC) {
    const int64_t nc = std::min(NC, n_end - jc), slivers = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < p.K; pc += KC) {
      const int64_t kc = std::min(KC, p.K - pc);
      const bool last_k = pc + kc == p.K;
      const float beta = pc == 0 ? p.beta : 1.0f;
      const float* b = p.B + pc * p.rsB + jc * p.csB;
      const int64_t first_packed = b_in_place ? nc / NR : 0;
      // A B panel that fits the L2 is walked row tile by row tile: each A sliver then stays in L1 while the B
      // slivers stream from the L2 (a KC-deep B sliver and the streaming A no longer fight over the L1;
      // measured +5-18% on the GPT shapes and the K = 10 head, 1 thread, in-process A/B).
      const bool rows_outer = kc * nc * static_cast<int64_t>(sizeof(float)) <= cfg.rows_outer_panel_bytes;
      // Walked rows-outer, a row-major A sliver is read in place: it stays in L1 across the walk, and the
      // kernel's row pointers beat a pack pass (GPT / MLP shapes +2-8%, 1 thread, in-process A/B). Not when its
      // rows crowd one L1 set (K = 1024 on an 8-way Zen 4 L1: packed +6-10% on 1 thread, +10-40% on 2). A
      // column-major A (X^T in X^T dY) is still packed: in place it was 3-7% slower on Ice Lake (though 2-9%
      // faster on Zen 4).
      const bool pack = pack_a && !(rows_outer && p.csA == 1 && !rows_alias_in_l1(p.rsA, MR));
      if (p.rsB == 1 && cfg.pack_b_col_major)
        cfg.pack_b_col_major(b, p.csB, kc, nc, 0, slivers, 1.0f, packed_b);
      else if (p.csB == 1 && cfg.pack_b_row_major)
        cfg.pack_b_row_major(b, p.rsB, kc, nc, first_packed, slivers, 1.0f, packed_b);
      else
        pack_b_slivers(b, p.rsB, p.csB, kc, nc, NR, first_packed, slivers, packed_b);
      // The next K block's B panel streams toward the L2 while this K block computes, a few lines after each of
      // its tiles, so its pack reads cache instead of memory (char-GPT step GEMM time -3%, median of 7
      // interleaved pairs, 1 thread, Zen 3); the next A block likewise, below.
      Prefetcher next_b(std::numeric_limits<int64_t>::max());
      int64_t next_b_lines = 0;
      if (pc + KC < p.K)
        next_b_lines = queue_block(next_b, b + KC * p.rsB, p.rsB, p.csB, std::min(KC, p.K - pc - KC), nc,
                                   slivers * ceil_div(m_end - m_begin, MR));
      for (int64_t ic = m_begin; ic < m_end; ic += MC) {
        if (watch.fired()) return;
        const int64_t mc = std::min(MC, m_end - ic);
        // The next A block to pack (the next rows, else the next K block's first rows), over this block's tiles
        // (packing share of the char-GPT step's GEMM time 7.9-8.5% -> 5.5-6.2%, GEMM time -2.5 to -9%).
        Prefetcher next_a(std::numeric_limits<int64_t>::max());
        int64_t prefetch_lines = 0;
        if (pack) {
          const bool more_rows = ic + MC < m_end;
          const int64_t ni = more_rows ? ic + MC : m_begin, np = more_rows ? pc : pc + KC;
          if (np < p.K)
            prefetch_lines = queue_block(next_a, p.A + ni * p.rsA + np * p.csA, p.rsA, p.csA,
                                         std::min(MC, m_end - ni), std::min(KC, p.K - np), slivers * ceil_div(mc, MR));
        }
        if (pack) {
          const float* a = p.A + ic * p.rsA + pc * p.csA;
          if (p.csA == 1 && cfg.pack_a_row_major) cfg.pack_a_row_major(a, p.rsA, mc, kc, packed_a);
          else if (p.rsA == 1 && cfg.pack_a_col_major) cfg.pack_a_col_major(a, p.csA, mc, kc, packed_a);
          else pack_a_block(a, p.rsA, p.csA, mc, kc, MR, packed_a);
        }
        auto run_tile = [&](int64_t s, int64_t ir) {
          const int64_t j = jc + s * NR;
          const int n = static_cast<int>(std::min<int64_t>(NR, n_end - j));
          SgemmTile t = make_tile(p, ic + ir, j, kc, static_cast<int>(std::min<int64_t>(MR, mc - ir)), n, beta, last_k);
          if (s < first_packed) {
            t.b = b + s * NR;
            t.b_k_stride = p.rsB;
          } else {
            t.b = packed_b + s * kc * NR;
          }
          if (pack) {
            t.a = packed_a + ir * kc;
            t.a_row_stride = 1;
            t.a_k_stride = MR;
            t.a_packed = true;
          } else {
            t.a = p.A + (ic + ir) * p.rsA + pc * p.csA;
            t.a_row_stride = p.rsA;
            t.a_k_stride = p.csA;
            t.a_packed = false;
          }
          cfg.kernel(t);
          next_a.step(prefetch_lines);
          next_b.step(next_b_lines);
        };
        if (rows_outer) {
          for (int64_t ir = 0; ir < mc; ir += MR)
            for (int64_t s = 0; s < slivers; ++s) run_tile(s, ir);
        } else {
          for (int64_t s = 0; s < slivers; ++s)
            for (int64_t ir = 0; ir < mc; ir += MR) run_tile(s, ir);
        }
      }
    }
  }
}

// K == 0 or alpha == 0: C = act(beta * C + bias), through the micro-kernel with an empty K loop.
void scale_only(const Problem& p, const SgemmConfig& cfg) {
  for (int64_t i = 0; i < p.M; i += cfg.mr)
    for (int64_t j = 0; j < p.N; j += cfg.nr) {
      SgemmTile t = make_tile(p, i, j, 0, static_cast<int>(std::min<int64_t>(cfg.mr, p.M - i)),
                              static_cast<int>(std::min<int64_t>(cfg.nr, p.N - j)), p.beta, true);
      t.alpha = 0.0f;
      t.a = nullptr; t.b = nullptr; t.a_row_stride = t.a_k_stride = 0; t.a_packed = false;
      cfg.kernel(t);
    }
}

void run(const Problem& p, const SgemmConfig& cfg, int max_threads) {
  if (p.K == 0 || p.alpha == 0.0f) return scale_only(p, cfg);
  const double flops = 2.0 * p.M * p.N * p.K;
  const int64_t m_tiles = ceil_div(p.M, cfg.mr), n_tiles = ceil_div(std::min<int64_t>(p.N, cfg.nc), cfg.nr);
  int threads = in_parallel_region() || flops < kSingleThreadFlops ? 1 : max_threads;
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, m_tiles * n_tiles)));
  const int threads_m = choose_threads_m(m_tiles, ceil_div(p.N, cfg.nr), cfg.mr, cfg.nr, threads);
  const int threads_n = threads / threads_m;
  // Packing A pays when each A sliver meets several B slivers; for skinny N read A in place.
  const bool pack_a = ceil_div(ceil_div(p.N, cfg.nr), threads_n) > 2;
  const int64_t MC = std::max(cfg.mc / cfg.mr, 1) * cfg.mr, NC = std::max(cfg.nc / cfg.nr, 1) * cfg.nr;
  const int64_t kc = std::min<int64_t>(cfg.kc, p.K);
  const int64_t cols = std::min<int64_t>(ceil_div(ceil_div(p.N, cfg.nr), threads_n) * cfg.nr, NC);
  const int64_t rows = std::min<int64_t>(ceil_div(ceil_div(p.M, cfg.mr), threads_m) * cfg.mr, MC);
  Workspace ws;
  ws.a_floats = pack_a ? (rows * kc + 15) / 16 * 16 : 0;   // keeps every slice 64-byte aligned
  ws.b_floats = (cols * kc + 15) / 16 * 16;
  ws.base = t_workspace.get(static_cast<size_t>(threads * (ws.a_floats + ws.b_floats)));
  // Blocks are planned for `threads`; whichever thread claims a block runs it (the caller takes over blocks a
  // descheduled worker has not started).
  parallel_tasks(threads, threads, [&](int64_t block) {
    run_thread(p, cfg, pack_a, threads_m, ws, static_cast<int>(block), threads);
  });
}

// N <= MR (a classifier head): a tile then uses N of the NR columns it computes, and every FMA waits on its
// own A broadcast. C^T = B^T A^T puts the N columns in the tile's rows instead (N of MR used, B's values
// broadcast, A streamed in full vectors: 512x128x10 TN ~42 -> ~20 us, 1 thread), into a scratch C^T that is then
// transposed into C, kNarrowRows rows of C at a time (the scratch stays <= 384 KiB). beta and the epilogue
// act on the scratch (the bias then runs along its rows).
constexpr int64_t kNarrowRows = 8192;
thread_local AlignedBuffer t_transposed_c;

void run_narrow(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC,
                const Epilogue<float>* ep, const SgemmConfig& cfg, int max_threads) {
  float* ct = t_transposed_c.get(static_cast<size_t>(N * std::min(M, kNarrowRows)));
  Epilogue<float> flipped;
  if (ep) { flipped = *ep; flipped.bias_per_row = !ep->bias_per_row; }
  for (int64_t m0 = 0; m0 < M; m0 += kNarrowRows) {
    const int64_t m = std::min(kNarrowRows, M - m0);
    float* c = C + m0 * rsC;
    if (beta != 0.0f)
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < N; ++j) ct[j * m + i] = c[i * rsC + j];
    if (ep && ep->bias && ep->bias_per_row) flipped.bias = ep->bias + m0;
    // Each B (= A^T) sliver meets one row tile of C^T: a row-major A is read in place rather than packed.
    Problem p{N, m, K, alpha, B, csB, rsB, A + m0 * rsA, csA, rsA, beta, ct, m, ep ? &flipped : nullptr, true};
    run(p, cfg, max_threads);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * rsC + j] = ct[j * m + i];
  }
}

// N <= dot_max_n with A's rows contiguous along K: dot products (SgemmDotBlock) over row ranges, B^T read in
// place when B's columns are contiguous (x W^T), else packed once (N x K floats). Rows never share a sum, so
// the split over threads does not change results.
thread_local AlignedBuffer t_transposed_b;

void run_dot(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, const float* B,
             int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC, const Epilogue<float>* ep,
             const SgemmConfig& cfg, int max_threads) {
  SgemmDotBlock d{M, N, K, A, rsA, B, csB, C, rsC, alpha, beta, nullptr, false, GemmActivation::None};
  if (ep) { d.bias = ep->bias; d.bias_per_row = ep->bias_per_row; d.act = ep->act; }
  if (rsB != 1) {
    float* bt = t_transposed_b.get(static_cast<size_t>(N * K));
    if (csB == 1 && cfg.pack_dot_b) {
      cfg.pack_dot_b(B, rsB, K, static_cast<int>(N), bt);
    } else {
      for (int64_t j = 0; j < N; ++j)
        for (int64_t p = 0; p < K; ++p) bt[j * K + p] = B[p * rsB + j * csB];
    }
    d.bt = bt;
    d.bt_col_stride = K;
  }
  const int threads = in_parallel_region() || 2.0 * M * N * K < kSingleThreadFlops
                          ? 1 : static_cast<int>(std::min<int64_t>(max_threads, ceil_div(M, 16)));
  constexpr int64_t kRowStep = 4;   // threads take whole steps of the kernel's row groups
  parallel_tasks(threads, threads, [&](int64_t task) {
    int64_t begin, end;
    split(ceil_div(M, kRowStep), threads, static_cast<int>(task), begin, end);
    const int64_t r0 = std::min(M, begin * kRowStep), r1 = std::min(M, end * kRowStep);
    if (r1 <= r0) return;
    SgemmDotBlock part = d;
    part.m = r1 - r0;
    part.a += r0 * rsA;
    part.c += r0 * rsC;
    if (part.bias && part.bias_per_row) part.bias += r0;
    cfg.dot(part);
  });
}

}  // namespace

float activate_scalar(float v, GemmActivation act) {
  switch (act) {
    case GemmActivation::Relu: return v > 0.0f || v != v ? v : 0.0f;
    case GemmActivation::Gelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
    case GemmActivation::GeluTanh: return 0.5f * v * (1.0f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    default: return v;
  }
}

double activate_scalar(double v, GemmActivation act) {
  switch (act) {
    case GemmActivation::Relu: return v > 0.0 || v != v ? v : 0.0;
    case GemmActivation::Gelu: return 0.5 * v * (1.0 + std::erf(v * 0.70710678118654752));
    case GemmActivation::GeluTanh: return 0.5 * v * (1.0 + std::tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    default: return v;
  }
}

void sgemm_with(const Table& table, int max_threads, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                int64_t rsA, int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta, float* C,
                int64_t rsC, int64_t csC, const Epilogue<float>* ep) {
  if (M <= 0 || N <= 0) return;
  max_threads = std::max(1, max_threads);
  if (csC != 1 && (rsC == 1 || M == 1)) {
    // Column-major C: compute C^T = B^T A^T, whose rows are C's contiguous columns.
    Epilogue<float> flipped;
    if (ep) { flipped = *ep; flipped.bias_per_row = !ep->bias_per_row; }
    Problem p{N, M, K, alpha, B, csB, rsB, A, csA, rsA, beta, C, csC, ep ? &flipped : nullptr};
    return run(p, table.sgemm, max_threads);
  }
  if (csC != 1 && N > 1) {
    // General strides: compute into a contiguous temporary, then combine with beta and the epilogue.
    std::vector<float> tmp(static_cast<size_t>(M * N));
    Problem p{M, N, K, alpha, A, rsA, csA, B, rsB, csB, 0.0f, tmp.data(), N, nullptr};
    run(p, table.sgemm, max_threads);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        float& c = C[i * rsC + j * csC];
        float v = tmp[i * N + j] + (beta != 0.0f ? beta * c : 0.0f);
        if (ep && ep->bias) v += ep->bias_per_row ? ep->bias[i] : ep->bias[j];
        if (ep && ep->pre) ep->pre[i * rsC + j * csC] = v;
        c = ep ? activate_scalar(v, ep->act) : v;
      }
    return;
  }
  // A packed B^T (N x K) is kept per thread up to 4 Mi floats; a deeper K takes the transposed path. Neither
  // writes a pre-activation output.
  const bool narrow_ok = !ep || !ep->pre;
  if (narrow_ok && table.sgemm.dot && N <= table.sgemm.dot_max_n && csA == 1 && K >= 32 &&
      (rsB == 1 || N * K <= (1 << 22)))
    return run_dot(M, N, K, alpha, A, rsA, B, rsB, csB, beta, C, rsC, ep, table.sgemm, max_threads);
  if (narrow_ok && N <= table.sgemm.mr && M >= table.sgemm.nr && K >= 16 && table.sgemm.mr < table.sgemm.nr)
    return run_narrow(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, ep, table.sgemm, max_threads);
  Problem p{M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, ep};
  run(p, table.sgemm, max_threads);
}

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA, const float* B,
           int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC, int64_t csC, const Epilogue<float>* ep) {
  sgemm_with(table(), get_num_threads(), M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, ep);
}

void sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* const* A, int64_t rsA,
                   int64_t csA, const float* const* B, int64_t rsB, int64_t csB, float beta, float* const* C,
                   int64_t rsC, int64_t csC, const Epilogue<float>* ep) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  const Table& tab = table();
  const double flops = 2.0 * M * N * K;
  // GEMMs too small to split well (< ~8 MFLOP) run whole, one per thread, across the batch.
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(kSingleThreadFlops / std::max(flops, 1.0))));
  if (flops < 8.0e6 && batch > 1) {
    parallel_for(batch, grain, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        sgemm_with(tab, 1, M, N, K, alpha, A[b], rsA, csA, B[b], rsB, csB, beta, C[b], rsC, csC, ep);
    });
    return;
  }
  for (int64_t b = 0; b < batch; ++b)
    sgemm_with(tab, get_num_threads(), M, N, K, alpha, A[b], rsA, csA, B[b], rsB, csB, beta, C[b], rsC, csC, ep);
}

}  // namespace kernels
}  // namespace ember
