// Packing of sgemm operands into micro-kernel order (BLIS style): A blocks into MR-row slivers (element
// (i, p) at sliver[p*MR + i]) and B panels into NR-column slivers (element (p, j) at sliver[p*NR + j]),
// zero-padded to full tiles. Strides of any sign pattern are absorbed here, so NN, TN and NT cost the same.
#pragma once
#include <cstdint>

namespace ember {
namespace kernels {

// A is (mc, kc) at `a`: element (i, p) at a[i*rsA + p*csA]. Writes ceil(mc/MR) slivers of MR*kc floats.
void pack_a_block(const float* a, int64_t rsA, int64_t csA, int64_t mc, int64_t kc, int mr, float* packed);

// B is (kc, nc) at `b`: element (p, j) at b[p*rsB + j*csB]. Writes slivers [s_begin, s_end) of NR*kc
// floats each, sliver s at packed + s*kc*NR (covering columns s*NR ..).
void pack_b_slivers(const float* b, int64_t rsB, int64_t csB, int64_t kc, int64_t nc, int nr, int64_t s_begin,
                    int64_t s_end, float* packed);

}  // namespace kernels
}  // namespace ember
