// How a reduction over some dims maps onto memory: as rows (reduce the contiguous tail), as columns (reduce
// leading rows, keep a contiguous tail), or via a permuted copy. Shared by all reduction ops.
#pragma once
#include <vector>

#include "ember/ops.h"

namespace ember {

struct ReducePlan {
  Shape out_shape;        // with keepdim applied
  Shape kept_shape;       // keepdim=true shape (reduced dims as 1)
  std::vector<bool> reduced;
  int64_t outer = 1;      // product of kept sizes
  int64_t inner = 1;      // product of reduced sizes
};

ReducePlan plan_reduce(const Tensor& x, const Dims& dims, bool keepdim, const char* op);

// x rearranged so the reduced elements of output element o are row o of an (outer, inner) matrix,
// copying only when x's layout does not allow it already. `columns` reports the other fast layout:
// x is contiguous as (inner, outer) and column o holds output o's elements.
Tensor reduce_layout(const Tensor& x, const ReducePlan& plan, bool allow_columns, bool* columns);

}  // namespace ember
