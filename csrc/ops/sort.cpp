// sort / argsort / topk along a dim, as in PyTorch: NaN counts as the largest value, and equal values keep their
// input order (a stable sort, whichever the direction). The values are a gather of the input at the indices, so
// the gradient flows back through gather's scatter.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/threads.h"

namespace ember {
namespace {

// The first k positions along `dim` (all for k < 0) in the order: largest (or smallest) first, ties by position.
Tensor ranked_indices(const Tensor& x, int64_t k, int64_t dim, bool largest, const char* op) {
  EMBER_CHECK(x.defined(), TypeError, op, ": expected a tensor");
  const int64_t nd = std::max<int64_t>(x.dim(), 1);
  const int64_t d = wrap_dim(dim, nd, op);
  Tensor lines;   // x with `dim` moved last, contiguous: one line per output row
  {
    autograd::GradModeGuard no_grad(false);
    lines = contiguous(transpose(x.dim() == 0 ? reshape(x, {1}) : x, d, nd - 1));
  }
  const int64_t n = lines.size(-1);
  if (k < 0) k = n;
  EMBER_CHECK(k <= n, ValueError, op, ": k (", k, ") is out of range for dimension ", d, " of size ", n);
  Shape index_shape = lines.shape();
  index_shape.back() = k;
  Tensor index = empty(index_shape, DType::Int64);
  const int64_t count = n == 0 ? 0 : lines.numel() / n;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* v = lines.data<T>();
    int64_t* out = index.data<int64_t>();
    parallel_for(count, std::max<int64_t>(1, 4096 / std::max<int64_t>(n, 1)), [&](int64_t l0, int64_t l1) {
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t l = l0; l < l1; ++l) {
        const T* line = v + l * n;
        auto before = [line, largest](int64_t a, int64_t b) {
          if constexpr (std::is_floating_point_v<T>) {
            const bool na = std::isnan(line[a]), nb = std::isnan(line[b]);
            if (na || nb) return na != nb ? (largest ? na : nb) : a < b;
          }
          if (line[a] != line[b]) return largest ? line[a] > line[b] : line[a] < line[b];
          return a < b;
        };
        std::iota(order.begin(), order.end(), int64_t{0});
        if (k == n) std::sort(order.begin(), order.end(), before);
        else std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
        std::copy(order.begin(), order.begin() + k, out + l * k);
      }
    });
  });
  Tensor indices = contiguous(transpose(index, d, nd - 1));
  return x.dim() == 0 ? reshape(indices, {}) : indices;
}

// (x at the indices along dim, the indices): gather carries the gradient.
std::pair<Tensor, Tensor> values_at(const Tensor& x, int64_t dim, const Tensor& indices) {
  return {gather(x, x.dim() == 0 ? 0 : dim, indices), indices};
}

}  // namespace

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  (void)sorted;   // always sorted: PyTorch leaves the order unspecified when sorted=False
  EMBER_CHECK(!x.defined() || x.dtype() != DType::Bool, TypeError, "topk: not implemented for bool tensors");
  EMBER_CHECK(k >= 0, ValueError, "topk: k (", k, ") is out of range: it must be non-negative");
  return values_at(x, dim, ranked_indices(x, k, dim, largest, "topk"));
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  return values_at(x, dim, ranked_indices(x, -1, dim, descending, "sort"));
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) {
  return ranked_indices(x, -1, dim, descending, "argsort");
}

}  // namespace ember
