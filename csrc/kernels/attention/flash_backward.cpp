// Flash attention backward (float32). Per (batch, head): K^T, V^T, K, Q, dO packed into micro-kernel slivers
// (the scale folded into K^T, K and Q) and delta = rowsum(dO * O). Per (query block, key block) tile: recompute
// S = scale Q K^T and dP = dO V^T, P = exp(S - lse), dS = P (dP - delta) (row primitive), then dV += P^T dO,
// dK += scale dS^T Q, dQ += scale dS K. No atomics: each task owns (batch, head) pairs and does all three, unless
// that leaves threads idle (fewer pairs than threads): then tasks own key blocks (dK, dV, their dQ products kept
// apart) and a pass over query blocks adds the dQ products up.
#include <algorithm>
#include <memory>

#include "ember/threads.h"
#include "kernels/attention/flash_tiles.h"

namespace ember {
namespace kernels {
namespace {

using flash::RowLimits;

// At most this many floats of key blocks' dQ products wait for the split schedule's addition pass (64 MiB).
constexpr int64_t kPartialFloats = int64_t{1} << 24;

struct BackwardPlan {
  const Table& table;
  const AttentionProblem<float>& pr;
  int64_t BQ, BK, NR;
  int64_t kt_size, vt_size, k_size, q_size, dout_size;   // floats of each pack of one (batch, head)
  int64_t qa_size, douta_size;   // 0 unless packed_a()
  // Q and dO are packed as A operands when each query block meets several key blocks.
  bool packed_a() const { return qa_size > 0; }
  int64_t pack_size() const {
    return kt_size + vt_size + k_size + q_size + dout_size + qa_size + douta_size + round_up16(pr.T);
  }
  static int64_t round_up16(int64_t n) { return flash::round_up(n, 16); }
};

// The packs of one (batch, head), carved from one buffer of plan.pack_size() floats.
struct Packs {
  Packs(const BackwardPlan& plan, float* base)
      : kt(base), vt(kt + plan.kt_size), k(vt + plan.vt_size), q(k + plan.k_size), dout(q + plan.q_size),
        q_a(dout + plan.dout_size), dout_a(q_a + plan.qa_size), delta(dout_a + plan.douta_size) {}
  float* kt;      // scale K^T (times log2 e for base-2 row primitives): D deep, S wide
  float* vt;      // V^T: Dv deep, S wide
  float* k;       // scale K: S deep, D wide
  float* q;       // scale Q: T deep, D wide
  float* dout;    // dO: T deep, Dv wide
  float* q_a;     // Q as an A operand (T rows, D deep)
  float* dout_a;  // dO as an A operand (T rows, Dv deep)
  float* delta;   // (T): rowsum(dO * O)
};

// Per-thread tiles: P, dS and the dropout factors, each (BQ, BK).
struct TileScratch {
  explicit TileScratch(int64_t tile)
      : p(flash::thread_scratch(flash::kTileSlot, 3 * tile)), ds(p + tile), keep(ds + tile) {}
  float *p, *ds, *keep;
};

// The packs of pair bh; those of K and V only when `with_kv` (they still hold the previous pair's, the same
// key / value head under grouped-query attention, otherwise).
void prepare(const BackwardPlan& plan, int64_t bh, const Packs& packs, bool with_kv = true) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const float scale = static_cast<float>(pr.scale);
  if (with_kv) {
    flash::pack_transposed(plan.table, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D,
                           static_cast<float>(pr.scale * flash::score_unit(plan.table)), packs.kt);
    flash::pack_transposed(plan.table, pr.v.of(bh), pr.v.row_stride, pr.S, pr.Dv, 1.0f, packs.vt);
    flash::pack_direct(plan.table, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D, scale, packs.k);
  }
  flash::pack_direct(plan.table, pr.q.of(bh), pr.q.row_stride, pr.T, pr.D, scale, packs.q);
  flash::pack_direct(plan.table, pr.dout.of(bh), pr.dout.row_stride, pr.T, pr.Dv, 1.0f, packs.dout);
  if (plan.packed_a()) {
    flash::pack_a(cfg, pr.q.of(bh), pr.q.row_stride, pr.T, pr.D, packs.q_a);
    flash::pack_a(cfg, pr.dout.of(bh), pr.dout.row_stride, pr.T, pr.Dv, packs.dout_a);
  }
  for (int64_t i = 0; i < pr.T; ++i) {
    const float* o = pr.out_const.of(bh) + i * pr.out_const.row_stride;
    const float* g = pr.dout.of(bh) + i * pr.dout.row_stride;
    packs.delta[i] = flash::dot(o, g, pr.Dv);
  }
}

void zero_rows(float* x, int64_t rows, int64_t cols, int64_t row_stride) {
  for (int64_t r = 0; r < rows; ++r) std::fill(x + r * row_stride, x + r * row_stride + cols, 0.0f);
}

// Tile (queries i0.., keys j0..): leaves P (times the dropout factors) in s.p and dS in s.ds.
void tile_gradients(const BackwardPlan& plan, int64_t bh, const Packs& packs, int64_t i0, int rows, int64_t j0,
                    int cols, int64_t diagonal, TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BK = plan.BK, NR = plan.NR, D = pr.D, Dv = pr.Dv;
  auto limits = [&](int64_t r0, int m) {
    return RowLimits{0, std::max(D, Dv), attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal)};
  };
  // Query blocks start on a sliver boundary of the A packs (BQ is a multiple of MR).
  const bool packed = plan.packed_a();
  const flash::OperandA q = packed ? flash::packed_a_rows(cfg, packs.q_a, D, i0)
                                   : flash::strided_a(pr.q.of(bh) + i0 * pr.q.row_stride, pr.q.row_stride, 1);
  const flash::OperandA dout = packed ? flash::packed_a_rows(cfg, packs.dout_a, Dv, i0)
                                      : flash::strided_a(pr.dout.of(bh) + i0 * pr.dout.row_stride,
                                                         pr.dout.row_stride, 1);
  flash::packed_product(cfg, rows, cols, D, 1.0f, q, packs.kt + (j0 / NR) * D * NR, D * NR, 0.0f, s.p, BK, limits);
  flash::packed_product(cfg, rows, cols, Dv, 1.0f, dout, packs.vt + (j0 / NR) * Dv * NR, Dv * NR, 0.0f, s.ds, BK,
                        limits);
  float* keep = s.keep;
  if (pr.dropout.active()) {
    for (int r = 0; r < rows; ++r) {
      const uint64_t base = static_cast<uint64_t>((bh * pr.T + i0 + r) * pr.S + j0);
      const int n = attention_valid_cols(r, cols, diagonal);
      for (int c = 0; c < n; ++c) {
        keep[r * BK + c] = pr.dropout.factor(base + c);
        s.ds[r * BK + c] *= keep[r * BK + c];
      }
    }
  }
  const float* mask = pr.mask.data ? pr.mask.of(bh) + i0 * pr.mask.row_stride + j0 : nullptr;
  plan.table.attention.softmax_grad(s.p, s.ds, BK, mask, pr.mask.row_stride, rows, cols, diagonal,
                                    pr.lse + bh * pr.T + i0, packs.delta + i0);
  if (pr.dropout.active()) {
    for (int r = 0; r < rows; ++r) {
      const int n = attention_valid_cols(r, cols, diagonal);
      for (int c = 0; c < n; ++c) s.p[r * BK + c] *= keep[r * BK + c];
    }
  }
}

// Where a key block's dQ product goes: dQ itself (added to what earlier key blocks left, stored by the first,
// which reaches every row: each query attends key 0 onward), or the block's own slot of partial products.
struct DqTarget {
  float* data;          // row 0
  int64_t row_stride;
  bool add;
};

// dQ rows i0.. (+)= dS (scale K) (keys j0..).
void accumulate_dq(const BackwardPlan& plan, const Packs& packs, int64_t i0, int rows, int64_t j0, int cols,
                   int64_t diagonal, const TileScratch& s, const DqTarget& dq) {
  const int64_t D = plan.pr.D;
  flash::packed_product(plan.table.sgemm, rows, D, cols, 1.0f, flash::strided_a(s.ds, plan.BK, 1),
                        packs.k + j0 * plan.NR, plan.pr.S * plan.NR, dq.add ? 1.0f : 0.0f,
                        dq.data + i0 * dq.row_stride, dq.row_stride, [&](int64_t r0, int m) {
                          return RowLimits{0, attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal), D};
                        });
}

