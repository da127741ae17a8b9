// Helpers shared between op files (not part of the public C++ API).
#pragma once
#include "ops/ops.h"

namespace ember {

// out = a (op) b without autograd; a and b already have the compute dtype; out may alias a.
void binary_into(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace ember
