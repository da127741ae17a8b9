// Flash attention forward (float32): K^T and V packed once per (batch, head) into micro-kernel slivers, then
// one task per (batch x head, 48-row query block) streams 256-key blocks: S = scale Q K^T on the sgemm
// micro-kernel, the online-softmax step (row primitive), dropout, O += P V. Causal attention stops at the
// diagonal and skips MR x NR tiles above it. Saves log-sum-exp per row for the backward. Up to kDecodeRows
// queries (decoding with a KV cache) skip the packs and tiles: the rows read K and V in place together.
#include <cmath>
#include <limits>

#include "ember/threads.h"
#include "kernels/attention/flash_tiles.h"

namespace ember {
namespace kernels {
namespace {

using flash::RowLimits;

struct ForwardPlan {
  const Table& table;
  const AttentionProblem<float>& pr;
  int64_t BQ, BK, NR;
  int64_t kt_size, v_size;   // floats of the K^T and V packs of one (batch, head)
};

// Packs of one (batch, head): scale K^T (times log2 e for base-2 row primitives; D deep, S wide) then V (S deep,
// Dv wide).
void pack_kv(const ForwardPlan& plan, int64_t bh, float* packs) {
  const AttentionProblem<float>& pr = plan.pr;
  flash::pack_transposed(plan.table, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D,
                         static_cast<float>(pr.scale * flash::score_unit(plan.table)), packs);
  flash::pack_direct(plan.table, pr.v.of(bh), pr.v.row_stride, pr.S, pr.Dv, 1.0f, packs + plan.kt_size);
}

// Output rows [i0, i0 + rows) of matrix bh from its packs. scores is (BQ, BK) scratch; row_max, row_sum (BQ);
// packed_q holds a_pack_size(BQ, D) floats.
void forward_query_block(const ForwardPlan& plan, int64_t bh, const float* packs, int64_t i0, int64_t rows,
                         float* scores, float* row_max, float* row_sum, float* packed_q) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BK = plan.BK, NR = plan.NR, D = pr.D, Dv = pr.Dv, S = pr.S;
  const float *packed_kt = packs, *packed_v = packs + plan.kt_size;
  float* out = pr.out.of(bh) + i0 * pr.out.row_stride;
  const int64_t out_rs = pr.out.row_stride;
  for (int64_t r = 0; r < rows; ++r) {
    row_max[r] = -std::numeric_limits<float>::infinity();
    row_sum[r] = 0.0f;
  }
  const int64_t kv_end = pr.causal ? std::min(S, i0 + rows) : S;
  // Q meeting several key blocks is packed once; for one key block the pack costs more than it saves.
  const float* q_rows = pr.q.of(bh) + i0 * pr.q.row_stride;
  const flash::OperandA q = kv_end > BK ? flash::pack_a(cfg, q_rows, pr.q.row_stride, rows, D, packed_q)
                                        : flash::strided_a(q_rows, pr.q.row_stride, 1);
  if (kv_end == 0)
    for (int64_t r = 0; r < rows; ++r) std::fill(out + r * out_rs, out + r * out_rs + Dv, 0.0f);
  for (int64_t j0 = 0; j0 < kv_end; j0 += BK) {
    const int cols = static_cast<int>(std::min(BK, kv_end - j0));
    const int64_t diagonal = pr.causal ? i0 - j0 : kNoDiagonal;
    const bool first = j0 == 0;   // out is not yet written: P V overwrites it (every row group has k >= 1)
    // Columns a row group needs: up to the diagonal of its last row.
    auto needed_cols = [&](int64_t r0, int m) -> int64_t {
      return attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal);
    };
    flash::packed_product(cfg, rows, cols, D, 1.0f, q, packed_kt + (j0 / NR) * D * NR, D * NR, 0.0f,
                          scores, BK, [&](int64_t r0, int m) { return RowLimits{0, D, needed_cols(r0, m)}; });
    const float* mask = pr.mask.data ? pr.mask.of(bh) + i0 * pr.mask.row_stride + j0 : nullptr;
    plan.table.attention.softmax_step(scores, BK, mask, pr.mask.row_stride, static_cast<int>(rows), cols, diagonal,
                                      row_max, row_sum, first ? nullptr : out, out_rs,
                                      first ? 0 : static_cast<int>(Dv));
    if (pr.dropout.active()) {
      for (int64_t r = 0; r < rows; ++r) {
        const uint64_t base = static_cast<uint64_t>((bh * pr.T + i0 + r) * S + j0);
        const int n = attention_valid_cols(static_cast<int>(r), cols, diagonal);
        for (int c = 0; c < n; ++c) scores[r * BK + c] *= pr.dropout.factor(base + c);
      }
    }
    flash::packed_product(cfg, rows, Dv, cols, 1.0f, flash::strided_a(scores, BK, 1), packed_v + j0 * NR, S * NR,
                          first ? 0.0f : 1.0f, out, out_rs,
                          [&](int64_t r0, int m) { return RowLimits{0, needed_cols(r0, m), Dv}; });
  }
  float* lse = pr.lse + bh * pr.T + i0;
  // Normalise each row (the ISA's row primitive), then lse = max + log(sum) with the vector log (the max back in
  // natural units). A row whose max stayed -inf (fully masked) has sum 0: output 0, lse +inf (probabilities 0 in
  // the backward).
  plan.table.attention.normalize_rows(out, out_rs, static_cast<int>(rows), static_cast<int>(Dv), row_sum);
  plan.table.log(row_sum, row_sum, rows);
  const float to_natural = static_cast<float>(1.0 / flash::score_unit(plan.table));
  for (int64_t r = 0; r < rows; ++r)
    lse[r] = row_max[r] == -std::numeric_limits<float>::infinity() ? std::numeric_limits<float>::infinity()
                                                                   : row_max[r] * to_natural + row_sum[r];
}

// All T (<= kDecodeRows) query rows of matrix bh with K and V read in place (the few-query path): scores as dot
// products with K's rows, the softmax row primitive, dropout, P V as weighted sums of V's rows, normalised.
// scores holds kDecodeRows x S floats.
void decode_rows(const Table& table, const AttentionProblem<float>& pr, int64_t bh, float* scores) {
  const int rows = static_cast<int>(pr.T);
  const int cols = static_cast<int>(pr.causal ? std::min(pr.S, pr.T) : pr.S);
  float row_max[kDecodeRows], row_sum[kDecodeRows];
  for (int r = 0; r < rows; ++r) {
    row_max[r] = -std::numeric_limits<float>::infinity();
    row_sum[r] = 0.0f;
  }
  table.attention.scores_rows(pr.q.of(bh), pr.q.row_stride, rows, pr.k.of(bh), pr.k.row_stride, cols,
                              static_cast<int>(pr.D), static_cast<float>(pr.scale * flash::score_unit(table)),
                              scores, pr.S);
  const float* mask = pr.mask.data ? pr.mask.of(bh) : nullptr;
  table.attention.softmax_step(scores, pr.S, mask, pr.mask.row_stride, rows, cols, pr.causal ? 0 : kNoDiagonal,
                               row_max, row_sum, nullptr, 0, 0);
  if (pr.dropout.active()) {
    for (int r = 0; r < rows; ++r) {
      const uint64_t base = static_cast<uint64_t>((bh * pr.T + r) * pr.S);
      for (int c = 0; c < cols; ++c) scores[r * pr.S + c] *= pr.dropout.factor(base + c);
    }
  }
  float* out = pr.out.of(bh);
  table.attention.weighted_sums(scores, pr.S, rows, pr.v.of(bh), pr.v.row_stride, cols, static_cast<int>(pr.Dv),
                                out, pr.out.row_stride);
  table.attention.normalize_rows(out, pr.out.row_stride, rows, static_cast<int>(pr.Dv), row_sum);
  const float to_natural = static_cast<float>(1.0 / flash::score_unit(table));
  for (int r = 0; r < rows; ++r)
    pr.lse[bh * pr.T + r] = row_max[r] == -std::numeric_limits<float>::infinity()
                                ? std::numeric_limits<float>::infinity()
                                : row_max[r] * to_natural + std::log(row_sum[r]);
}

}  // namespace

