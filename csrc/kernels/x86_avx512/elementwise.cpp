// AVX-512 kernels (built always, selected only on CPUs with AVX-512F/DQ/BW/VL). Entries not set here keep
// their AVX2 implementation.
#include <immintrin.h>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace avx512 {

void fill(Table& t) { (void)t; }

}  // namespace avx512
}  // namespace kernels
}  // namespace ember
