// Binary elementwise ops with broadcasting and PyTorch type promotion: forward kernels and backward nodes.
#include <cmath>

#include "ember/node.h"
#include "kernels/kernels.h"
#include "ops/internal.h"
#include "ember/ops.h"
#include "ops/scalar_math.h"
#include "ops/strided_loop.h"

namespace ember {
namespace {

constexpr int64_t kElementwiseGrain = 32768;

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
    case BinaryOp::Pow: return "pow";
    case BinaryOp::Maximum: return "maximum";
    case BinaryOp::Minimum: return "minimum";
    case BinaryOp::Eq: return "eq";
    case BinaryOp::Ne: return "ne";
    case BinaryOp::Lt: return "lt";
    case BinaryOp::Le: return "le";
    case BinaryOp::Gt: return "gt";
    case BinaryOp::Ge: return "ge";
    case BinaryOp::LogicalAnd: return "logical_and";
    case BinaryOp::LogicalOr: return "logical_or";
  }
  return "binary";
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

// PyTorch: a 0-dim operand only decides the dtype when its category (bool < int < float) is higher.
DType promote_operands(const Tensor& a, const Tensor& b) {
  bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote(a.dtype(), b.dtype());
  const Tensor& dimmed = a0 ? b : a;
  const Tensor& zero_dim = a0 ? a : b;
  auto category = [](DType d) { return d == DType::Bool ? 0 : (d == DType::Int64 ? 1 : 2); };
  return category(zero_dim.dtype()) > category(dimmed.dtype()) ? zero_dim.dtype() : dimmed.dtype();
}

// Stride of an operand in the flat fast path over a contiguous output: 1 when it has the output's shape and is
// contiguous, 0 when it holds one element, -1 when the general strided loop is needed.
int64_t flat_stride(const Tensor& t, const Shape& out_shape) {
  if (t.numel() == 1) return 0;
  if (t.shape() == out_shape && t.is_contiguous()) return 1;
  return -1;
}

// Generic loop for any dtype and stride: out = f(a, b).
template <typename T, typename Out, typename F>
void generic_binary(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const Shape& shape = out.shape();
  int64_t sa = flat_stride(a, shape), sb = flat_stride(b, shape);
  if (sa >= 0 && sb >= 0 && out.is_contiguous()) {   // the common case, without the strided machinery
    const T* x = a.data<T>();
    const T* y = b.data<T>();
    Out* o = out.data<Out>();
    parallel_for(out.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
      if (sa == 1 && sb == 1) {
        for (int64_t i = begin; i < end; ++i) o[i] = static_cast<Out>(f(x[i], y[i]));
      } else if (sa == 1) {
        const T yv = y[0];
        for (int64_t i = begin; i < end; ++i) o[i] = static_cast<Out>(f(x[i], yv));
      } else if (sb == 1) {
        const T xv = x[0];
        for (int64_t i = begin; i < end; ++i) o[i] = static_cast<Out>(f(xv, y[i]));
      } else {
        for (int64_t i = begin; i < end; ++i) o[i] = static_cast<Out>(f(x[0], y[0]));
      }
    });
    return;
  }
  std::array<Shape, 3> strides{out.strides(), broadcast_strides(a, shape), broadcast_strides(b, shape)};
  std::array<char*, 3> base{static_cast<char*>(out.raw_data()), static_cast<char*>(a.raw_data()),
                            static_cast<char*>(b.raw_data())};
  std::array<int64_t, 3> sizes{sizeof(Out), sizeof(T), sizeof(T)};
  for_each_row<3>(shape, strides, base, sizes, kElementwiseGrain,
                  [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
                    Out* o = reinterpret_cast<Out*>(p[0]);
                    const T* x = reinterpret_cast<const T*>(p[1]);
                    const T* y = reinterpret_cast<const T*>(p[2]);
                    for (int64_t i = 0; i < n; ++i) o[i * s[0]] = static_cast<Out>(f(x[i * s[1]], y[i * s[2]]));
                  });
}

kernels::BinaryF32 simd_kernel(BinaryOp op) {
  const kernels::Table& k = kernels::table();
  switch (op) {
    case BinaryOp::Add: return k.add;
    case BinaryOp::Sub: return k.sub;
    case BinaryOp::Mul: return k.mul;
    case BinaryOp::Div: return k.div;
    case BinaryOp::Maximum: return k.maximum;
    case BinaryOp::Minimum: return k.minimum;
    default: return nullptr;
  }
}

