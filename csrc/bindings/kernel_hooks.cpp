// Test hooks: call one kernel-table entry of a chosen SIMD level (ref, avx2, avx512) on NumPy float32 arrays.
// Private (ember._C._kernel_*), for tests/kernels only. Outputs carry a guard zone that is checked after the
// call, so a masked tail that writes past the end raises instead of corrupting memory silently.
#include <pybind11/numpy.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/common.h"
#include "kernels/kernels.h"

namespace ember {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
constexpr int64_t kGuardFloats = 64;
constexpr uint32_t kGuardBits = 0x7fc0dead;   // a NaN payload no kernel produces

const kernels::Table& level_table(const std::string& level, const char* op) {
  EMBER_CHECK(level == "ref" || level == "avx2" || level == "avx512", ValueError, op,
              ": level must be 'ref', 'avx2' or 'avx512', got '", level, "'");
  const kernels::Table* t = kernels::table_for(level.c_str());
  EMBER_CHECK(t != nullptr, RuntimeError, op, ": this CPU does not support level '", level, "'");
  return *t;
}

// An output of n floats followed by a guard zone; result() checks the guard and returns a NumPy copy.
struct GuardedOutput {
  std::vector<float> buffer;
  explicit GuardedOutput(int64_t n, const float* initial = nullptr) : buffer(n + kGuardFloats) {
    if (initial) std::memcpy(buffer.data(), initial, sizeof(float) * n);
    for (int64_t i = n; i < n + kGuardFloats; ++i) std::memcpy(&buffer[i], &kGuardBits, sizeof(float));
  }
  float* data() { return buffer.data(); }
  FloatArray result(std::vector<py::ssize_t> shape, const char* op) const {
    int64_t n = static_cast<int64_t>(buffer.size()) - kGuardFloats;
    for (int64_t i = n; i < n + kGuardFloats; ++i)
      EMBER_CHECK(std::memcmp(&buffer[i], &kGuardBits, sizeof(float)) == 0, RuntimeError, op,
                  ": kernel wrote past the end of its output (element ", i, " of ", n, ")");
    FloatArray out(shape);
    std::memcpy(out.mutable_data(), buffer.data(), sizeof(float) * n);
    return out;
  }
};

kernels::UnaryF32 unary_entry(const kernels::Table& t, const std::string& name) {
  if (name == "neg") return t.neg;
  if (name == "exp") return t.exp;
  if (name == "log") return t.log;
  if (name == "sqrt") return t.sqrt;
  if (name == "rsqrt") return t.rsqrt;
  if (name == "abs") return t.abs;
  if (name == "tanh") return t.tanh;
  if (name == "sigmoid") return t.sigmoid;
  if (name == "relu") return t.relu;
  if (name == "gelu") return t.gelu;
  if (name == "gelu_tanh") return t.gelu_tanh;
  if (name == "silu") return t.silu;
  throw ValueError("_kernel_unary: unknown unary kernel '" + name + "'");
}

kernels::BinaryF32 binary_entry(const kernels::Table& t, const std::string& name) {
  if (name == "add") return t.add;
  if (name == "sub") return t.sub;
  if (name == "mul") return t.mul;
  if (name == "div") return t.div;
  if (name == "maximum") return t.maximum;
  if (name == "minimum") return t.minimum;
  throw ValueError("_kernel_binary: unknown binary kernel '" + name + "'");
}

kernels::UnaryBackwardF32 backward_entry(const kernels::Table& t, const std::string& name) {
  if (name == "relu_backward") return t.relu_backward;
  if (name == "gelu_backward") return t.gelu_backward;
  if (name == "gelu_tanh_backward") return t.gelu_tanh_backward;
  if (name == "silu_backward") return t.silu_backward;
  if (name == "sigmoid_backward") return t.sigmoid_backward;
  if (name == "tanh_backward") return t.tanh_backward;
  throw ValueError("_kernel_backward: unknown backward kernel '" + name + "'");
}

FloatArray kernel_unary(const std::string& level, const std::string& name, const FloatArray& x, bool inplace) {
  const char* op = "_kernel_unary";
  kernels::UnaryF32 f = unary_entry(level_table(level, op), name);
  EMBER_CHECK(x.ndim() == 1, ValueError, op, ": expected a 1-d array, got ", x.ndim(), " dims");
  int64_t n = x.shape(0);
  GuardedOutput out(n, inplace ? x.data() : nullptr);
  f(inplace ? out.data() : x.data(), out.data(), n);
  return out.result({n}, op);
}

FloatArray kernel_binary(const std::string& level, const std::string& name, const FloatArray& a,
                         const FloatArray& b, int64_t sa, int64_t sb, int64_t n) {
  const char* op = "_kernel_binary";
  kernels::BinaryF32 f = binary_entry(level_table(level, op), name);
  EMBER_CHECK((sa == 0 || sa == 1) && (sb == 0 || sb == 1), ValueError, op, ": strides must be 0 or 1, got ", sa,
              " and ", sb);
  EMBER_CHECK(a.ndim() == 1 && b.ndim() == 1, ValueError, op, ": expected 1-d arrays");
  EMBER_CHECK(n >= 0, ValueError, op, ": n must be >= 0, got ", n);
  EMBER_CHECK(a.shape(0) >= (sa ? n : 1) && b.shape(0) >= (sb ? n : 1), ValueError, op,
              ": arrays too short for n = ", n);
  GuardedOutput out(n);
  f(a.data(), sa, b.data(), sb, out.data(), n);
  return out.result({n}, op);
}

FloatArray kernel_backward(const std::string& level, const std::string& name, const FloatArray& saved,
                           const FloatArray& gy) {
  const char* op = "_kernel_backward";
  kernels::UnaryBackwardF32 f = backward_entry(level_table(level, op), name);
  EMBER_CHECK(saved.ndim() == 1 && gy.ndim() == 1 && saved.shape(0) == gy.shape(0), ValueError, op,
              ": expected two 1-d arrays of the same length");
  int64_t n = saved.shape(0);
  GuardedOutput out(n);
  f(saved.data(), gy.data(), out.data(), n);
  return out.result({n}, op);
}

FloatArray kernel_rows(const std::string& level, const std::string& name, const FloatArray& x) {
  const char* op = "_kernel_rows";
  const kernels::Table& t = level_table(level, op);
  kernels::RowsF32 f = name == "softmax_rows" ? t.softmax_rows : name == "log_softmax_rows" ? t.log_softmax_rows
                                                                                             : nullptr;
  EMBER_CHECK(f != nullptr, ValueError, op, ": unknown row kernel '", name, "'");
  EMBER_CHECK(x.ndim() == 2, ValueError, op, ": expected a 2-d array, got ", x.ndim(), " dims");
  int64_t rows = x.shape(0), cols = x.shape(1);
  EMBER_CHECK(cols >= 1, ValueError, op, ": rows must not be empty");
  GuardedOutput out(rows * cols);
  f(x.data(), out.data(), rows, cols);
  return out.result({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)}, op);
}

