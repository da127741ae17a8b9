// AVX2+FMA kernels: the shared x86 templates (kernels/x86_common/) instantiated for 8-lane vectors. This file
// fills the elementwise entries; rows.cpp the reductions and softmax.
#include "kernels/x86_avx2/vec.h"
#include "kernels/x86_common/elementwise.h"

namespace ember {
namespace kernels {
namespace avx2 {

void fill_rows(Table& t);   // rows.cpp

void fill(Table& t) {
  fill_elementwise<Avx2>(t);
  fill_rows(t);
}

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
