// The GEMM drivers on raw pointers: C = act(alpha * op(A) op(B) + beta * C + bias). Every operand has a row
// and a column stride (in elements), so transposes and views are just strides; packing absorbs them.
// No Tensor, no autograd, no Python. beta == 0 never reads C (NaN garbage in C is ignored).
#pragma once
#include <cstdint>

#include "kernels/kernels.h"

namespace ember {
namespace kernels {

// Applied once per output element after the full K sum: bias (per column j, or per row i), then activation.
template <typename T>
struct Epilogue {
  const T* bias = nullptr;     // (N) per column, or (M) when bias_per_row
  bool bias_per_row = false;
  GemmActivation act = GemmActivation::None;
  T* pre = nullptr;            // or also receives each value before the activation, with C's strides (a layer
                               // that trains keeps its pre-activation); not with the batched GEMMs
};

// A is (M, K): element (i, p) at A[i*rsA + p*csA]; B is (K, N): (p, j) at B[p*rsB + j*csB];
// C is (M, N): (i, j) at C[i*rsC + j*csC]. Uses the active ISA table and the global thread count.
void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
           const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC, int64_t csC,
           const Epilogue<float>* ep = nullptr);

// The same with an explicit kernel table (tests force an ISA level) and a cap on the thread count.
void sgemm_with(const Table& table, int max_threads, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t rsA, int64_t csA, const float* B, int64_t rsB, int64_t csB, float beta,
                float* C, int64_t rsC, int64_t csC, const Epilogue<float>* ep = nullptr);

// `batch` independent GEMMs of one shape: A[b] is (M, K), B[b] is (K, N), C[b] is (M, N), same strides for
// all b. Small GEMMs run one per thread across the batch; large ones each use all threads.
void sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* const* A,
                   int64_t rsA, int64_t csA, const float* const* B, int64_t rsB, int64_t csB, float beta,
                   float* const* C, int64_t rsC, int64_t csC, const Epilogue<float>* ep = nullptr);

// float64: simple row-blocked loops (for gradcheck, not speed); same contract as sgemm.
void dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rsA, int64_t csA,
           const double* B, int64_t rsB, int64_t csB, double beta, double* C, int64_t rsC, int64_t csC,
           const Epilogue<double>* ep = nullptr);
void dgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const double* const* A,
                   int64_t rsA, int64_t csA, const double* const* B, int64_t rsB, int64_t csB, double beta,
                   double* const* C, int64_t rsC, int64_t csC, const Epilogue<double>* ep = nullptr);

// Type-generic front door for ops: float -> sgemm, double -> dgemm.
inline void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rsA, int64_t csA,
                 const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC, int64_t csC,
                 const Epilogue<float>* ep = nullptr) {
  sgemm(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, ep);
}
inline void gemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rsA, int64_t csA,
                 const double* B, int64_t rsB, int64_t csB, double beta, double* C, int64_t rsC, int64_t csC,
                 const Epilogue<double>* ep = nullptr) {
  dgemm(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, ep);
}
inline void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* const* A,
                         int64_t rsA, int64_t csA, const float* const* B, int64_t rsB, int64_t csB, float beta,
                         float* const* C, int64_t rsC, int64_t csC, const Epilogue<float>* ep = nullptr) {
  sgemm_batched(batch, M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, ep);
}
inline void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const double* const* A,
                         int64_t rsA, int64_t csA, const double* const* B, int64_t rsB, int64_t csB, double beta,
                         double* const* C, int64_t rsC, int64_t csC, const Epilogue<double>* ep = nullptr) {
  dgemm_batched(batch, M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, ep);
}

// Scalar activation (the oracle for the in-register epilogues), float and double.
float activate_scalar(float v, GemmActivation act);
double activate_scalar(double v, GemmActivation act);

}  // namespace kernels
}  // namespace ember