template <typename T>
void arithmetic(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  switch (op) {
    case BinaryOp::Add: return generic_binary<T, T>(a, b, out, [](T x, T y) { return x + y; });
    case BinaryOp::Sub: return generic_binary<T, T>(a, b, out, [](T x, T y) { return x - y; });
    case BinaryOp::Mul: return generic_binary<T, T>(a, b, out, [](T x, T y) { return x * y; });
    case BinaryOp::Div: return generic_binary<T, T>(a, b, out, [](T x, T y) { return x / y; });
    case BinaryOp::Maximum: return generic_binary<T, T>(a, b, out, [](T x, T y) { return math::nan_max(x, y); });
    case BinaryOp::Minimum: return generic_binary<T, T>(a, b, out, [](T x, T y) { return math::nan_min(x, y); });
    case BinaryOp::Pow:
      if constexpr (std::is_same_v<T, int64_t>)
        return generic_binary<T, T>(a, b, out, [](T x, T y) { return math::ipow(x, y); });
      else
        return generic_binary<T, T>(a, b, out, [](T x, T y) { return static_cast<T>(std::pow(x, y)); });
    case BinaryOp::Eq: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x == y; });
    case BinaryOp::Ne: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x != y; });
    case BinaryOp::Lt: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x < y; });
    case BinaryOp::Le: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x <= y; });
    case BinaryOp::Gt: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x > y; });
    case BinaryOp::Ge: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x && y; });
    case BinaryOp::LogicalOr: return generic_binary<T, bool>(a, b, out, [](T x, T y) { return x || y; });
  }
}

// out = a (op) b, where a and b already have the compute dtype and out is contiguous.
void run_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  kernels::BinaryF32 kernel = a.dtype() == DType::Float32 ? simd_kernel(op) : nullptr;
  if (kernel) {
    const Shape& shape = out.shape();
    int64_t sa = flat_stride(a, shape), sb = flat_stride(b, shape);
    if (sa >= 0 && sb >= 0) {   // out is contiguous: one flat row, no stride vectors
      const float* x = a.data<float>();
      const float* y = b.data<float>();
      float* o = out.data<float>();
      parallel_for(out.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
        kernel(x + begin * sa, sa, y + begin * sb, sb, o + begin, end - begin);
      });
      return;
    }
    std::array<Shape, 3> strides{out.strides(), broadcast_strides(a, shape), broadcast_strides(b, shape)};
    std::array<char*, 3> base{static_cast<char*>(out.raw_data()), static_cast<char*>(a.raw_data()),
                              static_cast<char*>(b.raw_data())};
    for_each_row<3>(shape, strides, base, {4, 4, 4}, kElementwiseGrain,
                    [&](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
                      const float* x = reinterpret_cast<const float*>(p[1]);
                      const float* y = reinterpret_cast<const float*>(p[2]);
                      float* o = reinterpret_cast<float*>(p[0]);
                      if (s[0] == 1 && (s[1] == 0 || s[1] == 1) && (s[2] == 0 || s[2] == 1)) {
                        kernel(x, s[1], y, s[2], o, n);
                      } else {
                        for (int64_t i = 0; i < n; ++i) kernel(x + i * s[1], 0, y + i * s[2], 0, o + i * s[0], 1);
                      }
                    });
    return;
  }
  dispatch_dtype(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      // bool arithmetic as PyTorch: + is or, * is and; comparisons as integers
      if (is_comparison(op)) return arithmetic<bool>(op, a, b, out);
      EMBER_CHECK(op == BinaryOp::Add || op == BinaryOp::Mul || op == BinaryOp::Maximum || op == BinaryOp::Minimum,
                  TypeError, op_name(op), ": not supported for bool tensors");
      if (op == BinaryOp::Add || op == BinaryOp::Maximum)
        return generic_binary<bool, bool>(a, b, out, [](bool x, bool y) { return x || y; });
      return generic_binary<bool, bool>(a, b, out, [](bool x, bool y) { return x && y; });
    } else {
      return arithmetic<T>(op, a, b, out);
    }
  });
}

// Gradient of a broadcast input: sum over the broadcast dims, in the input's dtype.
Tensor reduce_to(const Tensor& grad, const autograd::OutputMeta& meta) {
  Tensor g = sum_to(grad, meta.shape);
  return g.dtype() == meta.dtype ? g : to_dtype(g, meta.dtype);
}