FloatArray kernel_rows_backward(const std::string& level, const std::string& name, const FloatArray& y,
                                const FloatArray& gy) {
  const char* op = "_kernel_rows_backward";
  const kernels::Table& t = level_table(level, op);
  kernels::RowsBackwardF32 f = name == "softmax_backward_rows"       ? t.softmax_backward_rows
                               : name == "log_softmax_backward_rows" ? t.log_softmax_backward_rows
                                                                     : nullptr;
  EMBER_CHECK(f != nullptr, ValueError, op, ": unknown row backward kernel '", name, "'");
  EMBER_CHECK(y.ndim() == 2 && gy.ndim() == 2 && y.shape(0) == gy.shape(0) && y.shape(1) == gy.shape(1),
              ValueError, op, ": expected two 2-d arrays of the same shape");
  int64_t rows = y.shape(0), cols = y.shape(1);
  GuardedOutput out(rows * cols);
  f(y.data(), gy.data(), out.data(), rows, cols);
  return out.result({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)}, op);
}

// Softmax cross-entropy rows of x with one level's kernels: (lse, scale * (softmax(x) - offset)).
py::tuple kernel_cross_entropy_rows(const std::string& level, const FloatArray& x, const FloatArray& scale,
                                    float offset) {
  const char* op = "_kernel_cross_entropy_rows";
  const kernels::Table& t = level_table(level, op);
  EMBER_CHECK(x.ndim() == 2 && x.shape(1) >= 1 && scale.ndim() == 1 && scale.shape(0) == x.shape(0), ValueError,
              op, ": expected x (rows, cols >= 1) and scale (rows,)");
  const int64_t rows = x.shape(0), cols = x.shape(1);
  GuardedOutput lse(rows), grad(rows * cols);
  t.logsumexp_rows(x.data(), lse.data(), rows, cols);
  t.cross_entropy_grad_rows(x.data(), lse.data(), scale.data(), offset, grad.data(), rows, cols);
  return py::make_tuple(lse.result({static_cast<py::ssize_t>(rows)}, op),
                        grad.result({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)}, op));
}

