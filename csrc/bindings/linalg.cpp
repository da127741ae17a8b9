// Bindings for the linalg area: matmul, bmm, linear (with its fused activation), and test/bench hooks for the
// raw GEMM kernels on NumPy arrays (_sgemm/_dgemm with a forced ISA level, _fma_peak_gflops). Bindings only.
#include <pybind11/numpy.h>

#include <string>

#include "bindings/common.h"
#include "ember/threads.h"
#include "kernels/gemm/gemm.h"
#include "kernels/kernels.h"

namespace ember {
namespace {

Activation parse_activation(const std::string& name) {
  if (name == "none") return Activation::None;
  if (name == "relu") return Activation::Relu;
  if (name == "gelu") return Activation::Gelu;
  if (name == "gelu_tanh") return Activation::GeluTanh;
  throw ValueError("linear: unknown activation '" + name + "' (expected 'none', 'relu', 'gelu' or 'gelu_tanh')");
}

const kernels::Table& table_named(const std::string& isa, const char* op) {
  if (isa.empty()) return kernels::table();
  const kernels::Table* t = kernels::table_for(isa.c_str());
  EMBER_CHECK(t != nullptr, ValueError, op, ": ISA level '", isa, "' is not available on this CPU (or unknown)");
  return *t;
}

// A 2-D NumPy operand viewed as (rows, cols) with element strides; `transposed` swaps the roles.
template <typename T>
struct MatrixArg {
  T* data;
  int64_t rows, cols, rs, cs;
};

template <typename T>
MatrixArg<T> matrix_arg(const py::array& arr, bool transposed, bool writable, const char* op, const char* name) {
  EMBER_CHECK(py::isinstance<py::array_t<T>>(arr) && arr.dtype().is(py::dtype::of<T>()), TypeError, op, ": ", name,
              " must be a ", sizeof(T) == 4 ? "float32" : "float64", " array");
  EMBER_CHECK(arr.ndim() == 2, ValueError, op, ": ", name, " must be 2-D, got ", arr.ndim(), "-D");
  if (writable) EMBER_CHECK(arr.writeable(), ValueError, op, ": ", name, " must be writable");
  for (int d = 0; d < 2; ++d)
    EMBER_CHECK(arr.strides(d) % static_cast<py::ssize_t>(sizeof(T)) == 0, ValueError, op, ": ", name,
                " has strides that are not a multiple of the item size");
  MatrixArg<T> m{static_cast<T*>(const_cast<void*>(arr.data())), arr.shape(0), arr.shape(1),
                 arr.strides(0) / static_cast<int64_t>(sizeof(T)), arr.strides(1) / static_cast<int64_t>(sizeof(T))};
  if (transposed) { std::swap(m.rows, m.cols); std::swap(m.rs, m.cs); }
  return m;
}

template <typename T>
void gemm_hook(const py::array& a, const py::array& b, py::array& c, double alpha, double beta, bool trans_a,
               bool trans_b, const std::string& isa, const py::object& bias, bool bias_per_row,
               const std::string& activation, int threads, const py::object& pre, const char* op) {
  MatrixArg<T> A = matrix_arg<T>(a, trans_a, false, op, "a"), B = matrix_arg<T>(b, trans_b, false, op, "b"),
               C = matrix_arg<T>(c, false, true, op, "c");
  EMBER_CHECK(A.cols == B.rows && C.rows == A.rows && C.cols == B.cols, ValueError, op, ": shapes (", A.rows, ", ",
              A.cols, ") x (", B.rows, ", ", B.cols, ") -> (", C.rows, ", ", C.cols, ") do not match");
  kernels::Epilogue<T> ep;
  ep.act = kernels::GemmActivation::None;
  Activation act = parse_activation(activation);
  if (act == Activation::Relu) ep.act = kernels::GemmActivation::Relu;
  if (act == Activation::Gelu) ep.act = kernels::GemmActivation::Gelu;
  if (act == Activation::GeluTanh) ep.act = kernels::GemmActivation::GeluTanh;
  py::array_t<T, py::array::c_style | py::array::forcecast> bias_arr;
  if (!bias.is_none()) {
    bias_arr = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(bias);
    const int64_t length = bias_per_row ? C.rows : C.cols;
    EMBER_CHECK(bias_arr && bias_arr.ndim() == 1 && bias_arr.shape(0) == length, ValueError, op,
                ": bias must be 1-D of length ", length);
    ep.bias = bias_arr.data();
    ep.bias_per_row = bias_per_row;
  }
  if (!pre.is_none()) {
    auto pre_arr = pre.cast<py::array>();
    EMBER_CHECK(pre_arr.dtype().is(py::dtype::of<T>()) && pre_arr.writeable() && pre_arr.ndim() == 2 &&
                    pre_arr.shape(0) == C.rows && pre_arr.shape(1) == C.cols &&
                    pre_arr.strides(0) == C.rs * static_cast<int64_t>(sizeof(T)) &&
                    pre_arr.strides(1) == C.cs * static_cast<int64_t>(sizeof(T)),
                ValueError, op, ": pre must be a writable array of c's dtype, shape and strides");
    ep.pre = static_cast<T*>(pre_arr.mutable_data());
  }
  const bool use_ep = ep.bias || ep.act != kernels::GemmActivation::None || ep.pre;
  if constexpr (sizeof(T) == 4) {
    const kernels::Table& tab = table_named(isa, op);
    py::gil_scoped_release release;
    kernels::sgemm_with(tab, threads > 0 ? threads : get_num_threads(), A.rows, B.cols, A.cols,
                        static_cast<float>(alpha), A.data, A.rs, A.cs, B.data, B.rs, B.cs, static_cast<float>(beta),
                        C.data, C.rs, C.cs, use_ep ? &ep : nullptr);
  } else {
    py::gil_scoped_release release;
    kernels::dgemm(A.rows, B.cols, A.cols, alpha, A.data, A.rs, A.cs, B.data, B.rs, B.cs, beta, C.data, C.rs, C.cs,
                   use_ep ? &ep : nullptr);
  }
}

}  // namespace

void bind_linalg(py::module_& m) {
  m.def("matmul", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return matmul(a, b); }); }, py::arg("input"), py::arg("other"),
        "Matrix product with PyTorch semantics (1-D operands, broadcast batch dims).");
  m.def("bmm", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return bmm(a, b); }); }, py::arg("input"), py::arg("mat2"),
        "Batched matrix product of two 3-D tensors with the same batch size.");
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));
  cls.def("matmul", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return matmul(a, b); }); }, py::arg("other"));
  cls.def("__matmul__", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return matmul(a, b); }); }, py::is_operator());
  cls.def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return matmul(b, a); }); }, py::is_operator());
  cls.def("bmm", [](const Tensor& a, const Tensor& b) { return without_gil([&] { return bmm(a, b); }); }, py::arg("mat2"));
  m.def(
      "linear",
      [](const Tensor& x, const Tensor& weight, const py::object& bias, const std::string& activation) {
        Tensor b;
        if (!bias.is_none()) b = bias.cast<Tensor>();
        Activation act = parse_activation(activation);
        return without_gil([&] { return linear(x, weight, b, act); });
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("activation") = "none",
      "y = act(input @ weight.T + bias), the activation ('none', 'relu', 'gelu', 'gelu_tanh') fused into the GEMM.");

  m.def(
      "_sgemm",
      [](const py::array& a, const py::array& b, py::array& c, double alpha, double beta, bool trans_a, bool trans_b,
         const std::string& isa, const py::object& bias, const std::string& activation, int threads,
         bool bias_per_row, const py::object& pre) {
        gemm_hook<float>(a, b, c, alpha, beta, trans_a, trans_b, isa, bias, bias_per_row, activation, threads, pre,
                         "_sgemm");
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("isa") = "", py::arg("bias") = py::none(),
      py::arg("activation") = "none", py::arg("threads") = 0, py::arg("bias_per_row") = false,
      py::arg("pre") = py::none(),
      "Test hook: c = act(alpha op(a) op(b) + beta c + bias) in place with the raw sgemm of a forced ISA level\n"
      "(bias per column, or per row when bias_per_row; pre, an array shaped and strided like c, also receives\n"
      "the values before the activation).");
  m.def(
      "_dgemm",
      [](const py::array& a, const py::array& b, py::array& c, double alpha, double beta, bool trans_a, bool trans_b,
         const py::object& bias, const std::string& activation, const py::object& pre) {
        gemm_hook<double>(a, b, c, alpha, beta, trans_a, trans_b, "", bias, false, activation, 0, pre, "_dgemm");
      },
      py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
      py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("bias") = py::none(),
      py::arg("activation") = "none", py::arg("pre") = py::none(),
      "Test hook: the float64 GEMM on NumPy arrays, in place.");
  m.def(
      "_sgemm_kernel",
      [](const std::string& isa) {
        const kernels::SgemmConfig& c = table_named(isa, "_sgemm_kernel").sgemm;
        py::dict d;
        d["name"] = c.name; d["mr"] = c.mr; d["nr"] = c.nr; d["kc"] = c.kc; d["mc"] = c.mc; d["nc"] = c.nc;
        return d;
      },
      py::arg("isa") = "", "The sgemm micro-kernel of an ISA level and its blocking.");
  m.def(
      "_fma_peak_gflops",
      [](int threads, const std::string& isa) {
        EMBER_CHECK(threads >= 1, ValueError, "_fma_peak_gflops: threads must be >= 1, got ", threads);
        const kernels::Table& tab = table_named(isa, "_fma_peak_gflops");
        py::gil_scoped_release release;
        return tab.fma_peak_gflops(threads);
      },
      py::arg("threads") = 1, py::arg("isa") = "", "Measured FMA throughput (GFLOP/s) of an ISA level.");
}

}  // namespace ember
