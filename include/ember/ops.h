// The C++ op API: every differentiable operation on Tensors, PyTorch-named. Each op validates its arguments
// (errors name the op), runs its kernel and records autograd history. Implementations: one file per family.
#pragma once
#include <optional>
#include <utility>
#include <vector>

#include "ember/tensor.h"

namespace ember {

// A Python-style number: ints keep integer semantics for type promotion.
struct Scalar {
  double value = 0.0;
  bool is_integral = false;
  bool is_bool = false;   // Python bool: keeps a bool tensor bool (True + bool tensor stays bool, as PyTorch)
  Scalar(double v) : value(v) {}                                   // NOLINT
  Scalar(int v) : value(v), is_integral(true) {}                   // NOLINT
  Scalar(int64_t v) : value(static_cast<double>(v)), is_integral(true) {}   // NOLINT
  Scalar(bool v) : value(v ? 1.0 : 0.0), is_integral(true), is_bool(true) {}   // NOLINT
};

// ---- creation (creation.cpp, random.cpp)
Tensor zeros(const Shape& shape, DType dtype = DType::Float32);
Tensor ones(const Shape& shape, DType dtype = DType::Float32);
Tensor full(const Shape& shape, Scalar value, DType dtype = DType::Float32);
Tensor scalar_tensor(Scalar value, DType dtype);
Tensor arange(double start, double end, double step, DType dtype);
Tensor linspace(double start, double end, int64_t steps, DType dtype = DType::Float32);
Tensor eye(int64_t n, int64_t m, DType dtype = DType::Float32);
void manual_seed(uint64_t seed);
uint64_t initial_seed();
Tensor rand(const Shape& shape, DType dtype = DType::Float32);
Tensor randn(const Shape& shape, DType dtype = DType::Float32);
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype = DType::Int64);
Tensor randperm(int64_t n, DType dtype = DType::Int64);
// A permutation of 0..n-1 fixed by (seed, stream) alone; the global RNG is neither read nor advanced.
Tensor randperm_seeded(int64_t n, uint64_t seed, uint64_t stream);
// int64 category indices drawn from each row of `probs` (1-D or 2-D, non-negative weights, not normalised).
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);

// ---- elementwise (elementwise.cpp, unary.cpp)
enum class BinaryOp { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr };
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, Scalar b);
Tensor binary(BinaryOp op, Scalar a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

enum class UnaryOp { Neg, Exp, Log, Sqrt, Rsqrt, Abs, Tanh, Sigmoid, Relu, Gelu, GeluTanh, Silu, Sign, LogicalNot };
Tensor unary(UnaryOp op, const Tensor& x);
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, bool tanh_approximation = false);
Tensor silu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);

// ---- type conversion and copies (copy.cpp)
Tensor to_dtype(const Tensor& x, DType dtype);     // differentiable between float types
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
// dst[...] = src (broadcast), without autograd; used by kernels of other ops.
void copy_into(const Tensor& dst, const Tensor& src);

// ---- in-place (inplace.cpp); refused on leaves that require grad while grad mode is on
Tensor& add_(Tensor& x, const Tensor& other, Scalar alpha = 1);
Tensor& add_(Tensor& x, Scalar other);
Tensor& sub_(Tensor& x, const Tensor& other, Scalar alpha = 1);
Tensor& mul_(Tensor& x, const Tensor& other);
Tensor& mul_(Tensor& x, Scalar other);
Tensor& div_(Tensor& x, const Tensor& other);
Tensor& div_(Tensor& x, Scalar other);
Tensor& zero_(Tensor& x);
Tensor& fill_(Tensor& x, Scalar value);
Tensor& copy_(Tensor& x, const Tensor& src);
Tensor& clamp_(Tensor& x, std::optional<double> min, std::optional<double> max);
Tensor& masked_fill_(Tensor& x, const Tensor& mask, Scalar value);