// The MSE kernels of one level on 1-d a, b: (sum((a - b)^2), scale * (a - b)).
py::tuple kernel_mse(const std::string& level, const FloatArray& a, const FloatArray& b, float scale) {
  const char* op = "_kernel_mse";
  const kernels::Table& t = level_table(level, op);
  EMBER_CHECK(a.ndim() == 1 && b.ndim() == 1 && a.shape(0) == b.shape(0), ValueError, op,
              ": expected two 1-d arrays of the same length");
  const int64_t n = a.shape(0);
  GuardedOutput grad(n);
  const double total = t.squared_distance(a.data(), b.data(), n);
  t.scaled_difference(a.data(), b.data(), scale, grad.data(), n);
  return py::make_tuple(total, grad.result({static_cast<py::ssize_t>(n)}, op));
}

// Binary cross-entropy from logits with one level's kernels on 1-d arrays: (loss, grad_x, grad_y).
py::tuple kernel_bce_logits(const std::string& level, const FloatArray& x, const FloatArray& y,
                            const py::object& pos_weight, const FloatArray& g) {
  const char* op = "_kernel_bce_logits";
  const kernels::Table& t = level_table(level, op);
  FloatArray pw = pos_weight.is_none() ? FloatArray() : pos_weight.cast<FloatArray>();
  const int64_t n = x.ndim() == 1 ? x.shape(0) : -1;
  EMBER_CHECK(n >= 0 && y.ndim() == 1 && y.shape(0) == n && g.ndim() == 1 && g.shape(0) == n &&
                  (pos_weight.is_none() || (pw.ndim() == 1 && pw.shape(0) == n)),
              ValueError, op, ": expected 1-d arrays of one length");
  const float* pwp = pos_weight.is_none() ? nullptr : pw.data();
  GuardedOutput loss(n), gx(n), gy(n);
  t.bce_logits(x.data(), y.data(), pwp, loss.data(), n);
  t.bce_logits_backward(x.data(), y.data(), pwp, g.data(), gx.data(), gy.data(), n);
  const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n)};
  return py::make_tuple(loss.result(shape, op), gx.result(shape, op), gy.result(shape, op));
}

// Layer norm of each row with one level's kernels: (y, mean, rstd) forward, then (gx, gw, gb) from gy with
// the parameter gradients summed over all rows in one block.
py::tuple kernel_layer_norm(const std::string& level, const FloatArray& x, const py::object& weight,
                            const py::object& bias, const FloatArray& gy, double eps) {
  const char* op = "_kernel_layer_norm";
  const kernels::Table& t = level_table(level, op);
  EMBER_CHECK(x.ndim() == 2 && gy.ndim() == 2 && x.shape(0) == gy.shape(0) && x.shape(1) == gy.shape(1),
              ValueError, op, ": expected x and gy 2-d of one shape");
  const int64_t rows = x.shape(0), cols = x.shape(1);
  FloatArray w_arr = weight.is_none() ? FloatArray() : weight.cast<FloatArray>();
  FloatArray b_arr = bias.is_none() ? FloatArray() : bias.cast<FloatArray>();
  for (const py::object* p : {&weight, &bias}) {
    const FloatArray& a = p == &weight ? w_arr : b_arr;
    EMBER_CHECK(p->is_none() || (a.ndim() == 1 && a.shape(0) == cols), ValueError, op,
                ": weight/bias must be 1-d of length cols");
  }
  const float* w = weight.is_none() ? nullptr : w_arr.data();
  const float* b = bias.is_none() ? nullptr : b_arr.data();
  const py::ssize_t r = static_cast<py::ssize_t>(rows), c = static_cast<py::ssize_t>(cols);
  FloatArray y({r, c}), mean({r}), rstd({r}), gx({r, c}), gw({c}), gb({c});
  std::fill(gw.mutable_data(), gw.mutable_data() + cols, 0.0f);
  std::fill(gb.mutable_data(), gb.mutable_data() + cols, 0.0f);
  t.layer_norm_rows(x.data(), w, b, y.mutable_data(), mean.mutable_data(), rstd.mutable_data(), rows, cols, eps);
  t.layer_norm_backward_rows(x.data(), gy.data(), mean.data(), rstd.data(), w, gx.mutable_data(), gw.mutable_data(),
                             gb.mutable_data(), rows, cols);
  return py::make_tuple(y, mean, rstd, gx, gw, gb);
}

