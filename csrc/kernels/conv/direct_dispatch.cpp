// Picks the direct convolution kernels of an ISA level; the level itself is decided once, in dispatch.cpp
// (kernels::table()), so EMBER_ISA applies here too.
#include <cstring>

#include "kernels/conv/conv.h"
#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace {

DirectConvKernels build(const char* level) {
  DirectConvKernels k;
  ref::fill_direct_conv(k);
  if (std::strcmp(level, "ref") == 0) return k;
  avx2::fill_direct_conv(k);
  if (std::strcmp(level, "avx2") == 0) return k;
  avx512::fill_direct_conv(k);
  return k;
}

}  // namespace

const DirectConvKernels* direct_conv_kernels_for(const char* level) {
  if (table_for(level) == nullptr) return nullptr;
  static const DirectConvKernels ref_kernels = build("ref");
  static const DirectConvKernels avx2_kernels = build("avx2");
  static const DirectConvKernels avx512_kernels = build("avx512");
  if (std::strcmp(level, "ref") == 0) return &ref_kernels;
  if (std::strcmp(level, "avx2") == 0) return &avx2_kernels;
  return &avx512_kernels;
}

const DirectConvKernels& direct_conv_kernels() {
  static const DirectConvKernels& k = *direct_conv_kernels_for(table().isa);
  return k;
}

}  // namespace kernels
}  // namespace ember
