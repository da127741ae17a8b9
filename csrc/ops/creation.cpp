// Tensor factories: zeros, ones, full, scalar_tensor, arange, linspace, eye.
#include <cmath>
#include <cstring>

#include "ember/threads.h"
#include "ember/ops.h"

namespace ember {
namespace {

template <typename T>
void fill_with(const Tensor& t, T v) {
  T* p = t.data<T>();
  parallel_for(t.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = v;
  });
}

}  // namespace

Tensor full(const Shape& shape, Scalar value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    fill_with<T>(t, static_cast<T>(value.value));
  });
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  char* p = static_cast<char*>(t.raw_data());
  size_t nbytes = static_cast<size_t>(t.numel()) * itemsize(dtype);
  parallel_for(static_cast<int64_t>(nbytes), 1 << 18, [&](int64_t b, int64_t e) { std::memset(p + b, 0, e - b); });
  return t;
}

Tensor ones(const Shape& shape, DType dtype) { return full(shape, Scalar(1.0), dtype); }

Tensor scalar_tensor(Scalar value, DType dtype) { return full({}, value, dtype); }

Tensor arange(double start, double end, double step, DType dtype) {
  EMBER_CHECK(step != 0, ValueError, "arange: step must be nonzero");
  EMBER_CHECK(std::isfinite(start) && std::isfinite(end), ValueError, "arange: unsupported range: ", start, " -> ", end);
  EMBER_CHECK((step > 0 && end >= start) || (step < 0 && end <= start), ValueError,
              "arange: upper bound and larger bound inconsistent with step sign");
  double count = std::ceil((end - start) / step);
  EMBER_CHECK(count < 9.2e18, ValueError, "arange: too many elements (", count, ")");
  int64_t n = static_cast<int64_t>(count);
  Tensor t = empty({n}, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

Tensor linspace(double start, double end, int64_t steps, DType dtype) {
  EMBER_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got ", steps);
  Tensor t = empty({steps}, dtype);
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  int64_t half = steps == 1 ? 1 : steps / 2;   // a single step is `start`, as PyTorch
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    // symmetric evaluation from both ends, as PyTorch, so the last value is exactly `end`
    for (int64_t i = 0; i < steps; ++i)
      p[i] = static_cast<T>(i < half ? start + step * static_cast<double>(i)
                                     : end - step * static_cast<double>(steps - 1 - i));
  });
  return t;
}

Tensor eye(int64_t n, int64_t m, DType dtype) {
  EMBER_CHECK(n >= 0 && m >= 0, ValueError, "eye: n and m must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = static_cast<T>(1);
  });
  return t;
}

double item(const Tensor& x) {
  EMBER_CHECK(x.numel() == 1, ValueError, "item: a Tensor with ", x.numel(),
              " elements cannot be converted to Scalar");
  return dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(*x.data<T>());
  });
}

}  // namespace ember
