// Standalone sgemm check and timing harness (no Python): every ISA level against a double-precision naive
// loop on all tail sizes and stride patterns, then GFLOP/s on a few shapes.
// Usage: gemm_check [check|time]. Build: cmake -S . -B build-cpp -DEMBER_BUILD_GEMM_CHECK=ON &&
//   cmake --build build-cpp --target gemm_check
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "ember/threads.h"
#include "kernels/gemm/gemm.h"

using namespace ember::kernels;

namespace {

std::mt19937 rng(42);
std::vector<float> random_vector(size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// One case: op(A) (M,K), op(B) (K,N), C (M,N) with layouts chosen by flags; returns max relative error.
double check_case(const Table& tab, int threads, int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool tc,
                  float alpha, float beta, GemmActivation act, bool bias) {
  auto a = random_vector(M * K + 1), b = random_vector(K * N + 1), c0 = random_vector(M * N + 1),
       bv = random_vector(N + 1);
  int64_t rsA = ta ? 1 : K, csA = ta ? M : 1, rsB = tb ? 1 : N, csB = tb ? K : 1, rsC = tc ? 1 : N, csC = tc ? M : 1;
  std::vector<float> c = c0;
  if (beta == 0.0f) for (auto& x : c) x = NAN;
  Epilogue<float> ep;
  ep.act = act;
  ep.bias = bias ? bv.data() : nullptr;
  sgemm_with(tab, threads, M, N, K, alpha, a.data(), rsA, csA, b.data(), rsB, csB, beta, c.data(), rsC, csC,
             (bias || act != GemmActivation::None) ? &ep : nullptr);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int64_t p = 0; p < K; ++p) {
        double t = double(a[i * rsA + p * csA]) * b[p * rsB + j * csB];
        s += t;
        mag += std::fabs(t);
      }
      double ref = alpha * s + (beta != 0 ? beta * double(c0[i * rsC + j * csC]) : 0.0) + (bias ? bv[j] : 0.0);
      ref = activate_scalar(ref, act);
      double err = std::fabs(ref - c[i * rsC + j * csC]) / (1e-6 + std::fabs(alpha) * mag + 1.0);
      if (!(err <= worst)) worst = std::isnan(err) ? 1e9 : err;
    }
  return worst;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double time_gemm(const Table& tab, int threads, int64_t M, int64_t N, int64_t K, bool ta, bool tb, int reps) {
  auto a = random_vector(M * K), b = random_vector(K * N), c = random_vector(M * N);
  int64_t rsA = ta ? 1 : K, csA = ta ? M : 1, rsB = tb ? 1 : N, csB = tb ? K : 1;
  std::vector<double> ts;
  for (int r = 0; r < reps + 1; ++r) {
    double t0 = now();
    sgemm_with(tab, threads, M, N, K, 1.0f, a.data(), rsA, csA, b.data(), rsB, csB, 0.0f, c.data(), N, 1);
    ts.push_back(now() - t0);
  }
  std::sort(ts.begin() + 1, ts.end());
  return 2.0 * M * N * K / ts[1 + reps / 2] / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick_check = argc > 1 && std::string(argv[1]) == "time";
  int failures = 0, cases = 0;
  for (const char* level : {"ref", "avx2", "avx512"}) {
    const Table* tab = table_for(level);
    if (!tab) { std::printf("%s: not supported here\n", level); continue; }
    if (quick_check) break;
    double worst = 0;
    std::vector<int64_t> sizes = {0, 1, 2, 3, 5, 7, 8, 11, 13, 16, 17, 31, 33, 47, 65};
    for (int64_t M : sizes)
      for (int64_t N : sizes)
        for (int64_t K : {int64_t(0), int64_t(1), int64_t(7), int64_t(29), int64_t(400)}) {
          int layout = static_cast<int>((M * 7 + N * 3 + K) % 8);
          bool ta = layout & 1, tb = layout & 2, tc = layout & 4;
          float beta = (M + N) % 3 == 0 ? 0.0f : 0.5f;
          GemmActivation act = static_cast<GemmActivation>((M + K) % 4);
          bool bias = (N + K) % 2;
          int threads = 1 + (M + N) % 2;
          double e = check_case(*tab, threads, M, N, K, ta, tb, tc, 1.5f, beta, act, bias);
          ++cases;
          if (e > 1e-5) { ++failures; if (failures < 10) std::printf("FAIL %s M=%ld N=%ld K=%ld ta=%d tb=%d tc=%d err=%g\n", level, M, N, K, ta, tb, tc, e); }
          worst = std::max(worst, e);
        }
    std::printf("%s (%s): worst rel err %.3g\n", level, tab->sgemm.name, worst);
  }
  std::printf("%d cases, %d failures\n", cases, failures);
  if (argc > 1 && std::string(argv[1]) == "check") return failures ? 1 : 0;   // correctness only (e.g. under ASan)
  for (const char* level : {"avx2", "avx512"}) {
    const Table* tab = table_for(level);
    if (!tab) continue;
    std::printf("%s peak 1t %.1f 2t %.1f GFLOP/s\n", level, tab->fma_peak_gflops(1), tab->fma_peak_gflops(2));
    struct Shape { int64_t M, N, K; bool ta, tb; const char* name; };
    for (Shape s : {Shape{1024, 1024, 1024, 0, 0, "1024^3"}, Shape{2048, 2048, 2048, 0, 0, "2048^3"},
                    Shape{128, 512, 784, 0, 0, "mlp NN"}, Shape{784, 512, 128, 1, 0, "mlp TN"},
                    Shape{128, 784, 512, 0, 1, "mlp NT"}, Shape{2048, 768, 256, 0, 0, "gpt qkv"},
                    Shape{128, 10, 512, 0, 0, "skinny NN"}, Shape{512, 10, 128, 1, 0, "skinny TN"},
                    Shape{128, 512, 10, 0, 1, "skinny NT"}, Shape{128, 128, 128, 0, 0, "128^3"}}) {
      int reps = s.M * s.N * s.K > 100000000 ? 5 : 50;
      std::printf("  %-10s %5ld x %5ld x %5ld  1t %6.1f  2t %6.1f GFLOP/s\n", s.name, s.M, s.K, s.N,
                  time_gemm(*tab, 1, s.M, s.N, s.K, s.ta, s.tb, reps), time_gemm(*tab, 2, s.M, s.N, s.K, s.ta, s.tb, reps));
    }
  }
  return failures ? 1 : 0;
}
