// gather / scatter_add along a dim (each other's backward) and nonzero. Index values are bounds-checked in a
// first pass, before anything is written.
#include <algorithm>
#include <array>

#include "ember/node.h"
#include "ops/odometer.h"
#include "ember/ops.h"

namespace ember {
namespace {

// Shape and strides with a 0-d tensor seen as 1-D of one element (gather treats 0-d like that, as PyTorch).
struct Geometry {
  Shape shape, strides;
  explicit Geometry(const Tensor& t) : shape(t.shape()), strides(t.strides()) {
    if (shape.empty()) { shape = {1}; strides = {1}; }
  }
};

// Checks the index tensor of gather/scatter_add: dtype, rank, sizes, and every value against the size of `dim`.
void check_index(const char* op, const Tensor& index_tensor, const Geometry& index, const Geometry& self, int64_t dim,
                 const Geometry* src) {
  EMBER_CHECK(index_tensor.dtype() == DType::Int64, TypeError, op, ": expected an int64 index tensor, got ",
              dtype_name(index_tensor.dtype()));
  EMBER_CHECK(index.shape.size() == self.shape.size(), ValueError, op,
              ": index tensor must have the same number of dimensions as input tensor (", index.shape.size(), " vs ",
              self.shape.size(), ")");
  for (size_t k = 0; k < index.shape.size(); ++k) {
    EMBER_CHECK(static_cast<int64_t>(k) == dim || index.shape[k] <= self.shape[k], ValueError, op, ": size of index ",
                shape_str(index_tensor.shape()), " exceeds the size of input ", shape_str(self.shape), " at dimension ",
                k, " (only the dimension ", dim, " may be larger)");
    EMBER_CHECK(!src || index.shape[k] <= src->shape[k], ValueError, op, ": size of index ",
                shape_str(index_tensor.shape()), " exceeds the size of src ", shape_str(src->shape), " at dimension ",
                k);
  }
  const int64_t size = self.shape[dim];
  const int64_t* values = index_tensor.data<int64_t>();
  walk_offsets<1>(index.shape, {index.strides}, [&](int64_t, auto off) {
    int64_t v = values[off[0]];
    EMBER_CHECK(v >= 0 && v < size, IndexError, op, ": index ", v, " is out of bounds for dimension ", dim,
                " with size ", size);
  });
}

struct GatherBackward : autograd::Node {
  Shape input_shape;
  int64_t dim = 0;
  autograd::SavedTensor index;
  const char* name() const override { return "GatherBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    return {scatter_add(zeros(input_shape, grads[0].dtype()), dim, index.get(), grads[0])};
  }
  void release_saved() override { index.reset(); }
};

struct ScatterAddBackward : autograd::Node {   // inputs: self, src
  Shape src_shape;
  int64_t dim = 0;
  autograd::SavedTensor index;
  const char* name() const override { return "ScatterAddBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    std::vector<Tensor> out(2);
    if (next_edges[0].fn) out[0] = grads[0];
    if (next_edges[1].fn) {
      Tensor idx = index.get();
      Tensor picked = gather(grads[0], dim, idx);
      if (idx.shape() == src_shape) {
        out[1] = picked;
      } else {   // src elements beyond the index's extent were not used
        out[1] = zeros(src_shape, grads[0].dtype());
        copy_into(make_view(out[1], idx.shape(), out[1].strides(), 0), picked);
      }
    }
    return out;
  }
  void release_saved() override { index.reset(); }
};

}  // namespace

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index_tensor) {
  Geometry self(x), index(index_tensor);
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_index("gather", index_tensor, index, self, d, nullptr);
  Tensor out = empty(index_tensor.shape(), x.dtype());
  Geometry result(out);
  Shape self_strides = self.strides;
  const int64_t step = self_strides[d];
  self_strides[d] = 0;
  const int64_t* idx = index_tensor.data<int64_t>();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* s = x.data<T>();
    walk_offsets<3>(index.shape, {result.strides, index.strides, self_strides},
                    [&](int64_t, auto off) { o[off[0]] = s[off[2] + idx[off[1]] * step]; });
  });
  if (auto node = autograd::make_node<GatherBackward>({&x})) {
    node->input_shape = x.shape();
    node->dim = d;
    node->index = autograd::SavedTensor(index_tensor);
    autograd::set_history(out, node);
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index_tensor, const Tensor& src) {
  EMBER_CHECK(src.dtype() == x.dtype(), TypeError, "scatter_add: expected src of dtype ", dtype_name(x.dtype()),
              " (as self), got ", dtype_name(src.dtype()));
  Geometry self(x), index(index_tensor), source(src);
  int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  EMBER_CHECK(source.shape.size() == self.shape.size(), ValueError,
              "scatter_add: src must have the same number of dimensions as input (", source.shape.size(), " vs ",
              self.shape.size(), ")");
  check_index("scatter_add", index_tensor, index, self, d, &source);
  Tensor out = empty(x.shape(), x.dtype());
  copy_into(out, x);
  Geometry result(out);
  Shape out_strides = result.strides;
  const int64_t step = out_strides[d];
  out_strides[d] = 0;
  const int64_t* idx = index_tensor.data<int64_t>();
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* o = out.data<T>();
    const T* s = src.data<T>();
    walk_offsets<3>(index.shape, {out_strides, index.strides, source.strides}, [&](int64_t, auto off) {
      T& target = o[off[0] + idx[off[1]] * step];
      target = static_cast<T>(target + s[off[2]]);
    });
  });
  if (auto node = autograd::make_node<ScatterAddBackward>({&x, &src})) {
    node->src_shape = src.shape();
    node->dim = d;
    node->index = autograd::SavedTensor(index_tensor);
    autograd::set_history(out, node);
  }
  return out;
}

Tensor nonzero(const Tensor& x) {
  // Row-major over a contiguous copy: count, then write every element's coordinates at row k and advance k by
  // whether it is non-zero (no branch on the data, no division per hit); rows after the last hit go to a sink.
  const Tensor xc = contiguous(x);
  const int64_t ndim = x.dim(), n = xc.numel(), inner = ndim == 0 ? 1 : x.shape()[ndim - 1];
  Tensor out;
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = xc.data<T>();
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += p[i] != T(0);
    out = empty({count, ndim}, DType::Int64);
    int64_t* o = out.data<int64_t>();
    std::vector<int64_t> sink(static_cast<size_t>(std::max<int64_t>(ndim, 1)));
    std::vector<int64_t> outer(static_cast<size_t>(std::max<int64_t>(ndim - 1, 0)), 0);   // coordinates but the last
    int64_t k = 0;
    for (int64_t base = 0; base < n; base += inner) {
      for (int64_t c = 0; c < inner; ++c) {
        int64_t* row = k < count ? o + k * ndim : sink.data();
        for (int64_t d = 0; d + 1 < ndim; ++d) row[d] = outer[d];
        if (ndim > 0) row[ndim - 1] = c;
        k += p[base + c] != T(0);
      }
      for (int64_t d = ndim - 2; d >= 0; --d) {   // the next row of the outer dims
        if (++outer[d] < x.shape()[d]) break;
        outer[d] = 0;
      }
    }
  });
  return out;
}

}  // namespace ember