// ---- reductions (reduce.cpp)
using Dims = std::vector<int64_t>;   // empty = all dims
Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor var(const Tensor& x, const Dims& dims = {}, double correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const Dims& dims = {}, double correction = 1, bool keepdim = false);
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);   // values, indices
// sort.cpp: stable (equal values keep their order), NaN as the largest; values, indices.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true);
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
// Running sums along dim (scan.cpp): bool and integer inputs give int64, as in PyTorch.
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max(const Tensor& x);
Tensor min(const Tensor& x);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor logsumexp(const Tensor& x, const Dims& dims = {}, bool keepdim = false);   // softmax.cpp
Tensor all(const Tensor& x, const Dims& dims = {}, bool keepdim = false);         // bool result (reduce_minmax.cpp)
Tensor any(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Sums `x` down to `shape` (the inverse of broadcasting), used by backward passes.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- views (views.cpp): share storage, no copies
Tensor view(const Tensor& x, const Shape& shape);      // -1 allowed once; error if the layout is incompatible
Tensor reshape(const Tensor& x, const Shape& shape);   // a view when possible, else a copy
Tensor permute(const Tensor& x, const Dims& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor t(const Tensor& x);
Tensor expand(const Tensor& x, const Shape& shape);    // -1 keeps a size
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim = std::nullopt);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);   // python slice semantics
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset);
// The lower / upper triangle of the last two dims, the rest zero (triangular.cpp; copies, not views).
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// ---- joining and splitting (join.cpp)
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);   // views, as select along dim

// ---- indexing with tensors (index.cpp)
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);     // index: int64 1-D
Tensor masked_select(const Tensor& x, const Tensor& mask);                  // 1-D result
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Advanced indexing x[i0, i1, ...] where each entry is an int64 tensor or undefined (= full slice); NumPy rules.
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
void index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values, bool accumulate = false);
// out = x.clone(); out[..., index[i][j][k], ...] += src[i][j][k] along dim (the backward of gather).
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor nonzero(const Tensor& x);   // int64 (n, x.dim()): the coordinates of the non-zero elements, row-major order

// ---- linear algebra (matmul.cpp, linear.cpp)
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
enum class Activation { None, Relu, Gelu, GeluTanh };
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Activation act = Activation::None);

// ---- nn layers and losses (norm.cpp, loss.cpp, embedding.cpp, pad.cpp)
// Normalises over the trailing dims `normalized_shape`; weight and bias (that shape) may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// x is (N, C, *). training: batch statistics, and the running stats (when defined) are updated in place as
// running = (1 - momentum) * running + momentum * batch (unbiased variance); else the running stats are used.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
enum class Reduction { None, Mean, Sum };
// input (N, C, d1, ...) or (C); target: int64 class indices (N, d1, ...) / (), or probabilities like input.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     Reduction reduction = Reduction::Mean, int64_t ignore_index = -100, double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100);
// mean (or sum) of (input - target)^2, fused forward and backward; target of input's shape and floating dtype.
Tensor mse_loss_reduced(const Tensor& input, const Tensor& target, bool mean);
// mean (or sum) of Huber(delta) of input - target, or with smooth_l1 smooth L1 with beta = delta (> 0); fused.
Tensor huber_loss_reduced(const Tensor& input, const Tensor& target, double delta, bool mean, bool smooth_l1);
// Elementwise (unreduced) binary cross-entropy of probabilities / of logits; target has the input's shape;
// pos_weight (may be undefined) has it too (callers expand it).
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target);
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& pos_weight = Tensor());
// weight (V, D), indices int64 of any shape -> (*indices.shape, D); padding_idx rows get no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = std::nullopt);
// pad = (last_left, last_right, second_last_left, ...) as torch.nn.functional.pad; negative values crop.
Tensor constant_pad(const Tensor& x, const std::vector<int64_t>& pad, double value = 0.0);
// ---- attention (attention.cpp): fused, PyTorch semantics; attn_mask bool (true = attend) or additive float;
// enable_gqa: key / value may have fewer heads (dim -3) than query, each shared by consecutive query heads
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt, bool enable_gqa = false);

// ---- operators for C++ users
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, Scalar b) { return binary(BinaryOp::Add, a, b); }
inline Tensor operator-(const Tensor& a, Scalar b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor operator*(const Tensor& a, Scalar b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor operator/(const Tensor& a, Scalar b) { return binary(BinaryOp::Div, a, b); }

// Scalar value of a one-element tensor, as double.
double item(const Tensor& x);

}  // namespace ember
