// One global thread count for every parallel region, and parallel_for, the only way kernels use threads.
#pragma once
#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace ember {

int get_num_threads();
void set_num_threads(int n);   // n >= 1
// Drops to one thread in a child after fork (libgomp's pool does not survive fork).
void install_fork_handler();

// Runs f(begin, end) over [0, n) in contiguous chunks. Work below `grain` elements per thread stays on the
// calling thread, so small tensors never pay for waking the pool. Chunks are static: the split depends only
// on n and the thread count.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int threads = get_num_threads();
  int64_t useful = grain > 0 ? n / grain : n;
  if (useful < threads) threads = static_cast<int>(std::max<int64_t>(useful, 1));
  if (threads <= 1 || omp_in_parallel()) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t begin = std::min<int64_t>(n, t * chunk), end = std::min<int64_t>(n, begin + chunk);
    if (begin < end) f(begin, end);
  }
}

}  // namespace ember
