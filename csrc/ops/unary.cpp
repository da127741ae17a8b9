// Unary elementwise ops (math functions and activations), where/clamp/masked_fill, with backward nodes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ember/node.h"
#include "kernels/kernels.h"
#include "ember/ops.h"
#include "ops/scalar_math.h"
#include "ops/strided_loop.h"

namespace ember {
namespace {

// c ? a : b through the bits: no branch on a condition that is often random (a mispredict an element).
template <typename T>
inline T pick(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 8, uint64_t,
                               std::conditional_t<sizeof(T) == 4, uint32_t,
                                                  std::conditional_t<sizeof(T) == 2, uint16_t, uint8_t>>>;
  static_assert(sizeof(T) == sizeof(U), "pick: unsupported element size");
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(T));
  std::memcpy(&ub, &b, sizeof(T));
  const U mask = static_cast<U>(U(0) - static_cast<U>(c));
  const U r = static_cast<U>((ua & mask) | (ub & static_cast<U>(~mask)));
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

constexpr int64_t kGrain = 16384;

const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Rsqrt: return "rsqrt";
    case UnaryOp::Abs: return "abs";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Relu: return "relu";
    case UnaryOp::Gelu: return "gelu";
    case UnaryOp::GeluTanh: return "gelu";
    case UnaryOp::Silu: return "silu";
    case UnaryOp::Sign: return "sign";
    case UnaryOp::LogicalNot: return "logical_not";
  }
  return "unary";
}

kernels::UnaryF32 simd_kernel(UnaryOp op) {
  const kernels::Table& k = kernels::table();
  switch (op) {
    case UnaryOp::Neg: return k.neg;
    case UnaryOp::Exp: return k.exp;
    case UnaryOp::Log: return k.log;
    case UnaryOp::Sqrt: return k.sqrt;
    case UnaryOp::Rsqrt: return k.rsqrt;
    case UnaryOp::Abs: return k.abs;
    case UnaryOp::Tanh: return k.tanh;
    case UnaryOp::Sigmoid: return k.sigmoid;
    case UnaryOp::Relu: return k.relu;
    case UnaryOp::Gelu: return k.gelu;
    case UnaryOp::GeluTanh: return k.gelu_tanh;
    case UnaryOp::Silu: return k.silu;
    default: return nullptr;
  }
}

template <typename T>
T apply_scalar(UnaryOp op, T x) {
  if constexpr (std::is_same_v<T, bool>) {
    return op == UnaryOp::LogicalNot ? !x : x;
  } else if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Abs: return x < 0 ? -x : x;
      case UnaryOp::Sign: return (x > 0) - (x < 0);
      case UnaryOp::Relu: return x > 0 ? x : 0;
      default: return x;
    }
  } else {
    switch (op) {
      case UnaryOp::Neg: return -x;
      case UnaryOp::Exp: return std::exp(x);
      case UnaryOp::Log: return std::log(x);
      case UnaryOp::Sqrt: return std::sqrt(x);
      case UnaryOp::Rsqrt: return T(1) / std::sqrt(x);
      case UnaryOp::Abs: return std::fabs(x);
      case UnaryOp::Tanh: return std::tanh(x);
      case UnaryOp::Sigmoid: return math::sigmoid(x);
      case UnaryOp::Relu: return pick(x > 0 || x != x, x, T(0));   // NaN stays NaN; branch-free
      case UnaryOp::Gelu: return math::gelu(x);
      case UnaryOp::GeluTanh: return math::gelu_tanh(x);
      case UnaryOp::Silu: return x * math::sigmoid(x);
      case UnaryOp::Sign: return T((x > 0) - (x < 0));   // sign(NaN) = 0, as PyTorch
      default: return x;
    }
  }
}

// ys[i sy] = op(xs[i sx]) with the op a constant, so apply_scalar's switch folds away (it was taken per element);
// unit strides get their own loop, which the compiler can vectorise.
template <UnaryOp kOp, typename T>
void unary_row(const T* xs, T* ys, int64_t sx, int64_t sy, int64_t n) {
  if (sx == 1 && sy == 1)
    for (int64_t i = 0; i < n; ++i) ys[i] = apply_scalar(kOp, xs[i]);
  else
    for (int64_t i = 0; i < n; ++i) ys[i * sy] = apply_scalar(kOp, xs[i * sx]);
}

