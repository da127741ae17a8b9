// Flash attention backward (float32). Per (batch, head): K^T, V^T, K, Q, dO packed into micro-kernel slivers
// and delta = rowsum(dO * O). Per (query block, key block) tile: recompute S = scale Q K^T and dP = dO V^T,
// P = exp(S - lse), dS = P (dP - delta) (row primitive), then dV += P^T dO, dK += scale dS^T Q,
// dQ += scale dS K. No atomics: with many (batch, head) pairs each task owns one and does all three; with
// few, one pass owns key blocks (dK, dV) and a second owns query blocks (dQ).
#include <algorithm>

#include "core/threads.h"
#include "kernels/attention/flash_tiles.h"

namespace ember {
namespace kernels {
namespace {

using flash::RowLimits;

struct BackwardPlan {
  const Table& table;
  const AttentionProblem<float>& pr;
  int64_t BQ, BK, NR;
  int64_t kt_size, vt_size, k_size, q_size, dout_size;   // floats per (batch, head) of each pack
  float* packs;
  float* delta;   // (batch_heads, T)

  int64_t pack_stride() const { return kt_size + vt_size + k_size + q_size + dout_size; }
  float* packed_kt(int64_t bh) const { return packs + bh * pack_stride(); }           // K^T: D deep, S wide
  float* packed_vt(int64_t bh) const { return packed_kt(bh) + kt_size; }              // V^T: Dv deep, S wide
  float* packed_k(int64_t bh) const { return packed_vt(bh) + vt_size; }               // K: S deep, D wide
  float* packed_q(int64_t bh) const { return packed_k(bh) + k_size; }                 // Q: T deep, D wide
  float* packed_dout(int64_t bh) const { return packed_q(bh) + q_size; }              // dO: T deep, Dv wide
};

// Per-thread tiles: P, dS and the dropout factors, each (BQ, BK).
struct TileScratch {
  explicit TileScratch(int64_t floats) : p(floats), ds(floats), keep(floats) {}
  flash::Scratch p, ds, keep;
};

void prepare(const BackwardPlan& plan, int64_t bh) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  flash::pack_transposed(cfg, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D, plan.packed_kt(bh));
  flash::pack_transposed(cfg, pr.v.of(bh), pr.v.row_stride, pr.S, pr.Dv, plan.packed_vt(bh));
  flash::pack_direct(cfg, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D, plan.packed_k(bh));
  flash::pack_direct(cfg, pr.q.of(bh), pr.q.row_stride, pr.T, pr.D, plan.packed_q(bh));
  flash::pack_direct(cfg, pr.dout.of(bh), pr.dout.row_stride, pr.T, pr.Dv, plan.packed_dout(bh));
  for (int64_t i = 0; i < pr.T; ++i) {
    const float* o = pr.out_const.of(bh) + i * pr.out_const.row_stride;
    const float* g = pr.dout.of(bh) + i * pr.dout.row_stride;
    float sum = 0.0f;
    for (int64_t e = 0; e < pr.Dv; ++e) sum += o[e] * g[e];
    plan.delta[bh * pr.T + i] = sum;
  }
}

void zero_rows(float* x, int64_t rows, int64_t cols, int64_t row_stride) {
  for (int64_t r = 0; r < rows; ++r) std::fill(x + r * row_stride, x + r * row_stride + cols, 0.0f);
}

// Tile (queries i0.., keys j0..): leaves P (times the dropout factors) in s.p and dS in s.ds.
void tile_gradients(const BackwardPlan& plan, int64_t bh, int64_t i0, int rows, int64_t j0, int cols,
                    int64_t diagonal, TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BK = plan.BK, NR = plan.NR, D = pr.D, Dv = pr.Dv;
  auto limits = [&](int64_t r0, int m) {
    return RowLimits{0, std::max(D, Dv), attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal)};
  };
  flash::packed_product(cfg, rows, cols, D, static_cast<float>(pr.scale), pr.q.of(bh) + i0 * pr.q.row_stride,
                        pr.q.row_stride, 1, plan.packed_kt(bh) + (j0 / NR) * D * NR, D * NR, 0.0f, s.p.get(), BK, limits);
  flash::packed_product(cfg, rows, cols, Dv, 1.0f, pr.dout.of(bh) + i0 * pr.dout.row_stride, pr.dout.row_stride, 1,
                        plan.packed_vt(bh) + (j0 / NR) * Dv * NR, Dv * NR, 0.0f, s.ds.get(), BK, limits);
  float* keep = s.keep.get();
  if (pr.dropout.active()) {
    for (int r = 0; r < rows; ++r) {
      const uint64_t base = static_cast<uint64_t>((bh * pr.T + i0 + r) * pr.S + j0);
      const int n = attention_valid_cols(r, cols, diagonal);
      for (int c = 0; c < n; ++c) {
        keep[r * BK + c] = pr.dropout.factor(base + c);
        s.ds.get()[r * BK + c] *= keep[r * BK + c];
      }
    }
  }
  const float* mask = pr.mask.data ? pr.mask.of(bh) + i0 * pr.mask.row_stride + j0 : nullptr;
  plan.table.attention.softmax_grad(s.p.get(), s.ds.get(), BK, mask, pr.mask.row_stride, rows, cols, diagonal,
                                    pr.lse + bh * pr.T + i0, plan.delta + bh * pr.T + i0);
  if (pr.dropout.active()) {
    for (int r = 0; r < rows; ++r) {
      const int n = attention_valid_cols(r, cols, diagonal);
      for (int c = 0; c < n; ++c) s.p.get()[r * BK + c] *= keep[r * BK + c];
    }
  }
}

// dQ rows i0.. += scale dS K (keys j0..).
void accumulate_dq(const BackwardPlan& plan, int64_t bh, int64_t i0, int rows, int64_t j0, int cols,
                   int64_t diagonal, const TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const int64_t D = pr.D;
  flash::packed_product(plan.table.sgemm, rows, D, cols, static_cast<float>(pr.scale), s.ds.get(), plan.BK, 1,
                        plan.packed_k(bh) + j0 * plan.NR, pr.S * plan.NR, 1.0f, pr.dq.of(bh) + i0 * pr.dq.row_stride,
                        pr.dq.row_stride, [&](int64_t r0, int m) {
                          return RowLimits{0, attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal), D};
                        });
}

