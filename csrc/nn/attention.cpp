// nn::MultiheadAttention: PyTorch's parameters and initialisation, and the computation of
// python/ember/nn/functional_attention.py's need_weights=False path (the fused attention op), op for op.
#include "ember/nn.h"

namespace ember {
namespace nn {

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool has_bias,
                                       bool batch_first, DType dtype)
    : embed_dim(embed_dim), num_heads(num_heads), head_dim(0), dropout(dropout), batch_first(batch_first) {
  EMBER_CHECK(embed_dim > 0 && num_heads > 0, ValueError, "MultiheadAttention: embed_dim and num_heads must be "
              "positive, got ", embed_dim, " and ", num_heads);
  EMBER_CHECK(embed_dim % num_heads == 0, ValueError, "MultiheadAttention: embed_dim must be divisible by num_heads, "
              "got embed_dim=", embed_dim, " and num_heads=", num_heads);
  EMBER_CHECK(dropout >= 0.0 && dropout <= 1.0, ValueError, "MultiheadAttention: dropout must be in [0, 1], got ",
              dropout);
  EMBER_CHECK(is_floating(dtype), TypeError, "MultiheadAttention: dtype must be float32 or float64, got ",
              dtype_name(dtype));
  head_dim = embed_dim / num_heads;
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * embed_dim, embed_dim}, dtype));
  if (has_bias) in_proj_bias = register_parameter("in_proj_bias", empty({3 * embed_dim}, dtype));
  // Python's order of draws: out_proj (weight, bias) is built first, then in_proj_weight is initialised
  out_proj = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, has_bias, dtype));
  init::xavier_uniform_(in_proj_weight);
  if (has_bias) {
    init::constant_(in_proj_bias, 0.0);
    init::constant_(out_proj->bias, 0.0);
  }
}

Tensor MultiheadAttention::operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                                      const Tensor& attn_mask, bool is_causal) {
  return run_hooks({query, key, value}, forward(query, key, value, attn_mask, is_causal));
}

Tensor MultiheadAttention::forward(const Tensor& query_in, const Tensor& key_in, const Tensor& value_in,
                                   const Tensor& attn_mask, bool is_causal) {
  const char* op = "MultiheadAttention";
  const char* names[3] = {"query", "key", "value"};
  const Tensor* inputs[3] = {&query_in, &key_in, &value_in};
  for (int i = 0; i < 3; ++i) {
    EMBER_CHECK(inputs[i]->defined(), ValueError, op, ": ", names[i], " is undefined");
    EMBER_CHECK(inputs[i]->dim() == 2 || inputs[i]->dim() == 3, ValueError, op, ": expected ", names[i],
                " to be 2-D (unbatched) or 3-D (batched), got shape ", shape_str(inputs[i]->shape()));
    EMBER_CHECK(inputs[i]->size(-1) == embed_dim, ValueError, op, ": expected ", names[i], " with embed_dim ",
                embed_dim, " in the last dim, got shape ", shape_str(inputs[i]->shape()));
  }
  EMBER_CHECK(query_in.dim() == key_in.dim() && key_in.dim() == value_in.dim(), ValueError, op,
              ": query, key and value must have the same number of dimensions");
  EMBER_CHECK(key_in.shape() == value_in.shape(), ValueError, op, ": key shape ", shape_str(key_in.shape()),
              " does not match value shape ", shape_str(value_in.shape()));
  EMBER_CHECK(!(is_causal && attn_mask.defined()), ValueError, op, ": pass either attn_mask or is_causal, not both");
  const bool unbatched = query_in.dim() == 2;
  // Python fuses the three projections only when query, key and value are the same batch-first object
  const bool self_attention = batch_first && !unbatched && query_in.same(key_in) && key_in.same(value_in);
  Tensor query = query_in, key = key_in, value = value_in;
  if (unbatched) {
    query = unsqueeze(query, 0), key = unsqueeze(key, 0), value = unsqueeze(value, 0);
  } else if (!batch_first) {
    query = transpose(query, 0, 1), key = transpose(key, 0, 1), value = transpose(value, 0, 1);
  }
  const int64_t B = query.size(0), T = query.size(1), S = key.size(1), H = num_heads, D = head_dim, E = embed_dim;
  EMBER_CHECK(key.size(0) == B, ValueError, op, ": query batch ", B, " and key batch ", key.size(0), " differ");
  Tensor q, k, v;
  if (self_attention) {
    Tensor qkv = reshape(linear(query, in_proj_weight, in_proj_bias, Activation::None), {B, T, 3, H, D});
    std::vector<Tensor> parts = unbind(qkv, 2);   // one backward node for q, k and v
    q = transpose(parts[0], 1, 2), k = transpose(parts[1], 1, 2), v = transpose(parts[2], 1, 2);
  } else {
    std::vector<Tensor> w = chunk(in_proj_weight, 3, 0), b(3);
    if (in_proj_bias.defined()) b = chunk(in_proj_bias, 3, 0);
    q = transpose(reshape(linear(query, w[0], b[0], Activation::None), {B, T, H, D}), 1, 2);
    k = transpose(reshape(linear(key, w[1], b[1], Activation::None), {B, S, H, D}), 1, 2);
    v = transpose(reshape(linear(value, w[2], b[2], Activation::None), {B, S, H, D}), 1, 2);
  }
  const double dropout_p = is_training() ? dropout : 0.0;
  Tensor out;
  if (is_causal) {
    out = scaled_dot_product_attention(q, k, v, Tensor(), dropout_p, true);
  } else {
    Tensor mask;
    if (attn_mask.defined()) {
      EMBER_CHECK(attn_mask.dtype() == DType::Bool || is_floating(attn_mask.dtype()), TypeError, op,
                  ": only bool and floating types of attn_mask are supported, got ", dtype_name(attn_mask.dtype()));
      if (attn_mask.shape() == Shape{T, S}) {
        mask = attn_mask;
      } else {
        EMBER_CHECK(attn_mask.shape() == (Shape{B * H, T, S}), ValueError, op, ": attn_mask should have shape ",
                    shape_str({T, S}), " or ", shape_str({B * H, T, S}), ", but got ", shape_str(attn_mask.shape()));
        mask = reshape(attn_mask, {B, H, T, S});
      }
      // PyTorch's MHA masks (bool true = masked out) as SDPA masks (bool true = attend)
      mask = mask.dtype() == DType::Bool ? unary(UnaryOp::LogicalNot, mask) : to_dtype(mask, query.dtype());
    }
    out = scaled_dot_product_attention(q, k, v, mask, dropout_p, false);
  }
  out = linear(reshape(transpose(out, 1, 2), {B, T, E}), out_proj->weight, out_proj->bias, Activation::None);
  if (unbatched) return squeeze(out, 0);
  return batch_first ? out : transpose(out, 0, 1);
}

}  // namespace nn
}  // namespace ember
