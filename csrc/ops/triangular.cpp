// tril / triu: the lower or upper triangle of the last two dims (diagonal k shifts it), the rest zero; the
// backward keeps the same triangle of the gradient. Any dtype (bool masks included).
#include <algorithm>

#include "ember/node.h"
#include "ember/ops.h"
#include "ember/threads.h"

namespace ember {
namespace {

Tensor triangle(const Tensor& x, int64_t diagonal, bool lower);

struct TriangleBackward : autograd::Node {
  int64_t diagonal = 0;
  bool lower = true;
  const char* name() const override { return lower ? "TrilBackward0" : "TriuBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override { return {triangle(grads[0], diagonal, lower)}; }
};

Tensor triangle(const Tensor& x, int64_t diagonal, bool lower) {
  const char* op = lower ? "tril" : "triu";
  EMBER_CHECK(x.defined(), TypeError, op, ": expected a tensor");
  EMBER_CHECK(x.dim() >= 2, ValueError, op, ": input tensor must have at least 2 dimensions, got a ", x.dim(),
              "-D tensor of shape ", shape_str(x.shape()));
  Tensor src;
  {
    autograd::GradModeGuard no_grad(false);
    src = contiguous(x);
  }
  Tensor out = empty(x.shape(), x.dtype());
  const int64_t R = x.size(-2), C = x.size(-1), rows = C == 0 ? 0 : x.numel() / C;
  // Row i keeps columns [begin, end): tril j - i <= k, triu j - i >= k (clamped to the row).
  auto kept = [&](int64_t i, int64_t& begin, int64_t& end) {
    const int64_t edge = std::clamp<int64_t>(i + diagonal + (lower ? 1 : 0), 0, C);
    begin = lower ? 0 : edge;
    end = lower ? edge : C;
  };
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = src.data<T>();
    T* o = out.data<T>();
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t begin, end;
        kept(r % R, begin, end);
        std::fill(o + r * C, o + r * C + begin, T(0));
        std::copy(s + r * C + begin, s + r * C + end, o + r * C + begin);
        std::fill(o + r * C + end, o + (r + 1) * C, T(0));
      }
    });
  });
  if (auto node = autograd::make_node<TriangleBackward>({&x})) {
    node->diagonal = diagonal;
    node->lower = lower;
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace

Tensor tril(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, true); }
Tensor triu(const Tensor& x, int64_t diagonal) { return triangle(x, diagonal, false); }

}  // namespace ember