struct BinaryBackward : autograd::Node {
  BinaryOp op;
  Scalar alpha = 1;
  autograd::OutputMeta a_meta, b_meta;
  autograd::SavedTensor a, b;
  // A 0-d operand that needs no gradient (a Python number) costs nothing to keep, so a second backward through
  // `x * 3` works without retain_graph, as in PyTorch (which saves such numbers as scalars).
  bool keep_a = false, keep_b = false;
  const char* name() const override {
    switch (op) {
      case BinaryOp::Add: return "AddBackward0";
      case BinaryOp::Sub: return "SubBackward0";
      case BinaryOp::Mul: return "MulBackward0";
      case BinaryOp::Div: return "DivBackward0";
      case BinaryOp::Pow: return "PowBackward1";
      case BinaryOp::Maximum: return "MaximumBackward0";
      default: return "MinimumBackward0";
    }
  }
  void release_saved() override {
    if (!keep_a) a.reset();
    if (!keep_b) b.reset();
  }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    const Tensor& g = grads[0];
    bool need_a = next_edges[0].fn != nullptr, need_b = next_edges[1].fn != nullptr;
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::Add:
      case BinaryOp::Sub: {
        if (need_a) ga = g;
        if (need_b) {
          double s = op == BinaryOp::Sub ? -alpha.value : alpha.value;
          gb = s == 1.0 ? g : binary(BinaryOp::Mul, g, Scalar(s));
        }
        break;
      }
      case BinaryOp::Mul:
        if (need_a) ga = mul(g, b.get());
        if (need_b) gb = mul(g, a.get());
        break;
      case BinaryOp::Div: {
        Tensor bv = b.get();
        if (need_a) ga = div(g, bv);
        if (need_b) gb = neg(div(mul(g, a.get()), mul(bv, bv)));
        break;
      }
      case BinaryOp::Pow: {
        Tensor av = a.get(), bv = b.get();
        if (need_a && bv.dim() == 0 && item(bv) == 2.0) ga = mul(g, binary(BinaryOp::Mul, av, Scalar(2.0)));
        else if (need_a) ga = mul(g, mul(bv, pow(av, binary(BinaryOp::Sub, bv, Scalar(1.0)))));
        if (need_b) {
          // d/db a^b = a^b log(a), defined as 0 where a == 0 and b >= 0 (as PyTorch)
          Tensor out = pow(av, bv);
          Tensor term = mul(out, log(av));
          Tensor zero_base = binary(BinaryOp::LogicalAnd, binary(BinaryOp::Eq, av, Scalar(0.0)),
                                    binary(BinaryOp::Ge, bv, Scalar(0.0)));
          gb = mul(g, masked_fill(term, zero_base, Scalar(0.0)));
        }
        break;
      }
      case BinaryOp::Maximum:
      case BinaryOp::Minimum: {
        // ties split the gradient evenly, as PyTorch
        Tensor av = a.get(), bv = b.get();
        Tensor a_wins = binary(op == BinaryOp::Maximum ? BinaryOp::Gt : BinaryOp::Lt, av, bv);
        Tensor tie = binary(BinaryOp::Eq, av, bv);
        Tensor half = binary(BinaryOp::Mul, to_dtype(tie, g.dtype()), Scalar(0.5));
        Tensor wa = add(to_dtype(a_wins, g.dtype()), half);
        if (need_a) ga = mul(g, wa);
        if (need_b) gb = mul(g, binary(BinaryOp::Sub, Scalar(1.0), wa));
        break;
      }
      default:
        throw RuntimeError(str(op_name(op), ": not differentiable"));
    }
    return {ga.defined() ? reduce_to(ga, a_meta) : Tensor(), gb.defined() ? reduce_to(gb, b_meta) : Tensor()};
  }
};

