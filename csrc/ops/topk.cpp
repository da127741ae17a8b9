// topk: the k largest (or smallest) entries along a dim and their indices, sorted (NaN counts as the largest,
// as in PyTorch; ties keep the lower index first). The values are a gather of the input at the indices, so the
// gradient flows back through gather's scatter.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/threads.h"

namespace ember {

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;   // always sorted: PyTorch leaves the order unspecified when sorted=False
  EMBER_CHECK(x.defined(), TypeError, "topk: expected a tensor");
  EMBER_CHECK(x.dtype() != DType::Bool, TypeError, "topk: not implemented for bool tensors");
  const int64_t nd = std::max<int64_t>(x.dim(), 1);
  const int64_t d = wrap_dim(dim, nd, "topk");
  Tensor lines;   // x with `dim` moved last, contiguous: one line per output row
  {
    autograd::GradModeGuard no_grad(false);
    Tensor x1 = x.dim() == 0 ? reshape(x, {1}) : x;
    lines = contiguous(transpose(x1, d, nd - 1));
  }
  const int64_t n = lines.size(-1);
  EMBER_CHECK(k >= 0 && k <= n, ValueError, "topk: k (", k, ") is out of range for dimension ", d, " of size ", n);
  Shape index_shape = lines.shape();
  index_shape.back() = k;
  Tensor index = empty(index_shape, DType::Int64);
  const int64_t count = n == 0 ? 0 : lines.numel() / n;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = lines.data<T>();
    int64_t* out = index.data<int64_t>();
    // a before b: larger (or smaller) first, NaN beyond every number, then the lower index.
    auto before = [largest](T a, int64_t ia, T b, int64_t ib) {
      if constexpr (std::is_floating_point_v<T>) {
        const bool na = std::isnan(a), nb = std::isnan(b);
        if (na != nb) return largest ? na : nb;
        if (na) return ia < ib;
      }
      if (a != b) return largest ? a > b : a < b;
      return ia < ib;
    };
    parallel_for(count, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t l0, int64_t l1) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t l = l0; l < l1; ++l) {
        const T* line = v + l * n;
        std::iota(order.begin(), order.end(), int64_t{0});
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int64_t a, int64_t b) { return before(line[a], a, line[b], b); });
        std::copy(order.begin(), order.begin() + k, out + l * k);
      }
    });
  });
  Tensor indices = contiguous(transpose(index, d, nd - 1));
  if (x.dim() == 0) indices = reshape(indices, {});
  return {gather(x, d, indices), indices};
}

}  // namespace ember
