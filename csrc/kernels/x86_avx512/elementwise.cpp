// AVX-512 kernels (built always, selected only on CPUs with AVX-512F/DQ/BW/VL): the shared x86 templates
// (kernels/x86_common/) instantiated for 16-lane vectors. This file fills the elementwise entries; rows.cpp
// the reductions and softmax.
#include "kernels/x86_avx512/vec.h"
#include "kernels/x86_common/elementwise.h"

namespace ember {
namespace kernels {
namespace avx512 {

void fill_rows(Table& t);   // rows.cpp
void fill_pool(Table& t);   // pool.cpp

void fill(Table& t) {
  fill_elementwise<Avx512>(t);
  fill_rows(t);
  fill_pool(t);
}

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
