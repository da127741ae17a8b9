// An odometer over a shape: visits every element in row-major order with its offset under N sets of strides.
// Serial and allocation-free per step; used by the index ops to turn index tensors into element offsets.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "ember/tensor.h"

namespace ember {

// f(i, offsets) for each element i of `shape` (row-major); offsets[k] = sum over dims of coordinate * strides[k][dim].
template <size_t N, typename F>
void walk_offsets(const Shape& shape, const std::array<Shape, N>& strides, F&& f) {
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  if (count == 0) return;
  const int64_t ndim = static_cast<int64_t>(shape.size());
  std::vector<int64_t> coord(ndim, 0);
  std::array<int64_t, N> offsets{};
  for (int64_t i = 0; i < count; ++i) {
    f(i, offsets);
    for (int64_t d = ndim - 1; d >= 0; --d) {
      if (++coord[d] < shape[d]) {
        for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][d];
        break;
      }
      coord[d] = 0;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][d] * (shape[d] - 1);
    }
  }
}

}  // namespace ember
