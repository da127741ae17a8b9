// cumsum along a dim, accumulated in double for floats (as PyTorch's CPU kernel does); bool and int64 inputs give
// int64. The backward is the same scan of the gradient run from the end.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/threads.h"

namespace ember {
namespace {

Tensor scan(const Tensor& x, int64_t d, bool reverse, DType dtype);

struct CumsumBackward : autograd::Node {
  int64_t dim = 0;
  DType input_dtype = DType::Float32;
  const char* name() const override { return "CumsumBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {scan(grads[0], dim, true, input_dtype)}; }
};

// out[..., i, ...] = sum of x[..., j, ...] over j <= i (j >= i when reverse) along dim d, in dtype.
Tensor scan(const Tensor& x, int64_t d, bool reverse, DType dtype) {
  Tensor src;
  {
    autograd::GradModeGuard no_grad(false);
    src = contiguous(to_dtype(x, dtype));
  }
  Tensor out = empty(x.shape(), dtype);
  const Shape& shape = x.shape();
  const int64_t n = x.dim() == 0 ? 1 : shape[d];
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < x.dim(); ++k) {
    if (k < d) outer *= shape[k];
    if (k > d) inner *= shape[k];
  }
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* s = src.data<T>();
    T* o = out.data<T>();
    parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(n * inner, 1)), [&](int64_t b, int64_t e) {
      std::vector<Acc> total(static_cast<size_t>(inner));
      for (int64_t p = b; p < e; ++p) {
        std::fill(total.begin(), total.end(), Acc(0));
        for (int64_t step = 0; step < n; ++step) {
          const int64_t i = reverse ? n - 1 - step : step, at = (p * n + i) * inner;
          for (int64_t j = 0; j < inner; ++j) {
            total[j] += static_cast<Acc>(s[at + j]);
            o[at + j] = static_cast<T>(total[j]);
          }
        }
      }
    });
  });
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  EMBER_CHECK(x.defined(), TypeError, "cumsum: expected a tensor");
  const int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1), "cumsum");
  const DType result = dtype ? *dtype : is_floating(x.dtype()) ? x.dtype() : DType::Int64;
  EMBER_CHECK(result != DType::Bool, TypeError, "cumsum: a bool result dtype is not supported");
  Tensor out = scan(x, x.dim() == 0 ? 0 : d, false, result);
  if (is_floating(x.dtype()) && is_floating(result)) {
    if (auto node = autograd::make_node<CumsumBackward>({&x})) {
      node->dim = x.dim() == 0 ? 0 : d;
      node->input_dtype = x.dtype();
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace ember