template <typename T>
void unary_row(UnaryOp op, const T* xs, T* ys, int64_t sx, int64_t sy, int64_t n) {
  switch (op) {
#define EMBER_UNARY_CASE(name) \
    case UnaryOp::name: return unary_row<UnaryOp::name>(xs, ys, sx, sy, n);
    EMBER_UNARY_CASE(Neg) EMBER_UNARY_CASE(Exp) EMBER_UNARY_CASE(Log) EMBER_UNARY_CASE(Sqrt) EMBER_UNARY_CASE(Rsqrt)
    EMBER_UNARY_CASE(Abs) EMBER_UNARY_CASE(Tanh) EMBER_UNARY_CASE(Sigmoid) EMBER_UNARY_CASE(Relu) EMBER_UNARY_CASE(Gelu)
    EMBER_UNARY_CASE(GeluTanh) EMBER_UNARY_CASE(Silu) EMBER_UNARY_CASE(Sign) EMBER_UNARY_CASE(LogicalNot)
#undef EMBER_UNARY_CASE
  }
}

// y = f(x) for a contiguous output; x any strides.
void run_unary(UnaryOp op, const Tensor& x, const Tensor& y) {
  kernels::UnaryF32 kernel = x.dtype() == DType::Float32 ? simd_kernel(op) : nullptr;
  if (kernel && x.is_contiguous()) {
    const float* xp = x.data<float>();
    float* yp = y.data<float>();
    parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) { kernel(xp + b, yp + b, e - b); });
    return;
  }
  std::array<Shape, 2> strides{y.strides(), x.strides()};
  std::array<char*, 2> base{static_cast<char*>(y.raw_data()), static_cast<char*>(x.raw_data())};
  int64_t isz = static_cast<int64_t>(itemsize(x.dtype()));
  int64_t osz = static_cast<int64_t>(itemsize(y.dtype()));
  dispatch_dtype(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for_each_row<2>(x.shape(), strides, base, {osz, isz}, kGrain,
                    [&](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
                      const T* xs = reinterpret_cast<const T*>(p[1]);
                      if (op == UnaryOp::LogicalNot) {
                        bool* ys = reinterpret_cast<bool*>(p[0]);
                        for (int64_t i = 0; i < n; ++i) ys[i * s[0]] = !xs[i * s[1]];
                      } else {
                        unary_row(op, xs, reinterpret_cast<T*>(p[0]), s[1], s[0], n);
                      }
                    });
  });
}

// gx = f(saved, gy) elementwise (gy * the derivative, or a selection); `saved` is x or y as the op needs. All
// contiguous, same dtype.
template <typename T, typename F>
Tensor backward_map(const Tensor& saved, const Tensor& gy, F f) {
  Tensor s = contiguous(saved), g = contiguous(gy);
  Tensor gx = empty(s.shape(), s.dtype());
  const T* sp = s.data<T>();
  const T* gp = g.data<T>();
  T* out = gx.data<T>();
  parallel_for(s.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = f(sp[i], gp[i]);
  });
  return gx;
}

Tensor fused_backward(kernels::UnaryBackwardF32 kernel, const Tensor& saved, const Tensor& gy) {
  Tensor s = contiguous(saved), g = contiguous(gy);
  Tensor gx = empty(s.shape(), DType::Float32);
  const float* sp = s.data<float>();
  const float* gp = g.data<float>();
  float* out = gx.data<float>();
  parallel_for(s.numel(), kGrain, [&](int64_t b, int64_t e) { kernel(sp + b, gp + b, out + b, e - b); });
  return gx;
}