// dS of the tile (queries i0.., keys j0..; row stride ld) into dmask: the gradient of an additive mask. Every
// (query, key) pair is one key block's task, so no two tasks write the same place.
void store_dmask(const AttentionProblem<float>& pr, int64_t bh, int64_t i0, int rows, int64_t j0, int cols,
                 const float* ds, int64_t ld) {
  for (int r = 0; r < rows; ++r)
    std::copy(ds + r * ld, ds + r * ld + cols, pr.dmask.of(bh) + (i0 + r) * pr.dmask.row_stride + j0);
}

// The first query row that key block j0 reaches: the last MR boundary at or before j0 when causal (T: none).
int64_t first_query_of(const BackwardPlan& plan, int64_t j0) {
  if (!plan.pr.causal) return 0;
  return j0 < plan.pr.T ? j0 / plan.table.sgemm.mr * plan.table.sgemm.mr : plan.pr.T;
}

// dK, dV of key block j0.. over all query blocks that attend it, and its dQ products into `dq`. The first query
// block overwrites dK and dV (beta = 0; rows it does not reach are zeroed), as the first key block does dQ: no
// separate zeroing pass over memory the products are about to write.
void key_block_task(const BackwardPlan& plan, int64_t bh, const Packs& packs, int64_t j0, const DqTarget& dq,
                    TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BQ = plan.BQ, NR = plan.NR, T = pr.T, D = pr.D, Dv = pr.Dv;
  const int cols = static_cast<int>(std::min(plan.BK, pr.S - j0));
  float* dk = pr.dk.of(bh) + j0 * pr.dk.row_stride;
  float* dv = pr.dv.of(bh) + j0 * pr.dv.row_stride;
  bool written = false;   // dK, dV hold the first query block's products
  // Causal: queries before j0 attend none of these keys; the first block starts at the last A-pack sliver
  // boundary (a multiple of MR) at or before j0.
  const int64_t first_query = first_query_of(plan, j0);
  for (int64_t i0 = first_query; i0 < T; i0 += BQ) {
    const int rows = static_cast<int>(std::min(BQ, T - i0));
    const int64_t diagonal = pr.causal ? i0 - j0 : kNoDiagonal;
    if (pr.causal && i0 + rows - 1 < j0) continue;
    tile_gradients(plan, bh, packs, i0, rows, j0, cols, diagonal, s);
    if (pr.dmask.data) store_dmask(pr, bh, i0, rows, j0, cols, s.ds, plan.BK);
    // Keys j0 + r0.. are attended by queries >= j0 + r0 only (causal): start the depth (query) loop there.
    auto limits = [&](int64_t n_end) {
      return [&, n_end](int64_t r0, int) { return RowLimits{pr.causal ? j0 + r0 - i0 : 0, rows, n_end}; };
    };
    const float beta = written ? 1.0f : 0.0f;
    flash::packed_product(cfg, cols, Dv, rows, 1.0f, flash::strided_a(s.p, 1, plan.BK), packs.dout + i0 * NR,
                          T * NR, beta, dv, pr.dv.row_stride, limits(Dv));
    flash::packed_product(cfg, cols, D, rows, 1.0f, flash::strided_a(s.ds, 1, plan.BK),
                          packs.q + i0 * NR, T * NR, beta, dk, pr.dk.row_stride, limits(D));
    if (!written) {
      // Causal: row groups from the first with an empty depth range (keys no query of this block attends) were
      // skipped; later blocks add to them.
      const int64_t reached = pr.causal ? std::min<int64_t>(cols, flash::round_up(rows + i0 - j0, cfg.mr)) : cols;
      zero_rows(dk + reached * pr.dk.row_stride, cols - reached, D, pr.dk.row_stride);
      zero_rows(dv + reached * pr.dv.row_stride, cols - reached, Dv, pr.dv.row_stride);
      written = true;
    }
    accumulate_dq(plan, packs, i0, rows, j0, cols, diagonal, s, dq);
  }
  if (!written) {   // no query attends these keys (causal, S > T)
    zero_rows(dk, cols, D, pr.dk.row_stride);
    zero_rows(dv, cols, Dv, pr.dv.row_stride);
  }
}

