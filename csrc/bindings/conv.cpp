// Bindings for convolution and pooling: PyTorch's functional signatures (ints or tuples, padding strings,
// stride=None meaning the kernel size) parsed into ConvOptions / PoolOptions. Bindings only: no computation.
#include <string>

#include "bindings/common.h"
#include "ember/conv.h"

namespace ember {
namespace {

// An int, or a tuple/list of `n` ints (a 1-tuple is repeated), as PyTorch's _pair/_single.
std::vector<int64_t> parse_ints(py::handle obj, size_t n, const char* name, const char* op) {
  std::vector<int64_t> out;
  if (py::isinstance<py::bool_>(obj))
    throw TypeError(str(op, ": ", name, " must be an int or a tuple of ", n, " ints, got bool"));
  if (py::isinstance<py::int_>(obj)) return std::vector<int64_t>(n, obj.cast<int64_t>());
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
    for (auto item : seq) {
      EMBER_CHECK(py::isinstance<py::int_>(item) && !py::isinstance<py::bool_>(item), TypeError, op, ": ", name,
                  " must contain ints, got ", std::string(py::str(py::repr(obj))));
      out.push_back(item.cast<int64_t>());
    }
    if (out.size() == 1 && n > 1) out.assign(n, out[0]);
    EMBER_CHECK(out.size() == n, ValueError, op, ": ", name, " must be an int or a tuple of ", n, " ints, got ",
                std::string(py::str(py::repr(obj))));
    return out;
  }
  throw TypeError(str(op, ": ", name, " must be an int or a tuple of ", n, " ints, got ",
                      std::string(py::str(py::type::of(obj).attr("__name__")))));
}

ConvPath parse_path(const std::string& path, const char* op) {
  if (path == "auto") return ConvPath::Auto;
  if (path == "ref") return ConvPath::Ref;
  if (path == "direct") return ConvPath::Direct;
  if (path == "im2col") return ConvPath::Im2col;
  if (path == "pointwise") return ConvPath::Pointwise;
  throw ValueError(str(op, ": unknown path '", path, "' (expected auto, ref, direct, im2col or pointwise)"));
}

Activation parse_conv_activation(const py::object& act, const char* op) {
  if (act.is_none()) return Activation::None;
  const std::string name = act.cast<std::string>();
  if (name == "none") return Activation::None;
  if (name == "relu") return Activation::Relu;
  throw ValueError(str(op, ": unknown activation '", name, "' (expected None, 'none' or 'relu')"));
}

ConvOptions conv_options(size_t spatial, const py::object& stride, const py::object& padding,
                         const py::object& dilation, int64_t groups, const py::object& activation,
                         const std::string& path, const std::string& isa, const char* op) {
  ConvOptions o;
  auto s = parse_ints(stride, spatial, "stride", op), d = parse_ints(dilation, spatial, "dilation", op);
  o.stride_h = spatial == 2 ? s[0] : 1;
  o.stride_w = s.back();
  o.dilation_h = spatial == 2 ? d[0] : 1;
  o.dilation_w = d.back();
  if (py::isinstance<py::str>(padding)) {
    const std::string mode = padding.cast<std::string>();
    EMBER_CHECK(mode == "same" || mode == "valid", ValueError, op, ": padding must be 'same', 'valid', an int or a ",
                "tuple of ints, got '", mode, "'");
    o.same = mode == "same";
  } else {
    auto p = parse_ints(padding, spatial, "padding", op);
    o.pad_h = spatial == 2 ? p[0] : 0;
    o.pad_w = p.back();
  }
  o.groups = groups;
  o.act = parse_conv_activation(activation, op);
  o.path = parse_path(path, op);
  o.isa = isa;
  return o;
}

PoolOptions pool_options(size_t spatial, const py::object& kernel_size, const py::object& stride,
                         const py::object& padding, const py::object& dilation, bool ceil_mode, const char* op) {
  PoolOptions o;
  auto k = parse_ints(kernel_size, spatial, "kernel_size", op);
  // stride=None (or an empty tuple/list, as PyTorch accepts) means stride = kernel_size.
  const bool default_stride = stride.is_none() || ((py::isinstance<py::tuple>(stride) || py::isinstance<py::list>(stride)) &&
                                                   py::len(stride) == 0);
  auto s = default_stride ? k : parse_ints(stride, spatial, "stride", op);
  auto p = parse_ints(padding, spatial, "padding", op), d = parse_ints(dilation, spatial, "dilation", op);
  o.kernel_h = spatial == 2 ? k[0] : 1;  o.kernel_w = k.back();
  o.stride_h = spatial == 2 ? s[0] : 1;  o.stride_w = s.back();
  o.pad_h = spatial == 2 ? p[0] : 0;     o.pad_w = p.back();
  o.dilation_h = spatial == 2 ? d[0] : 1; o.dilation_w = d.back();
  o.ceil_mode = ceil_mode;
  return o;
}

py::object values_or_pair(const std::pair<Tensor, Tensor>& r, bool return_indices) {
  if (return_indices) return py::make_tuple(r.first, r.second);
  return py::cast(r.first);
}

// output_size of adaptive pooling: an int, or a pair whose None entries keep the input size.
std::pair<int64_t, int64_t> adaptive_size(const Tensor& x, const py::object& size, const char* op) {
  EMBER_CHECK(x.defined() && x.dim() >= 2, ValueError, op, ": expected a 3-D or 4-D input");
  const int64_t in_h = x.shape()[x.dim() - 2], in_w = x.shape()[x.dim() - 1];
  if (py::isinstance<py::int_>(size)) {
    const int64_t v = size.cast<int64_t>();
    return {v, v};
  }
  EMBER_CHECK(py::isinstance<py::tuple>(size) || py::isinstance<py::list>(size), TypeError, op,
              ": output_size must be an int or a pair of ints (or None)");
  py::sequence seq = py::reinterpret_borrow<py::sequence>(size);
  EMBER_CHECK(py::len(seq) == 2, ValueError, op, ": output_size must have 2 entries, got ", py::len(seq));
  const int64_t h = seq[0].is_none() ? in_h : seq[0].cast<int64_t>();
  const int64_t w = seq[1].is_none() ? in_w : seq[1].cast<int64_t>();
  return {h, w};
}

Tensor optional_tensor(const py::object& obj) { return obj.is_none() ? Tensor() : obj.cast<Tensor>(); }

}  // namespace

