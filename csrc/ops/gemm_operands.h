// Helpers shared by the matmul and linear ops: viewing a strided tensor as a matrix (folding leading dims
// into rows when the strides allow it), a strided copy for when they do not, and dtype checks.
#pragma once
#include <cstring>

#include "ember/tensor.h"

namespace ember {
namespace gemm_operands {

// Dims [begin, end) of (sizes, strides) folded into one dim: true and its stride when the layout allows
// (size-1 dims are ignored; zero strides fold), false otherwise. An empty or all-size-1 range folds, stride 0.
inline bool fold_dims(const Shape& sizes, const Shape& strides, size_t begin, size_t end, int64_t& stride) {
  stride = 0;
  bool have = false;
  int64_t expected = 0;
  for (size_t d = end; d-- > begin;) {
    if (sizes[d] == 1) continue;
    if (!have) {
      stride = strides[d];
      expected = strides[d] * sizes[d];
      have = true;
    } else {
      if (strides[d] != expected) return false;
      expected = strides[d] * sizes[d];
    }
  }
  return true;
}

// A contiguous copy of `t` (any strides), same shape and dtype, without autograd history.
inline Tensor contiguous_copy(const Tensor& t) {
  Tensor out = empty(t.shape(), t.dtype());
  const int64_t n = t.numel(), ndim = t.dim();
  if (n == 0) return out;
  const size_t isz = itemsize(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  Shape index(ndim, 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(dst + i * isz, src + offset * static_cast<int64_t>(isz), isz);
    for (int64_t d = ndim - 1; d >= 0; --d) {
      if (++index[d] < t.shape()[d]) { offset += t.strides()[d]; break; }
      offset -= t.strides()[d] * (index[d] - 1);
      index[d] = 0;
    }
  }
  return out;
}

// A tensor (..., n) as a (rows, n) matrix: rows = product of leading dims; `holder` keeps the data alive (the
// tensor itself, or a contiguous copy when its leading dims cannot be folded).
struct RowMatrix {
  Tensor holder;
  int64_t rows = 1, cols = 1, row_stride = 0, col_stride = 1;
  template <typename T> const T* data() const { return holder.data<T>(); }
};

inline RowMatrix as_row_matrix(const Tensor& t) {
  RowMatrix m;
  m.holder = t;
  const int64_t nd = t.dim();
  m.cols = nd ? t.shape()[nd - 1] : 1;
  m.col_stride = nd ? t.strides()[nd - 1] : 1;
  m.rows = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) m.rows *= t.shape()[d];
  if (nd <= 1) return m;
  if (!fold_dims(t.shape(), t.strides(), 0, static_cast<size_t>(nd - 1), m.row_stride)) {
    m.holder = contiguous_copy(t);
    m.row_stride = m.cols;
    m.col_stride = 1;
  }
  return m;
}

inline void check_float_dtypes(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(is_floating(a.dtype()) && is_floating(b.dtype()), TypeError, op,
              ": expected float32 or float64 tensors, got ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  EMBER_CHECK(a.dtype() == b.dtype(), TypeError, op, ": expected both operands to have the same dtype, got ",
              dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
}

}  // namespace gemm_operands
}  // namespace ember
