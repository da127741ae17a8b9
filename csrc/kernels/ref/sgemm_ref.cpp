// Scalar reference sgemm micro-kernel (4x8 tile) and FMA probe: the fallback on CPUs without AVX2 and the
// oracle the SIMD tiles are tested against. Same contract as the SIMD tiles (kernels/gemm/microkernel.h).
#include <chrono>
#include <cmath>
#include <vector>

#include "ember/threads.h"
#include "kernels/kernels.h"

namespace ember {
namespace kernels {
namespace ref {
namespace {

constexpr int kMR = 4, kNR = 8;

float activate(float v, GemmActivation act) {
  switch (act) {
    case GemmActivation::Relu: return v > 0.0f || v != v ? v : 0.0f;
    case GemmActivation::Gelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
    case GemmActivation::GeluTanh: {
      float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);
      return 0.5f * v * (1.0f + std::tanh(u));
    }
    default: return v;
  }
}

void sgemm_ref_4x8(const SgemmTile& t) {
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < t.k; ++p) {
    const float* b = t.b + p * (t.b_k_stride ? t.b_k_stride : kNR);
    for (int i = 0; i < t.m; ++i) {
      float a = t.a[i * t.a_row_stride + p * t.a_k_stride];
      for (int j = 0; j < kNR; ++j) acc[i][j] += a * b[j];
    }
  }
  for (int i = 0; i < t.m; ++i) {
    float* c = t.c + i * t.c_row_stride;
    for (int j = 0; j < t.n; ++j) {
      float v = t.alpha * acc[i][j];
      if (t.beta != 0.0f) v += t.beta * c[j];
      if (t.bias) v += t.bias_per_row ? t.bias[i] : t.bias[j];
      if (t.pre) t.pre[i * t.c_row_stride + j] = v;
      c[j] = activate(v, t.act);
    }
  }
}

// Independent multiply-add chains; scalar code, so this measures the scalar FMA/mul+add rate.
double scalar_peak_gflops(int threads) {
  const int64_t iters = 20000000;
  auto start = std::chrono::steady_clock::now();
  std::vector<double> partial(threads, 0);
  parallel_tasks(threads, threads, [&](int64_t task) {
    double sink = 0;
    float x[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (int64_t it = 0; it < iters; ++it)
      for (int j = 0; j < 8; ++j) x[j] = x[j] * 0.9999999f + 1e-7f;
    for (float v : x) sink += v;
    partial[task] = sink;
  });
  double sink = 0;
  for (double v : partial) sink += v;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sink > 0 ? 2.0 * 8 * iters * threads / seconds / 1e9 : 0.0;
}

}  // namespace

void fill_gemm(Table& t) {
  SgemmConfig c;
  c.kernel = sgemm_ref_4x8;
  c.name = "sgemm_ref_4x8";
  c.mr = kMR;
  c.nr = kNR;
  c.kc = 256;
  c.mc = 128;
  c.nc = 2048;
  t.sgemm = c;
  t.fma_peak_gflops = scalar_peak_gflops;
}

}  // namespace ref
}  // namespace kernels
}  // namespace ember
