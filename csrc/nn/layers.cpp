// Linear, LayerNorm, Embedding, Dropout: constructors validate, reset_parameters holds all init (same draws as
// python/ember/nn/modules), forward is one op from ember/ops.h.
#include <cmath>

#include "ember/nn.h"
#include "ember/node.h"

namespace ember {
namespace nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, DType dtype)
    : in_features(in_features), out_features(out_features) {
  EMBER_CHECK(in_features >= 0 && out_features >= 0, ValueError, "Linear: in_features and out_features must be "
              "non-negative, got ", in_features, " and ", out_features);
  EMBER_CHECK(is_floating(dtype), TypeError, "Linear: dtype must be float32 or float64, got ", dtype_name(dtype));
  weight = register_parameter("weight", empty({out_features, in_features}, dtype));
  if (has_bias) bias = register_parameter("bias", empty({out_features}, dtype));
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) init::bias_uniform_(bias, weight);
}

void Linear::forward_checks(const Tensor& input) const {
  EMBER_CHECK(input.defined(), ValueError, "Linear: the input tensor is undefined");
  EMBER_CHECK(input.dim() > 0 && input.size(-1) == in_features, ValueError, "linear: input of shape ",
              shape_str(input.shape()), " does not match weight of shape ", shape_str(weight.shape()),
              " (expected input.shape[-1] == ", in_features, ")");
}

Tensor Linear::forward(const Tensor& input) {
  forward_checks(input);
  return linear(input, weight, bias, Activation::None);
}

Tensor Linear::forward_activated(const Tensor& input, Activation act) {
  forward_checks(input);
  return linear(input, weight, bias, act);
}

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine, bool has_bias, DType dtype)
    : normalized_shape(std::move(normalized_shape)), eps(eps) {
  EMBER_CHECK(!this->normalized_shape.empty(), ValueError, "LayerNorm: normalized_shape must not be empty");
  for (int64_t s : this->normalized_shape)
    EMBER_CHECK(s > 0, ValueError, "LayerNorm: normalized_shape entries must be positive, got ",
                shape_str(this->normalized_shape));
  EMBER_CHECK(eps >= 0, ValueError, "LayerNorm: eps must be non-negative, got ", eps);
  EMBER_CHECK(is_floating(dtype), TypeError, "LayerNorm: dtype must be float32 or float64, got ", dtype_name(dtype));
  if (elementwise_affine) {
    weight = register_parameter("weight", empty(this->normalized_shape, dtype));
    if (has_bias) bias = register_parameter("bias", empty(this->normalized_shape, dtype));
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  if (weight.defined()) init::constant_(weight, 1.0);
  if (bias.defined()) init::constant_(bias, 0.0);
}

Tensor LayerNorm::forward(const Tensor& input) {
  EMBER_CHECK(input.defined(), ValueError, "LayerNorm: the input tensor is undefined");
  return layer_norm(input, normalized_shape, weight, bias, eps);
}

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx, DType dtype)
    : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  EMBER_CHECK(num_embeddings >= 0 && embedding_dim >= 0, ValueError, "Embedding: num_embeddings and embedding_dim "
              "must be non-negative, got ", num_embeddings, " and ", embedding_dim);
  EMBER_CHECK(is_floating(dtype), TypeError, "Embedding: dtype must be float32 or float64, got ", dtype_name(dtype));
  if (padding_idx) {
    EMBER_CHECK(*padding_idx >= -num_embeddings && *padding_idx < num_embeddings, ValueError, "Embedding: padding_idx ",
                *padding_idx, " must be within num_embeddings (", num_embeddings, ")");
    this->padding_idx = *padding_idx < 0 ? *padding_idx + num_embeddings : *padding_idx;
  }
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}, dtype));
  reset_parameters();
}

void Embedding::reset_parameters() {
  init::normal_(weight);
  if (padding_idx) {
    autograd::GradModeGuard no_grad(false);
    Tensor row = select(weight, 0, *padding_idx);
    fill_(row, Scalar(0.0));
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  EMBER_CHECK(indices.defined(), ValueError, "Embedding: the input tensor is undefined");
  return embedding(weight, indices, padding_idx);
}

Dropout::Dropout(double p) : p(p) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout probability has to be between 0 and 1, but got ", p);
}

}  // namespace nn
}  // namespace ember
