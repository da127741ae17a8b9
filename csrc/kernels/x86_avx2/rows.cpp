// AVX2+FMA sum, max, softmax and log-softmax (forward and backward): the shared x86 row templates for 8 lanes.
#include "kernels/x86_avx2/vec.h"
#include "kernels/x86_common/rows.h"

namespace ember {
namespace kernels {
namespace avx2 {

void fill_rows(Table& t) { kernels::fill_rows<Avx2>(t); }

}  // namespace avx2
}  // namespace kernels
}  // namespace ember