Tensor binary_impl(BinaryOp op, const Tensor& a, const Tensor& b, Scalar alpha) {
  const char* name = op_name(op);
  EMBER_CHECK(op != BinaryOp::Sub || (a.dtype() != DType::Bool && b.dtype() != DType::Bool), TypeError,
              "sub: subtraction, the `-` operator, with a bool tensor is not supported; use logical_xor or ~");
  EMBER_CHECK(op != BinaryOp::Pow || a.dtype() != DType::Bool || b.dtype() != DType::Bool, TypeError,
              "pow: not implemented for two bool tensors");
  DType compute = promote_operands(a, b);
  if ((op == BinaryOp::Div && !is_floating(compute)) ) compute = DType::Float32;
  if (op == BinaryOp::Pow && compute == DType::Bool) compute = DType::Int64;
  DType out_dtype = is_comparison(op) ? DType::Bool : compute;
  Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), name);

  Tensor ac = a.dtype() == compute ? a : to_dtype(detach(a), compute);
  Tensor bc = b.dtype() == compute ? b : to_dtype(detach(b), compute);
  if (alpha.value != 1.0) {
    EMBER_CHECK(op == BinaryOp::Add || op == BinaryOp::Sub, ValueError, name, ": alpha is only for add and sub");
    EMBER_CHECK(is_floating(compute) || alpha.is_integral, TypeError, name,
                ": for integral input tensors, alpha must not be a float");
    autograd::GradModeGuard no_grad(false);
    bc = binary(BinaryOp::Mul, bc, alpha);
  }
  Tensor out = empty(shape, out_dtype);
  // x ** 2 (MSE, variances) is x * x on the SIMD multiply (the same correctly rounded square, 30x a pow call),
  // x ** 3 is (x * x) * x, as PyTorch computes it; the backward's x ** 2 then takes the first path too.
  const double exponent = op == BinaryOp::Pow && is_floating(compute) && bc.dim() == 0 && shape == ac.shape()
                              ? item(bc) : 0.0;
  if (exponent == 2.0 || exponent == 3.0) {
    run_binary(BinaryOp::Mul, ac, ac, out);
    if (exponent == 3.0) run_binary(BinaryOp::Mul, out, ac, out);
  } else {
    run_binary(op, ac, bc, out);
  }

  if (!is_comparison(op) && op != BinaryOp::LogicalAnd && op != BinaryOp::LogicalOr && is_floating(out_dtype)) {
    if (auto node = autograd::make_node<BinaryBackward>({&a, &b})) {
      node->op = op;
      node->alpha = alpha;
      node->a_meta = {a.shape(), a.dtype()};
      node->b_meta = {b.shape(), b.dtype()};
      if (op != BinaryOp::Add && op != BinaryOp::Sub) {
        // Mul needs the other operand only for the inputs that require grad.
        bool need_a = node->next_edges[0].fn != nullptr, need_b = node->next_edges[1].fn != nullptr;
        if (op != BinaryOp::Mul || need_b) node->a = autograd::SavedTensor(ac);
        if (op != BinaryOp::Mul || need_a) node->b = autograd::SavedTensor(bc);
        node->keep_a = a.dim() == 0 && !need_a;
        node->keep_b = b.dim() == 0 && !need_b;
      }
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace

DType scalar_operand_dtype(DType d, Scalar s) {
  if (s.is_bool) return d;
  if (s.is_integral) return d == DType::Bool ? DType::Int64 : d;
  return is_floating(d) ? d : DType::Float32;
}

void binary_into(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) { run_binary(op, a, b, out); }

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) { return binary_impl(op, a, b, 1); }

Tensor binary(BinaryOp op, const Tensor& a, Scalar b) {
  EMBER_CHECK(op != BinaryOp::Sub || !b.is_bool, TypeError,
              "sub: subtraction, the `-` operator, with a bool is not supported; use logical_xor or ~");
  EMBER_CHECK(!(op == BinaryOp::Pow && b.is_integral && !b.is_bool && b.value < 0 && !is_floating(a.dtype())),
              RuntimeError, "pow: integers to negative integer powers are not allowed");
  DType d = scalar_operand_dtype(a.dtype(), b);
  if (b.is_integral && a.dtype() == DType::Bool && (op >= BinaryOp::Eq)) d = DType::Int64;
  return binary_impl(op, a, scalar_tensor(b, d), 1);
}

Tensor binary(BinaryOp op, Scalar a, const Tensor& b) {
  EMBER_CHECK(op != BinaryOp::Sub || !a.is_bool, TypeError,
              "sub: subtraction, the `-` operator, with a bool is not supported; use logical_xor or ~");
  return binary_impl(op, scalar_tensor(a, scalar_operand_dtype(b.dtype(), a)), b, 1);
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) { return binary_impl(BinaryOp::Add, a, b, alpha); }
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) {
  return binary_impl(BinaryOp::Sub, a, b, alpha);
}
Tensor mul(const Tensor& a, const Tensor& b) { return binary_impl(BinaryOp::Mul, a, b, 1); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_impl(BinaryOp::Div, a, b, 1); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary_impl(BinaryOp::Pow, a, b, 1); }
Tensor pow(const Tensor& a, Scalar b) { return binary(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary_impl(BinaryOp::Maximum, a, b, 1); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary_impl(BinaryOp::Minimum, a, b, 1); }

}  // namespace ember