void bind_conv(py::module_& m) {
  m.def(
      "conv2d",
      [](const Tensor& x, const Tensor& weight, const py::object& bias, const py::object& stride,
         const py::object& padding, const py::object& dilation, int64_t groups, const py::object& activation,
         const std::string& path, const std::string& isa) {
        ConvOptions o = conv_options(2, stride, padding, dilation, groups, activation, path, isa, "conv2d");
        Tensor b = optional_tensor(bias);
        return without_gil([&] { return conv2d(x, weight, b, o); });
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("activation") = py::none(),
      py::arg("path") = "auto", py::arg("isa") = "",
      "2-D convolution over (N, C, H, W) input, as torch.nn.functional.conv2d; activation='relu' fuses ReLU.\n"
      "path and isa are test hooks (auto/ref/direct/im2col/pointwise; ''/ref/avx2/avx512).");
  m.def(
      "conv1d",
      [](const Tensor& x, const Tensor& weight, const py::object& bias, const py::object& stride,
         const py::object& padding, const py::object& dilation, int64_t groups, const py::object& activation,
         const std::string& path, const std::string& isa) {
        ConvOptions o = conv_options(1, stride, padding, dilation, groups, activation, path, isa, "conv1d");
        Tensor b = optional_tensor(bias);
        return without_gil([&] { return conv1d(x, weight, b, o); });
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1,
      py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("activation") = py::none(),
      py::arg("path") = "auto", py::arg("isa") = "",
      "1-D convolution over (N, C, L) input, as torch.nn.functional.conv1d.");
  m.def(
      "_conv2d_path",
      [](const Tensor& x, const Tensor& weight, const py::object& stride, const py::object& padding,
         const py::object& dilation, int64_t groups) {
        ConvOptions o = conv_options(2, stride, padding, dilation, groups, py::none(), "auto", "", "conv2d");
        return std::string(conv_path_name(conv2d_auto_path(x, weight, o)));
      },
      py::arg("input"), py::arg("weight"), py::arg("stride") = 1, py::arg("padding") = 0, py::arg("dilation") = 1,
      py::arg("groups") = 1, "The path conv2d picks for these arguments (for tests and benchmarks).");

  m.def(
      "max_pool2d",
      [](const Tensor& x, const py::object& kernel_size, const py::object& stride, const py::object& padding,
         const py::object& dilation, bool ceil_mode, bool return_indices) {
        PoolOptions o = pool_options(2, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d");
        auto out = without_gil_if(big_enough_to_release_gil(x), [&] { return max_pool2d(x, o, return_indices); });
        return values_or_pair(out, return_indices);
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false,
      "2-D max pooling, as torch.nn.functional.max_pool2d (indices flat per plane).");
  m.def(
      "max_pool1d",
      [](const Tensor& x, const py::object& kernel_size, const py::object& stride, const py::object& padding,
         const py::object& dilation, bool ceil_mode, bool return_indices) {
        PoolOptions o = pool_options(1, kernel_size, stride, padding, dilation, ceil_mode, "max_pool1d");
        auto out = without_gil_if(big_enough_to_release_gil(x), [&] { return max_pool1d(x, o, return_indices); });
        return values_or_pair(out, return_indices);
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("return_indices") = false,
      "1-D max pooling, as torch.nn.functional.max_pool1d.");
  m.def(
      "avg_pool2d",
      [](const Tensor& x, const py::object& kernel_size, const py::object& stride, const py::object& padding,
         bool ceil_mode, bool count_include_pad, const py::object& divisor_override) {
        PoolOptions o = pool_options(2, kernel_size, stride, padding, py::int_(1), ceil_mode, "avg_pool2d");
        int64_t divisor = 0;
        if (!divisor_override.is_none()) {
          divisor = divisor_override.cast<int64_t>();
          EMBER_CHECK(divisor > 0, ValueError, "avg_pool2d: divisor_override must be positive, got ", divisor);
        }
        return without_gil_if(big_enough_to_release_gil(x), [&] { return avg_pool2d(x, o, count_include_pad, divisor); });
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(),
      "2-D average pooling, as torch.nn.functional.avg_pool2d.");
  m.def(
      "avg_pool1d",
      [](const Tensor& x, const py::object& kernel_size, const py::object& stride, const py::object& padding,
         bool ceil_mode, bool count_include_pad) {
        PoolOptions o = pool_options(1, kernel_size, stride, padding, py::int_(1), ceil_mode, "avg_pool1d");
        return without_gil_if(big_enough_to_release_gil(x), [&] { return avg_pool1d(x, o, count_include_pad); });
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
      "1-D average pooling, as torch.nn.functional.avg_pool1d.");
  m.def(
      "adaptive_avg_pool2d",
      [](const Tensor& x, const py::object& output_size) {
        auto [h, w] = adaptive_size(x, output_size, "adaptive_avg_pool2d");
        return adaptive_avg_pool2d(x, h, w);
      },
      py::arg("input"), py::arg("output_size"), "As torch.nn.functional.adaptive_avg_pool2d.");
  m.def(
      "adaptive_max_pool2d",
      [](const Tensor& x, const py::object& output_size, bool return_indices) {
        auto [h, w] = adaptive_size(x, output_size, "adaptive_max_pool2d");
        return values_or_pair(adaptive_max_pool2d(x, h, w, return_indices), return_indices);
      },
      py::arg("input"), py::arg("output_size"), py::arg("return_indices") = false,
      "As torch.nn.functional.adaptive_max_pool2d (indices flat per plane).");
}

}  // namespace ember