// dQ rows [r0, r1) of pair bh from the partial products of key blocks [kb0, kb1) (slot kb - kb0 of `partials`,
// T x D each), in key-block order: the additions, order and rounding of the owned schedule, which adds each key
// block's product to dQ in turn (key block 0 stores).
void add_partials(const BackwardPlan& plan, int64_t bh, const float* partials, int64_t kb0, int64_t kb1, int64_t r0,
                  int64_t r1) {
  const AttentionProblem<float>& pr = plan.pr;
  const int64_t D = pr.D;
  for (int64_t kb = kb0; kb < kb1; ++kb) {
    const float* slot = partials + (kb - kb0) * pr.T * D;
    for (int64_t r = std::max(r0, first_query_of(plan, kb * plan.BK)); r < r1; ++r) {
      float* dq = pr.dq.of(bh) + r * pr.dq.row_stride;
      const float* part = slot + r * D;
      if (kb == 0) std::copy(part, part + D, dq);
      else for (int64_t c = 0; c < D; ++c) dq[c] += part[c];
    }
  }
}

}  // namespace

void flash_attention_backward(const Table& table, const AttentionProblem<float>& pr) {
  const int64_t BH = pr.batch_heads, T = pr.T, S = pr.S;
  if (BH == 0) return;
  const SgemmConfig& cfg = table.sgemm;
  const int64_t bk = flash::backward_key_block(cfg);
  const BackwardPlan plan{table, pr, flash::backward_query_block(cfg), bk, cfg.nr,
                          flash::transposed_pack_size(cfg, S, pr.D), flash::transposed_pack_size(cfg, S, pr.Dv),
                          flash::direct_pack_size(cfg, S, pr.D), flash::direct_pack_size(cfg, T, pr.D),
                          flash::direct_pack_size(cfg, T, pr.Dv), S > bk ? flash::a_pack_size(cfg, T, pr.D) : 0,
                          S > bk ? flash::a_pack_size(cfg, T, pr.Dv) : 0};
  const int64_t q_blocks = flash::ceil_div(T, plan.BQ), k_blocks = flash::ceil_div(S, plan.BK);
  const int64_t tile = plan.BQ * plan.BK, pack_size = plan.pack_size();
  // ~5 tile products of 2 * BQ * BK * D flops each per (query block, key block) pair.
  const double pair_flops = 10.0 * tile * std::max<int64_t>(std::max(pr.D, pr.Dv), 1);
  auto grain_for = [&](double task_flops) { return std::max<int64_t>(1, static_cast<int64_t>(4.0e5 / task_flops)); };
  // Two schedules, the same products in the same order (identical results whatever the thread count). Owned:
  // each task owns (batch, head) pairs and adds every key block's dQ product to dQ in turn. Split: tasks own
  // (pair, key block); a key block's dQ products go to a slot of their own, added to dQ in key-block order by a
  // pass over query blocks; waves of key blocks bound the slots' memory. The split spreads fewer pairs than
  // threads over all of them for the price of that pass (T x D adds a key block): backward B1 T1024 D64 on 2
  // threads, 1 head -30%, 3 heads -12%; 1 head T2048 -22% (a split that recomputed S and dP for dQ instead,
  // 7 products a tile rather than 5, ran whenever pairs < 2 x threads until then).
  const int64_t threads = get_num_threads();
  const int64_t slot = T * pr.D;   // floats of one key block's dQ products
  const int64_t wave = std::clamp<int64_t>(
      std::min(flash::ceil_div(4 * threads, BH), kPartialFloats / std::max<int64_t>(BH * slot, 1)), 1,
      std::max<int64_t>(k_blocks, 1));
  // Key-block tasks on the busiest thread (the addition pass left out); the split must save an eighth.
  const int64_t owned_rounds = flash::ceil_div(BH, threads) * k_blocks, last_wave = k_blocks % wave;
  const int64_t split_rounds = k_blocks / wave * flash::ceil_div(BH * wave, threads) +
                               flash::ceil_div(BH * last_wave, threads);
  if (8 * split_rounds >= 7 * owned_rounds) {
    parallel_for(BH, grain_for(pair_flops * q_blocks * k_blocks), [&](int64_t begin, int64_t end) {
      const Packs packs(plan, flash::thread_scratch(flash::kPackSlot, pack_size));
      TileScratch s(tile);
      for (int64_t bh = begin; bh < end; ++bh) {
        prepare(plan, bh, packs, bh == begin || pr.k.of(bh) != pr.k.of(bh - 1) || pr.v.of(bh) != pr.v.of(bh - 1));
        if (S == 0) zero_rows(pr.dq.of(bh), T, pr.D, pr.dq.row_stride);
        Prefetcher next(flash::kPrefetchBytes);   // what the next pair's prepare() reads, while this one computes
        if (bh + 1 < end) {
          next.add(pr.k.of(bh + 1), pr.k.row_stride, S, pr.D);
          next.add(pr.v.of(bh + 1), pr.v.row_stride, S, pr.Dv);
          next.add(pr.q.of(bh + 1), pr.q.row_stride, T, pr.D);
          next.add(pr.dout.of(bh + 1), pr.dout.row_stride, T, pr.Dv);
          next.add(pr.out_const.of(bh + 1), pr.out_const.row_stride, T, pr.Dv);
        }
        flash::PrefetchScope scope(&next);
        for (int64_t kb = 0; kb < k_blocks; ++kb)
          key_block_task(plan, bh, packs, kb * plan.BK, DqTarget{pr.dq.of(bh), pr.dq.row_stride, kb > 0}, s);
      }
    });
    return;
  }
  float* all_packs = flash::thread_scratch(flash::kSharedPackSlot, BH * pack_size);
  parallel_for(BH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) prepare(plan, bh, Packs(plan, all_packs + bh * pack_size));
  });
  std::unique_ptr<float[]> partials(new float[static_cast<size_t>(BH * wave * slot)]);
  for (int64_t kb0 = 0; kb0 < k_blocks; kb0 += wave) {
    const int64_t kb1 = std::min(k_blocks, kb0 + wave), blocks = kb1 - kb0;
    parallel_for(BH * blocks, grain_for(pair_flops * q_blocks), [&](int64_t begin, int64_t end) {
      TileScratch s(tile);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t bh = task / blocks, kb = kb0 + task % blocks;
        key_block_task(plan, bh, Packs(plan, all_packs + bh * pack_size), kb * plan.BK,
                       DqTarget{partials.get() + (bh * wave + kb - kb0) * slot, pr.D, false}, s);
      }
    });
    parallel_for(BH * q_blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t bh = task / q_blocks, r0 = (task % q_blocks) * plan.BQ;
        add_partials(plan, bh, partials.get() + bh * wave * slot, kb0, kb1, r0, std::min(T, r0 + plan.BQ));
      }
    });
  }
}

}  // namespace kernels
}  // namespace ember
