// Times one sgemm shape with an ISA level and optional blocking override (for tuning KC/MC/NC).
// Usage: gemm_time M N K threads reps isa kc mc nc [trans_a trans_b]   (0 = the ISA default)
#include <initializer_list>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <algorithm>
#include "kernels/gemm/gemm.h"
using namespace ember::kernels;
// one M N K threads reps isa kc mc nc [ta tb]
int main(int argc, char** argv) {
  int64_t M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]); int th = atoi(argv[4]); int reps = atoi(argv[5]);
  const char* isa = argv[6];
  Table t = *table_for(isa);
  if (atoi(argv[7])) t.sgemm.kc = atoi(argv[7]);
  if (atoi(argv[8])) t.sgemm.mc = atoi(argv[8]);
  if (atoi(argv[9])) t.sgemm.nc = atoi(argv[9]);
  bool ta = argc > 10 && atoi(argv[10]), tb = argc > 11 && atoi(argv[11]);
  std::vector<float> a(M*K, 0.5f), b(K*N, 0.25f), c(M*N);
  int64_t rsA = ta ? 1 : K, csA = ta ? M : 1, rsB = tb ? 1 : N, csB = tb ? K : 1;
  std::vector<double> ts;
  for (int r = 0; r < reps; ++r) {
    auto s = std::chrono::steady_clock::now();
    sgemm_with(t, th, M, N, K, 1.0f, a.data(), rsA, csA, b.data(), rsB, csB, 0.0f, c.data(), N, 1);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  std::sort(ts.begin(), ts.end());
  std::printf("%s %ldx%ldx%ld th=%d kc=%d mc=%d nc=%d: median %.1f best %.1f GFLOP/s\n", isa, M, K, N, th, t.sgemm.kc, t.sgemm.mc, t.sgemm.nc,
              2.0*M*N*K/ts[ts.size()/2]/1e9, 2.0*M*N*K/ts[0]/1e9);
}
