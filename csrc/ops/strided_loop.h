// Walks N operands of one broadcast shape row by row: dims are coalesced where every operand is contiguous
// across them, so the common case is a single flat row split across threads. Used by every elementwise op.
#pragma once
#include <array>
#include <cstdint>

#include "ember/tensor.h"
#include "ember/threads.h"

namespace ember {

// Strides of `t` (in elements) when broadcast to `shape` (0 along broadcast dims).
Shape broadcast_strides(const Tensor& t, const Shape& shape);
// NumPy broadcasting of two shapes; ValueError naming `op` if they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// f(ptrs, inner_strides, n) is called for rows of n elements; ptrs are byte pointers, strides in elements.
template <size_t N, typename F>
void for_each_row(const Shape& shape, const std::array<Shape, N>& strides, std::array<char*, N> base,
                  std::array<int64_t, N> itemsizes, int64_t grain, F&& f) {
  // Coalesce: drop size-1 dims, merge dim i into i+1 when contiguous for all operands.
  Shape sizes;
  std::array<Shape, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (shape[d] == 0) return;
    if (!sizes.empty()) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k)
        if (st[k].back() != strides[k][d] * shape[d]) { mergeable = false; break; }
      if (mergeable) {
        sizes.back() *= shape[d];
        for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
        continue;
      }
    }
    sizes.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
  }
  if (sizes.empty()) {   // a single element
    std::array<int64_t, N> zero{};
    f(base, zero, int64_t{1});
    return;
  }
  const int64_t inner = sizes.back();
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = st[k].back();
  int64_t outer = 1;
  for (size_t d = 0; d + 1 < sizes.size(); ++d) outer *= sizes[d];

  if (outer == 1) {   // one long row: split it
    parallel_for(inner, grain, [&](int64_t begin, int64_t end) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = base[k] + begin * inner_strides[k] * itemsizes[k];
      f(p, inner_strides, end - begin);
    });
    return;
  }
  const int64_t outer_dims = static_cast<int64_t>(sizes.size()) - 1;
  int64_t row_grain = inner >= grain ? 1 : (grain + inner - 1) / inner;
  parallel_for(outer, row_grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      std::array<char*, N> p = base;
      int64_t rem = r;
      for (int64_t d = outer_dims - 1; d >= 0; --d) {
        int64_t i = rem % sizes[d];
        rem /= sizes[d];
        for (size_t k = 0; k < N; ++k) p[k] += i * st[k][d] * itemsizes[k];
      }
      f(p, inner_strides, inner);
    }
  });
}

}  // namespace ember