void flash_attention_forward(const Table& table, const AttentionProblem<float>& pr) {
  const int64_t BH = pr.batch_heads;
  if (BH == 0 || pr.T == 0) return;
  if (pr.T <= kDecodeRows) {
    // A few queries (decoding with a KV cache): tiles of MR query rows would compute MR rows for each one used,
    // and packing K and V would cost as much as reading them once; the rows go through K and V in place instead
    // (S = 512, 1 thread, x PyTorch: T = 1 / 2 / 4 / 6 / 8 0.49 / 0.56 / 0.76 / 0.84 / 0.92 through tiles,
    // 1.14 / 1.25 / 1.43 / 1.16 / 1.01 this way).
    const double pair_flops = 2.0 * pr.T * std::max<int64_t>(pr.S, 1) * (pr.D + pr.Dv);
    parallel_for(BH, std::max<int64_t>(1, static_cast<int64_t>(4.0e5 / pair_flops)), [&](int64_t b, int64_t e) {
      float* scores = flash::thread_scratch(flash::kTileSlot, kDecodeRows * std::max<int64_t>(pr.S, 1));
      for (int64_t bh = b; bh < e; ++bh) decode_rows(table, pr, bh, scores);
    });
    return;
  }
  const SgemmConfig& cfg = table.sgemm;
  const ForwardPlan plan{table, pr, flash::query_block(cfg), flash::forward_key_block(cfg), cfg.nr,
                         flash::transposed_pack_size(cfg, pr.S, pr.D), flash::direct_pack_size(cfg, pr.S, pr.Dv)};
  const int64_t pack_size = plan.kt_size + plan.v_size, q_blocks = flash::ceil_div(pr.T, plan.BQ);
  const double block_flops = 2.0 * plan.BQ * std::max<int64_t>(pr.S, 1) * (pr.D + pr.Dv);
  auto grain_for = [](double task_flops) { return std::max<int64_t>(1, static_cast<int64_t>(4.0e5 / task_flops)); };
  auto run_blocks = [&](int64_t bh, const float* packs, int64_t qb_begin, int64_t qb_end) {
    const int64_t q_pack = flash::a_pack_size(cfg, plan.BQ, pr.D), tile = plan.BQ * plan.BK;
    float* scratch = flash::thread_scratch(flash::kTileSlot, q_pack + tile + 2 * plan.BQ);
    for (int64_t qb = qb_begin; qb < qb_end; ++qb) {
      const int64_t i0 = qb * plan.BQ;
      forward_query_block(plan, bh, packs, i0, std::min(plan.BQ, pr.T - i0), scratch + q_pack, scratch + q_pack + tile,
                          scratch + q_pack + tile + plan.BQ, scratch);
    }
  };
  // Each task owns (batch, head) pairs, packing each into its thread's scratch (stays in cache), unless spreading
  // query blocks over the threads saves an eighth of the busiest thread's blocks (fewer pairs than threads, or
  // 3 on 2): then every pair is packed first.
  const int64_t threads = get_num_threads();
  if (8 * flash::ceil_div(BH * q_blocks, threads) >= 7 * flash::ceil_div(BH, threads) * q_blocks) {
    parallel_for(BH, grain_for(block_flops * q_blocks), [&](int64_t begin, int64_t end) {
      float* packs = flash::thread_scratch(flash::kPackSlot, pack_size);
      for (int64_t bh = begin; bh < end; ++bh) {
        // Consecutive query heads of one key / value head (grouped-query attention) share its packs.
        if (bh == begin || pr.k.of(bh) != pr.k.of(bh - 1) || pr.v.of(bh) != pr.v.of(bh - 1)) pack_kv(plan, bh, packs);
        Prefetcher next(flash::kPrefetchBytes);   // the inputs of the next pair, while this one computes
        if (bh + 1 < end) {
          next.add(pr.k.of(bh + 1), pr.k.row_stride, pr.S, pr.D);
          next.add(pr.v.of(bh + 1), pr.v.row_stride, pr.S, pr.Dv);
          next.add(pr.q.of(bh + 1), pr.q.row_stride, pr.T, pr.D);
        }
        flash::PrefetchScope scope(&next);
        run_blocks(bh, packs, 0, q_blocks);
      }
    });
    return;
  }
  // Pack every pair first, then spread query blocks over the threads.
  float* packs = flash::thread_scratch(flash::kSharedPackSlot, BH * pack_size);
  parallel_for(BH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) pack_kv(plan, bh, packs + bh * pack_size);
  });
  parallel_for(BH * q_blocks, grain_for(block_flops), [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / q_blocks, qb = task % q_blocks;
      run_blocks(bh, packs + bh * pack_size, qb, qb + 1);
    }
  });
}

}  // namespace kernels
}  // namespace ember
