// Helpers shared between op files (not part of the public C++ API).
#pragma once
#include "ember/ops.h"

namespace ember {

// out = a (op) b without autograd; a and b already have the compute dtype; out may alias a.
// The dtype a Python number takes next to a tensor of dtype `d` (PyTorch's "wrapped number" rule).
DType scalar_operand_dtype(DType d, Scalar s);

void binary_into(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);

// stack(parts, dim) without a copy, where the parts allow it: two or more views of one storage with one dtype,
// shape and strides at evenly spaced offsets (part i at offset_0 + i * step, step > 0) that together fill a
// dense block (as the outputs of unbind do). Undefined when they do not.
Tensor joined_parts(const std::vector<Tensor>& parts, int64_t dim);

}  // namespace ember
