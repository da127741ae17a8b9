// Flash attention forward (float32): K^T and V packed once per (batch, head) into micro-kernel slivers, then
// one task per (batch x head, 48-row query block) streams 64-key blocks: S = scale Q K^T on the sgemm
// micro-kernel, the online-softmax step (row primitive), dropout, O += P V. Causal attention stops at the
// diagonal and skips MR x NR tiles above it. Saves log-sum-exp per row for the backward.
#include <cmath>
#include <limits>

#include "core/threads.h"
#include "kernels/attention/flash_tiles.h"

namespace ember {
namespace kernels {
namespace {

using flash::RowLimits;

struct ForwardPlan {
  const Table& table;
  const AttentionProblem<float>& pr;
  int64_t BQ, BK, NR;
  int64_t kt_size, v_size;   // floats per (batch, head) of the K^T and V packs
  float* packs;
  const float* packed_kt(int64_t bh) const { return packs + bh * (kt_size + v_size); }
  const float* packed_v(int64_t bh) const { return packed_kt(bh) + kt_size; }
};

// Output rows [i0, i0 + rows) of matrix bh. scores is (BQ, BK) scratch; row_max, row_sum are (BQ).
void forward_query_block(const ForwardPlan& plan, int64_t bh, int64_t i0, int64_t rows, float* scores,
                         float* row_max, float* row_sum) {
  const AttentionProblem<float>& pr = plan.pr;
  const SgemmConfig& cfg = plan.table.sgemm;
  const int64_t BK = plan.BK, NR = plan.NR, D = pr.D, Dv = pr.Dv, S = pr.S;
  const float scale = static_cast<float>(pr.scale);
  const float* q = pr.q.of(bh) + i0 * pr.q.row_stride;
  float* out = pr.out.of(bh) + i0 * pr.out.row_stride;
  const int64_t out_rs = pr.out.row_stride;
  for (int64_t r = 0; r < rows; ++r) {
    std::fill(out + r * out_rs, out + r * out_rs + Dv, 0.0f);
    row_max[r] = -std::numeric_limits<float>::infinity();
    row_sum[r] = 0.0f;
  }
  const int64_t kv_end = pr.causal ? std::min(S, i0 + rows) : S;
  for (int64_t j0 = 0; j0 < kv_end; j0 += BK) {
    const int cols = static_cast<int>(std::min(BK, kv_end - j0));
    const int64_t diagonal = pr.causal ? i0 - j0 : kNoDiagonal;
    // Columns a row group needs: up to the diagonal of its last row.
    auto needed_cols = [&](int64_t r0, int m) -> int64_t {
      return attention_valid_cols(static_cast<int>(r0) + m - 1, cols, diagonal);
    };
    flash::packed_product(cfg, rows, cols, D, scale, q, pr.q.row_stride, 1, plan.packed_kt(bh) + (j0 / NR) * D * NR,
                          D * NR, 0.0f, scores, BK, [&](int64_t r0, int m) { return RowLimits{0, D, needed_cols(r0, m)}; });
    const float* mask = pr.mask.data ? pr.mask.of(bh) + i0 * pr.mask.row_stride + j0 : nullptr;
    plan.table.attention.softmax_step(scores, BK, mask, pr.mask.row_stride, static_cast<int>(rows), cols, diagonal,
                                      row_max, row_sum, out, out_rs, static_cast<int>(Dv));
    if (pr.dropout.active()) {
      for (int64_t r = 0; r < rows; ++r) {
        const uint64_t base = static_cast<uint64_t>((bh * pr.T + i0 + r) * S + j0);
        const int n = attention_valid_cols(static_cast<int>(r), cols, diagonal);
        for (int c = 0; c < n; ++c) scores[r * BK + c] *= pr.dropout.factor(base + c);
      }
    }
    flash::packed_product(cfg, rows, Dv, cols, 1.0f, scores, BK, 1, plan.packed_v(bh) + j0 * NR, S * NR, 1.0f, out,
                          out_rs, [&](int64_t r0, int m) { return RowLimits{0, needed_cols(r0, m), Dv}; });
  }
  float* lse = pr.lse + bh * pr.T + i0;
  for (int64_t r = 0; r < rows; ++r) {
    if (row_sum[r] > 0.0f) {
      const float inverse = 1.0f / row_sum[r];
      float* o = out + r * out_rs;
      for (int64_t e = 0; e < Dv; ++e) o[e] *= inverse;
      lse[r] = row_max[r] + std::log(row_sum[r]);
    } else {
      lse[r] = std::numeric_limits<float>::infinity();   // fully masked: output 0, probabilities 0
    }
  }
}

}  // namespace

void flash_attention_forward(const Table& table, const AttentionProblem<float>& pr) {
  if (pr.batch_heads == 0 || pr.T == 0) return;
  const SgemmConfig& cfg = table.sgemm;
  const int64_t kt_size = flash::transposed_pack_size(cfg, pr.S, pr.D);
  const int64_t v_size = flash::direct_pack_size(cfg, pr.S, pr.Dv);
  flash::Scratch packs(pr.batch_heads * (kt_size + v_size));
  ForwardPlan plan{table, pr, flash::query_block(cfg), flash::key_block(cfg), cfg.nr, kt_size, v_size, packs.get()};
  parallel_for(pr.batch_heads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      float* kt = plan.packs + bh * (kt_size + v_size);
      flash::pack_transposed(cfg, pr.k.of(bh), pr.k.row_stride, pr.S, pr.D, kt);
      flash::pack_direct(cfg, pr.v.of(bh), pr.v.row_stride, pr.S, pr.Dv, kt + kt_size);
    }
  });
  const int64_t q_blocks = flash::ceil_div(pr.T, plan.BQ);
  const double task_flops = 2.0 * plan.BQ * std::max<int64_t>(pr.S, 1) * (pr.D + pr.Dv);
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(4.0e5 / task_flops));
  parallel_for(pr.batch_heads * q_blocks, grain, [&](int64_t begin, int64_t end) {
    flash::Scratch scores(plan.BQ * plan.BK), stats(2 * plan.BQ);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / q_blocks, i0 = (task % q_blocks) * plan.BQ;
      forward_query_block(plan, bh, i0, std::min(plan.BQ, pr.T - i0), scores.get(), stats.get(),
                          stats.get() + plan.BQ);
    }
  });
}

}  // namespace kernels
}  // namespace ember