// 2x2 stride-2 max pool of one (H, W) plane with one level's kernel: (y, indices), floor mode.
py::tuple kernel_max_pool_2x2(const std::string& level, const FloatArray& x) {
  const char* op = "_kernel_max_pool_2x2";
  const kernels::Table& t = level_table(level, op);
  EMBER_CHECK(x.ndim() == 2 && x.shape(0) >= 2 && x.shape(1) >= 2, ValueError, op, ": expected a 2-d plane >= 2x2");
  const int64_t OH = x.shape(0) / 2, OW = x.shape(1) / 2;
  FloatArray y({static_cast<py::ssize_t>(OH), static_cast<py::ssize_t>(OW)});
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(OH), static_cast<py::ssize_t>(OW)});
  t.max_pool_2x2(x.data(), y.mutable_data(), idx.mutable_data(), x.shape(1), OH, OW);
  return py::make_tuple(y, idx);
}

}  // namespace

void bind_kernel_hooks(py::module_& m) {
  m.def("_kernel_max_pool_2x2", &kernel_max_pool_2x2, py::arg("level"), py::arg("x"),
        "2x2 stride-2 max pool of one plane with one SIMD level's kernel (test hook).");
  m.def("_kernel_layer_norm", &kernel_layer_norm, py::arg("level"), py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("gy"), py::arg("eps") = 1e-5,
        "Layer norm forward and backward of each row with one SIMD level's kernels (test hook).");
  m.def("_kernel_unary", &kernel_unary, py::arg("level"), py::arg("name"), py::arg("x"), py::arg("inplace") = false,
        "Run one unary kernel of a SIMD level on a 1-d float32 array (test hook).");
  m.def("_kernel_binary", &kernel_binary, py::arg("level"), py::arg("name"), py::arg("a"), py::arg("b"),
        py::arg("sa"), py::arg("sb"), py::arg("n"),
        "out[i] = a[i*sa] (op) b[i*sb] for i < n with one kernel of a SIMD level (test hook).");
  m.def("_kernel_backward", &kernel_backward, py::arg("level"), py::arg("name"), py::arg("saved"), py::arg("gy"),
        "Run one activation-backward kernel of a SIMD level (test hook).");
  m.def("_kernel_rows", &kernel_rows, py::arg("level"), py::arg("name"), py::arg("x"),
        "Run softmax_rows / log_softmax_rows of a SIMD level on a 2-d float32 array (test hook).");
  m.def("_kernel_cross_entropy_rows", &kernel_cross_entropy_rows, py::arg("level"), py::arg("x"), py::arg("scale"),
        py::arg("offset"), "logsumexp_rows then cross_entropy_grad_rows of a SIMD level (test hook).");
  m.def("_kernel_bce_logits", &kernel_bce_logits, py::arg("level"), py::arg("x"), py::arg("y"), py::arg("pos_weight"),
        py::arg("g"), "bce_logits and bce_logits_backward of a SIMD level on 1-d float32 arrays (test hook).");
  m.def("_kernel_mse", &kernel_mse, py::arg("level"), py::arg("a"), py::arg("b"), py::arg("scale"),
        "squared_distance and scaled_difference of a SIMD level on two 1-d float32 arrays (test hook).");
  m.def("_kernel_rows_backward", &kernel_rows_backward, py::arg("level"), py::arg("name"), py::arg("y"),
        py::arg("gy"), "Run softmax_backward_rows / log_softmax_backward_rows of a SIMD level (test hook).");
  m.def("_kernel_sum", [](const std::string& level, const FloatArray& x) {
    const kernels::Table& t = level_table(level, "_kernel_sum");
    EMBER_CHECK(x.ndim() == 1, ValueError, "_kernel_sum: expected a 1-d array");
    return t.sum(x.data(), x.shape(0));
  }, py::arg("level"), py::arg("x"), "Sum of a 1-d float32 array with one SIMD level's kernel (test hook).");
  m.def("_kernel_max", [](const std::string& level, const FloatArray& x) {
    const kernels::Table& t = level_table(level, "_kernel_max");
    EMBER_CHECK(x.ndim() == 1 && x.shape(0) >= 1, ValueError, "_kernel_max: expected a non-empty 1-d array");
    return t.max(x.data(), x.shape(0));
  }, py::arg("level"), py::arg("x"), "Max of a 1-d float32 array with one SIMD level's kernel (test hook).");
}

}  // namespace ember
