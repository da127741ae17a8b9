// Copies and dtype conversion: copy_into (strided, broadcasting, converting), to_dtype, contiguous, clone.
#include <algorithm>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/threads.h"
#include "ops/strided_loop.h"

namespace ember {
namespace {

struct ToDtypeBackward : autograd::Node {
  DType input_dtype;
  const char* name() const override { return "ToCopyBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {to_dtype(grads[0], input_dtype)}; }
};

struct CloneBackward : autograd::Node {
  const char* name() const override { return "CloneBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {grads[0]}; }
};

// dst contiguous (..., R, C) from a same-shape, same-dtype src whose last two dims run (1, sC): a transpose. A
// row-by-row copy reads src sC elements apart, a new cache line (and often a new page) per element; 32 x 32
// tiles through a local buffer keep both sides in L1. Returns false when the layout is not that.
bool copy_transposed(const Tensor& dst, const Tensor& src) {
  const int64_t nd = dst.dim();
  if (nd < 2 || !dst.is_contiguous() || src.shape() != dst.shape() || src.dtype() != dst.dtype()) return false;
  const Shape& shape = dst.shape();
  const Shape& st = src.strides();
  const int64_t R = shape[nd - 2], C = shape[nd - 1], sC = st[nd - 1];
  if (st[nd - 2] != 1 || sC == 1 || R < 32 || C < 32) return false;
  constexpr int64_t kTile = 32;
  const int64_t outer = dst.numel() / (R * C), row_tiles = (R + kTile - 1) / kTile;
  dispatch_dtype(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* d = dst.data<T>();
    const T* x = src.data<T>();
    parallel_for(outer * row_tiles, 1, [&](int64_t b, int64_t e) {
      for (int64_t task = b; task < e; ++task) {
        int64_t o = task / row_tiles, offset = 0;   // src offset of outer index o
        for (int64_t dim = nd - 3; dim >= 0; --dim) {
          offset += (o % shape[dim]) * st[dim];
          o /= shape[dim];
        }
        const int64_t r0 = task % row_tiles * kTile, r1 = std::min(R, r0 + kTile);
        T* dd = d + task / row_tiles * R * C;
        const T* xx = x + offset;
        T tile[kTile][kTile];   // through a local tile: rows of dst (or columns of src) 4 KiB apart share an L1 set
        for (int64_t c0 = 0; c0 < C; c0 += kTile) {
          const int64_t c1 = std::min(C, c0 + kTile);
          for (int64_t c = c0; c < c1; ++c)
            for (int64_t r = r0; r < r1; ++r) tile[r - r0][c - c0] = xx[r + c * sC];
          for (int64_t r = r0; r < r1; ++r) std::copy(tile[r - r0], tile[r - r0] + (c1 - c0), dd + r * C + c0);
        }
      }
    });
  });
  return true;
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.shape() == src.shape() && dst.is_contiguous() && src.is_contiguous()) {   // flat fast path
    dispatch_dtype(dst.dtype(), [&](auto dtag) {
      using D = decltype(dtag);
      dispatch_dtype(src.dtype(), [&](auto stag) {
        using S = decltype(stag);
        D* d = dst.data<D>();
        const S* x = src.data<S>();
        parallel_for(dst.numel(), 65536, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) d[i] = static_cast<D>(x[i]);
        });
      });
    });
    return;
  }
  if (copy_transposed(dst, src)) return;
  Shape shape = broadcast_shapes(dst.shape(), src.shape(), "copy_");
  EMBER_CHECK(shape == dst.shape(), ValueError, "copy_: source of shape ", shape_str(src.shape()),
              " cannot be broadcast to destination shape ", shape_str(dst.shape()));
  std::array<Shape, 2> strides{dst.strides(), broadcast_strides(src, shape)};
  std::array<char*, 2> base{static_cast<char*>(dst.raw_data()), static_cast<char*>(src.raw_data())};
  int64_t dsz = static_cast<int64_t>(itemsize(dst.dtype())), ssz = static_cast<int64_t>(itemsize(src.dtype()));
  dispatch_dtype(dst.dtype(), [&](auto dtag) {
    using D = decltype(dtag);
    dispatch_dtype(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      for_each_row<2>(shape, strides, base, {dsz, ssz}, 65536,
                      [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                        D* d = reinterpret_cast<D*>(p[0]);
                        const S* x = reinterpret_cast<const S*>(p[1]);
                        if (s[0] == 1 && s[1] == 1) {
                          for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(x[i]);
                        } else if (s[0] == 1 && s[1] == 0) {   // a broadcast value (the backward of sum, mean)
                          std::fill(d, d + n, static_cast<D>(x[0]));
                        } else {
                          for (int64_t i = 0; i < n; ++i) d[i * s[0]] = static_cast<D>(x[i * s[1]]);
                        }
                      });
    });
  });
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = empty(x.shape(), dtype);
  copy_into(out, x);
  if (is_floating(dtype) && is_floating(x.dtype())) {
    if (auto node = autograd::make_node<ToDtypeBackward>({&x})) {
      node->input_dtype = x.dtype();
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor clone(const Tensor& x) {
  Tensor out = empty(x.shape(), x.dtype());
  copy_into(out, x);
  if (auto node = autograd::make_node<CloneBackward>({&x})) autograd::set_history(out, node);
  return out;
}

Tensor contiguous(const Tensor& x) { return x.is_contiguous() ? x : clone(x); }

}  // namespace ember