struct UnaryBackward : autograd::Node {
  UnaryOp op;
  autograd::SavedTensor saved;   // x or y, see needs_output()
  const char* name() const override {
    switch (op) {
      case UnaryOp::Neg: return "NegBackward0";
      case UnaryOp::Exp: return "ExpBackward0";
      case UnaryOp::Log: return "LogBackward0";
      case UnaryOp::Sqrt: return "SqrtBackward0";
      case UnaryOp::Rsqrt: return "RsqrtBackward0";
      case UnaryOp::Abs: return "AbsBackward0";
      case UnaryOp::Tanh: return "TanhBackward0";
      case UnaryOp::Sigmoid: return "SigmoidBackward0";
      case UnaryOp::Relu: return "ReluBackward0";
      case UnaryOp::Gelu:
      case UnaryOp::GeluTanh: return "GeluBackward0";
      case UnaryOp::Silu: return "SiluBackward0";
      default: return "SignBackward0";
    }
  }
  void release_saved() override { saved.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    const Tensor& g = grads[0];
    if (op == UnaryOp::Neg) return {neg(g)};
    if (op == UnaryOp::Sign) return {zeros(g.shape(), g.dtype())};
    Tensor s = saved.get();
    const kernels::Table& k = kernels::table();
    bool f32 = s.dtype() == DType::Float32;
    switch (op) {
      case UnaryOp::Exp: return {mul(g, s)};
      case UnaryOp::Log: return {div(g, s)};
      case UnaryOp::Sqrt: return {div(g, binary(BinaryOp::Mul, s, Scalar(2.0)))};
      case UnaryOp::Rsqrt: return {mul(g, binary(BinaryOp::Mul, mul(s, mul(s, s)), Scalar(-0.5)))};
      case UnaryOp::Abs: {   // g * sign(x), sign(NaN) = 0; branch-free (the signs of real data are random)
        if (!is_floating(s.dtype())) return {mul(g, unary(UnaryOp::Sign, s))};
        Tensor gx;
        dispatch_floating(s.dtype(), [&](auto tag) {
          using T = decltype(tag);
          gx = backward_map<T>(s, g, [](T x, T gy) { return gy * T((x > 0) - (x < 0)); });
        });
        return {gx};
      }
      case UnaryOp::Tanh:
        if (f32) return {fused_backward(k.tanh_backward, s, g)};
        return {backward_map<double>(s, g, [](double y, double g) { return g * (1.0 - y * y); })};
      case UnaryOp::Sigmoid:
        if (f32) return {fused_backward(k.sigmoid_backward, s, g)};
        return {backward_map<double>(s, g, [](double y, double g) { return g * y * (1.0 - y); })};
      case UnaryOp::Relu:
        if (f32) return {fused_backward(k.relu_backward, s, g)};
        return {backward_map<double>(s, g, [](double x, double g) { return x <= 0 ? 0.0 : g; })};
      case UnaryOp::Gelu:
        if (f32) return {fused_backward(k.gelu_backward, s, g)};
        return {backward_map<double>(s, g, [](double x, double g) { return g * math::gelu_grad(x); })};
      case UnaryOp::GeluTanh:
        if (f32) return {fused_backward(k.gelu_tanh_backward, s, g)};
        return {backward_map<double>(s, g, [](double x, double g) { return g * math::gelu_tanh_grad(x); })};
      case UnaryOp::Silu:
        if (f32) return {fused_backward(k.silu_backward, s, g)};
        return {backward_map<double>(s, g, [](double x, double g) { return g * math::silu_grad(x); })};
      default: throw RuntimeError("unary backward: unsupported op");
    }
  }
};

bool saves_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::Tanh ||
         op == UnaryOp::Sigmoid || op == UnaryOp::Relu;
}

struct LeakyReluBackward : autograd::Node {
  double slope;
  autograd::SavedTensor x;
  const char* name() const override { return "LeakyReluBackward0"; }
  void release_saved() override { x.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor xv = x.get(), g = grads[0];
    if (g.dtype() != xv.dtype()) g = to_dtype(g, xv.dtype());
    Tensor gx;
    dispatch_floating(xv.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T s = static_cast<T>(slope);
      const T rise = T(1) - s;   // branch-free (the signs of real data are random): g (s + (1 - s) [x > 0])
      gx = backward_map<T>(xv, g, [s, rise](T x, T gy) { return gy * (s + rise * T(x > 0)); });
    });
    return {gx};
  }
};

