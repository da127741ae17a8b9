// float64 GEMM: a row at a time into a double accumulator row (vectorisable inner loop over N), rows split
// across threads. Meant for gradcheck and float64 users, not for speed.
#include <algorithm>
#include <vector>

#include "ember/threads.h"
#include "kernels/gemm/gemm.h"

namespace ember {
namespace kernels {

void dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rsA, int64_t csA, const double* B,
           int64_t rsB, int64_t csB, double beta, double* C, int64_t rsC, int64_t csC, const Epilogue<double>* ep) {
  if (M <= 0 || N <= 0) return;
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, N * std::max<int64_t>(K, 1)));
  parallel_for(M, grain, [&](int64_t i0, int64_t i1) {
    std::vector<double> acc(static_cast<size_t>(N));
    for (int64_t i = i0; i < i1; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      if (alpha != 0.0)
        for (int64_t p = 0; p < K; ++p) {
          const double a = A[i * rsA + p * csA];
          const double* b = B + p * rsB;
          if (csB == 1)
            for (int64_t j = 0; j < N; ++j) acc[j] += a * b[j];
          else
            for (int64_t j = 0; j < N; ++j) acc[j] += a * b[j * csB];
        }
      for (int64_t j = 0; j < N; ++j) {
        double& c = C[i * rsC + j * csC];
        double v = alpha * acc[j] + (beta != 0.0 ? beta * c : 0.0);
        if (ep && ep->bias) v += ep->bias_per_row ? ep->bias[i] : ep->bias[j];
        if (ep && ep->pre) ep->pre[i * rsC + j * csC] = v;
        c = ep ? activate_scalar(v, ep->act) : v;
      }
    }
  });
}

void dgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const double* const* A, int64_t rsA,
                   int64_t csA, const double* const* B, int64_t rsB, int64_t csB, double beta, double* const* C,
                   int64_t rsC, int64_t csC, const Epilogue<double>* ep) {
  for (int64_t b = 0; b < batch; ++b)
    dgemm(M, N, K, alpha, A[b], rsA, csA, B[b], rsB, csB, beta, C[b], rsC, csC, ep);
}

}  // namespace kernels
}  // namespace ember
