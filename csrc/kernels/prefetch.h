// Software prefetch of the matrices a later pack will read, a few cache lines at a time from inside the
// micro-kernel loops (the caller steps it after each tile): the lines arrive while the current block computes
// instead of at memory speed when the pack reads them. One burst up front hides little (measured on an AVX-512
// Zen 4: spread over the tiles +4-6% on attention at T = 256, a burst +1-2%). The lines go to L2 (prefetcht2),
// not L1: into L1 they evicted the tiles' operands, so only a trickle paid off, too slow to finish within a
// causal pass (to L2 at twice the rate: causal T = 256 forward +4-5%, full +1%).
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

class Prefetcher {
 public:
  // Sources past max_bytes in all are left to the pack (they would evict what the current block uses).
  explicit Prefetcher(int64_t max_bytes) : budget_(max_bytes) {}

  // Rows [0, rows) of cols floats each, row stride row_stride (floats).
  void add(const float* x, int64_t row_stride, int64_t rows, int64_t cols) {
    const int64_t bytes = rows * cols * static_cast<int64_t>(sizeof(float));
    if (count_ == kMaxSources || rows <= 0 || cols <= 0 || bytes > budget_) return;
    budget_ -= bytes;
    sources_[count_++] = {x, row_stride, rows, cols};
  }

  void step(int64_t lines) {
    int next = next_;
    int64_t row = row_, col = col_;
    for (; lines > 0 && next < count_; --lines) {
      const Source& s = sources_[next];
      __builtin_prefetch(s.x + row * s.row_stride + col, 0, 1);   // prefetcht2: to L2
      if ((col += 16) < s.cols) continue;
      col = 0;
      if (++row < s.rows) continue;
      row = 0;
      ++next;
    }
    next_ = next, row_ = row, col_ = col;
  }

 private:
  struct Source {
    const float* x;
    int64_t row_stride, rows, cols;
  };
  static constexpr int kMaxSources = 5;
  Source sources_[kMaxSources];
  int count_ = 0, next_ = 0;
  int64_t row_ = 0, col_ = 0, budget_;
};

}  // namespace kernels
}  // namespace ember
