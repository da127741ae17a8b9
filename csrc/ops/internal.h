// Helpers shared between op files (not part of the public C++ API).
#pragma once
#include "ember/ops.h"

namespace ember {

// out = a (op) b without autograd; a and b already have the compute dtype; out may alias a.
// The dtype a Python number takes next to a tensor of dtype `d` (PyTorch's "wrapped number" rule).
DType scalar_operand_dtype(DType d, Scalar s);

void binary_into(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace ember
