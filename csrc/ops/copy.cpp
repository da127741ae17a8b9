// Copies and dtype conversion: copy_into (strided, broadcasting, converting), to_dtype, contiguous, clone.
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