// dK, dV of key block j0.. over all query blocks that attend it; also dQ when `with_dq` (the task owns bh).
void key_block_task(const BackwardPlan& plan, int64_t bh, int64_t j0, bool with_dq, TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BQ = plan.BQ, NR = plan.NR, T = pr.T, D = pr.D, Dv = pr.Dv;
  const int cols = static_cast<int>(std::min(plan.BK, pr.S - j0));
  float* dk = pr.dk.of(bh) + j0 * pr.dk.row_stride;
  float* dv = pr.dv.of(bh) + j0 * pr.dv.row_stride;
  zero_rows(dk, cols, D, pr.dk.row_stride);
  zero_rows(dv, cols, Dv, pr.dv.row_stride);
  for (int64_t i0 = pr.causal ? j0 / BQ * BQ : 0; i0 < T; i0 += BQ) {
    const int rows = static_cast<int>(std::min(BQ, T - i0));
    const int64_t diagonal = pr.causal ? i0 - j0 : kNoDiagonal;
    if (pr.causal && i0 + rows - 1 < j0) continue;
    tile_gradients(plan, bh, i0, rows, j0, cols, diagonal, s);
    // Keys j0 + r0.. are attended by queries >= j0 + r0 only (causal): start the depth (query) loop there.
    auto limits = [&](int64_t n_end) {
      return [&, n_end](int64_t r0, int) { return RowLimits{pr.causal ? j0 + r0 - i0 : 0, rows, n_end}; };
    };
    flash::packed_product(cfg, cols, Dv, rows, 1.0f, s.p.get(), 1, plan.BK, plan.packed_dout(bh) + i0 * NR, T * NR,
                          1.0f, dv, pr.dv.row_stride, limits(Dv));
    flash::packed_product(cfg, cols, D, rows, static_cast<float>(pr.scale), s.ds.get(), 1, plan.BK,
                          plan.packed_q(bh) + i0 * NR, T * NR, 1.0f, dk, pr.dk.row_stride, limits(D));
    if (with_dq) accumulate_dq(plan, bh, i0, rows, j0, cols, diagonal, s);
  }
}

