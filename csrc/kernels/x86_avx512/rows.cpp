// AVX-512 sum, max, softmax and log-softmax (forward and backward): the shared x86 row templates for 16 lanes.
#include "kernels/x86_avx512/vec.h"
#include "kernels/x86_common/rows.h"

namespace ember {
namespace kernels {
namespace avx512 {

void fill_rows(Table& t) { kernels::fill_rows<Avx512>(t); }

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