struct MaskBackward : autograd::Node {   // clamp and masked_fill: the gradient passes where `keep` is true
  const char* label;
  autograd::SavedTensor keep;
  const char* name() const override { return label; }
  void release_saved() override { keep.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    return {mul(grads[0], to_dtype(keep.get(), grads[0].dtype()))};
  }
};

struct WhereBackward : autograd::Node {
  autograd::SavedTensor condition;
  autograd::OutputMeta a_meta, b_meta;
  const char* name() const override { return "WhereBackward0"; }
  void release_saved() override { condition.reset(); }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor c = condition.get();
    Tensor zero = zeros({}, grads[0].dtype());
    Tensor ga, gb;
    if (next_edges[1].fn) ga = to_dtype(sum_to(where(c, grads[0], zero), a_meta.shape), a_meta.dtype);
    if (next_edges[2].fn) gb = to_dtype(sum_to(where(c, zero, grads[0]), b_meta.shape), b_meta.dtype);
    return {Tensor(), ga, gb};
  }
};

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  const char* name = op_name(op);
  DType out_dtype = x.dtype();
  bool integral_ok = op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Relu ||
                     op == UnaryOp::LogicalNot;
  Tensor input = x;
  if (op == UnaryOp::LogicalNot) {
    out_dtype = DType::Bool;
  } else if (!is_floating(x.dtype()) && !integral_ok) {
    input = to_dtype(detach(x), DType::Float32);   // exp(int) is float, as PyTorch
    out_dtype = DType::Float32;
  }
  EMBER_CHECK(!(x.dtype() == DType::Bool && (op == UnaryOp::Neg)), TypeError, name,
              ": negation of a bool tensor is not supported; use logical_not");
  Tensor y = empty(x.shape(), out_dtype);
  run_unary(op, input, y);
  if (is_floating(out_dtype) && op != UnaryOp::LogicalNot) {
    if (auto node = autograd::make_node<UnaryBackward>({&x})) {
      node->op = op;
      if (op != UnaryOp::Neg && op != UnaryOp::Sign) node->saved = autograd::SavedTensor(saves_output(op) ? y : input);
      autograd::set_history(y, node);
    }
  }
  return y;
}

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::Rsqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  return unary(tanh_approximation ? UnaryOp::GeluTanh : UnaryOp::Gelu, x);
}
Tensor silu(const Tensor& x) { return unary(UnaryOp::Silu, x); }

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  EMBER_CHECK(is_floating(x.dtype()), TypeError, "leaky_relu: expected a floating point tensor, got ",
              dtype_name(x.dtype()));
  // x > 0 ? x : slope x in one pass, branch-free
  Tensor xc = contiguous(detach(x)), y = empty(x.shape(), x.dtype());
  dispatch_floating(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T s = static_cast<T>(negative_slope);
    const T* xp = xc.data<T>();
    T* yp = y.data<T>();
    parallel_for(xc.numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) yp[i] = pick(xp[i] > 0, xp[i], xp[i] * s);
    });
  });
  if (auto node = autograd::make_node<LeakyReluBackward>({&x})) {
    node->slope = negative_slope;
    node->x = autograd::SavedTensor(x);
    autograd::set_history(y, node);
  }
  return y;
}

Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max) {
  EMBER_CHECK(min || max, ValueError, "clamp: at least one of 'min' or 'max' must not be None");
  Tensor y;
  Tensor keep;
  if (is_floating(x.dtype())) {
    // one pass: y = min(max(x, lo), hi) (NaN stays NaN) and, for the backward, keep = lo <= x <= hi
    Tensor xc = contiguous(detach(x));
    y = empty(x.shape(), x.dtype());
    const bool want_keep = x.requires_grad() && autograd::grad_enabled();
    if (want_keep) keep = empty(x.shape(), DType::Bool);
    dispatch_floating(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T lo = min ? static_cast<T>(*min) : -std::numeric_limits<T>::infinity();
      const T hi = max ? static_cast<T>(*max) : std::numeric_limits<T>::infinity();
      const T* xp = xc.data<T>();
      T* yp = y.data<T>();
      bool* kp = want_keep ? keep.data<bool>() : nullptr;
      parallel_for(xc.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) yp[i] = std::min(std::max(xp[i], lo), hi);
        if (kp)
          for (int64_t i = b; i < e; ++i) kp[i] = (xp[i] >= lo) & (xp[i] <= hi);
      });
    });
  } else {
    autograd::GradModeGuard no_grad(false);
    y = x;
    if (min) y = maximum(y, scalar_tensor(*min, x.dtype()));
    if (max) y = minimum(y, scalar_tensor(*max, x.dtype()));
    if (y.same(x)) y = clone(x);
    if (x.requires_grad()) {
      // PyTorch passes the gradient where min <= x <= max (boundaries included)
      keep = ones(x.shape(), DType::Bool);
      if (min) keep = binary(BinaryOp::LogicalAnd, keep, binary(BinaryOp::Ge, x, Scalar(*min)));
      if (max) keep = binary(BinaryOp::LogicalAnd, keep, binary(BinaryOp::Le, x, Scalar(*max)));
    }
  }
  if (auto node = autograd::make_node<MaskBackward>({&x})) {
    node->label = "ClampBackward1";
    node->keep = autograd::SavedTensor(keep);
    autograd::set_history(y, node);
  }
  return y;
}

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(condition.dtype() == DType::Bool, TypeError, "where: expected condition to be a bool tensor, got ",
              dtype_name(condition.dtype()));
  DType dtype = promote(a.dtype(), b.dtype());
  Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor ac = a.dtype() == dtype ? a : to_dtype(detach(a), dtype);
  Tensor bc = b.dtype() == dtype ? b : to_dtype(detach(b), dtype);
  Tensor out = empty(shape, dtype);
  std::array<Shape, 4> strides{out.strides(), broadcast_strides(condition, shape), broadcast_strides(ac, shape),
                               broadcast_strides(bc, shape)};
  std::array<char*, 4> base{static_cast<char*>(out.raw_data()), static_cast<char*>(condition.raw_data()),
                            static_cast<char*>(ac.raw_data()), static_cast<char*>(bc.raw_data())};
  int64_t isz = static_cast<int64_t>(itemsize(dtype));
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    for_each_row<4>(shape, strides, base, {isz, 1, isz, isz}, kGrain,
                    [&](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
                      T* o = reinterpret_cast<T*>(p[0]);
                      const bool* c = reinterpret_cast<const bool*>(p[1]);
                      const T* x = reinterpret_cast<const T*>(p[2]);
                      const T* y = reinterpret_cast<const T*>(p[3]);
                      for (int64_t i = 0; i < n; ++i) {
                        const T xv = x[i * s[2]], yv = y[i * s[3]];
                        o[i * s[0]] = pick(c[i * s[1]], xv, yv);
                      }
                    });
  });
  if (is_floating(dtype)) {
    if (auto node = autograd::make_node<WhereBackward>({&condition, &a, &b})) {
      node->condition = autograd::SavedTensor(condition);
      node->a_meta = {a.shape(), a.dtype()};
      node->b_meta = {b.shape(), b.dtype()};
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  EMBER_CHECK(mask.dtype() == DType::Bool, TypeError, "masked_fill: expected a bool mask, got ",
              dtype_name(mask.dtype()));
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  EMBER_CHECK(shape == x.shape(), ValueError, "masked_fill: mask of shape ", shape_str(mask.shape()),
              " does not broadcast to the input shape ", shape_str(x.shape()));
  Tensor out;
  {
    autograd::GradModeGuard no_grad(false);
    out = where(mask, scalar_tensor(value, x.dtype()), x);
  }
  if (is_floating(x.dtype())) {
    if (auto node = autograd::make_node<MaskBackward>({&x})) {
      node->label = "MaskedFillBackward0";
      autograd::GradModeGuard no_grad(false);
      node->keep = autograd::SavedTensor(unary(UnaryOp::LogicalNot, mask));
      autograd::set_history(out, node);
    }
  }
  return out;
}

}  // namespace ember