// dQ of query block i0.. over all key blocks it attends (the second pass of the split schedule).
void query_block_task(const BackwardPlan& plan, int64_t bh, int64_t i0, TileScratch& s) {
  const AttentionProblem<float>& pr = plan.pr;
  const int rows = static_cast<int>(std::min(plan.BQ, pr.T - i0));
  zero_rows(pr.dq.of(bh) + i0 * pr.dq.row_stride, rows, pr.D, pr.dq.row_stride);
  const int64_t kv_end = pr.causal ? std::min(pr.S, i0 + rows) : pr.S;
  for (int64_t j0 = 0; j0 < kv_end; j0 += plan.BK) {
    const int cols = static_cast<int>(std::min(plan.BK, pr.S - j0));
    const int64_t diagonal = pr.causal ? i0 - j0 : kNoDiagonal;
    tile_gradients(plan, bh, i0, rows, j0, cols, diagonal, s);
    accumulate_dq(plan, bh, i0, rows, j0, cols, diagonal, s);
  }
}

}  // namespace

void flash_attention_backward(const Table& table, const AttentionProblem<float>& pr) {
  const int64_t BH = pr.batch_heads, T = pr.T, S = pr.S;
  if (BH == 0) return;
  const SgemmConfig& cfg = table.sgemm;
  BackwardPlan plan{table, pr, flash::query_block(cfg), flash::key_block(cfg), cfg.nr,
                    flash::transposed_pack_size(cfg, S, pr.D), flash::transposed_pack_size(cfg, S, pr.Dv),
                    flash::direct_pack_size(cfg, S, pr.D), flash::direct_pack_size(cfg, T, pr.D),
                    flash::direct_pack_size(cfg, T, pr.Dv), nullptr, nullptr};
  flash::Scratch packs(BH * plan.pack_stride()), delta(BH * T);
  plan.packs = packs.get();
  plan.delta = delta.get();
  parallel_for(BH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) prepare(plan, bh);
  });
  const int64_t q_blocks = flash::ceil_div(T, plan.BQ), k_blocks = flash::ceil_div(S, plan.BK);
  const int64_t tile = plan.BQ * plan.BK;
  // ~5 tile products of 2 * BQ * BK * D flops each per (query block, key block) pair.
  const double pair_flops = 10.0 * tile * std::max<int64_t>(std::max(pr.D, pr.Dv), 1);
  auto grain_for = [&](double task_flops) { return std::max<int64_t>(1, static_cast<int64_t>(4.0e5 / task_flops)); };
  if (BH >= 2 * get_num_threads()) {
    parallel_for(BH, grain_for(pair_flops * q_blocks * k_blocks), [&](int64_t begin, int64_t end) {
      TileScratch s(tile);
      for (int64_t bh = begin; bh < end; ++bh) {
        zero_rows(pr.dq.of(bh), T, pr.D, pr.dq.row_stride);
        for (int64_t kb = 0; kb < k_blocks; ++kb) key_block_task(plan, bh, kb * plan.BK, true, s);
      }
    });
    return;
  }
  parallel_for(BH * k_blocks, grain_for(pair_flops * q_blocks), [&](int64_t begin, int64_t end) {
    TileScratch s(tile);
    for (int64_t task = begin; task < end; ++task)
      key_block_task(plan, task / k_blocks, (task % k_blocks) * plan.BK, false, s);
  });
  parallel_for(BH * q_blocks, grain_for(pair_flops * k_blocks), [&](int64_t begin, int64_t end) {
    TileScratch s(tile);
    for (int64_t task = begin; task < end; ++task)
      query_block_task(plan, task / q_blocks, (task % q_blocks) * plan.BQ, s);
  });
}

}  // namespace kernels
}  // namespace ember
