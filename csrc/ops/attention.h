// scaled_dot_product_attention with a chosen implementation, for tests and benchmarks (the public op is
// declared in ops.h): "" = the active kernel table, "ref" / "avx2" / "avx512" = that table's flash kernels,
// "reference" = the row-at-a-time reference. float64 always runs the reference.
#pragma once
#include <string>

#include "ember/ops.h"

namespace ember {

Tensor scaled_dot_product_attention_using(const std::string& implementation, const Tensor& query, const Tensor& key,
                                          const Tensor& value, const Tensor& attn_mask, double dropout_p,
                                          bool is_causal, std::optional<double> scale, bool enable_gqa = false);

}  // namespace ember
