// ember's thread pool behind parallel_for / parallel_tasks (the only way kernels use threads), the global thread
// count, the deterministic-algorithms flag, and SIGINT checks for long kernels. Work is cut into chunks that
// threads claim from an atomic counter, so a descheduled worker never holds up the caller (see threads.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace ember {

int get_num_threads();
void set_num_threads(int n);   // n >= 1
// After fork the child starts a fresh pool and runs on one thread until set_num_threads says otherwise.
void install_fork_handler();

// use_deterministic_algorithms: a kernel whose fast path would depend on the thread count or on timing must
// take a fixed-order path while this is set. Today every kernel partitions its reductions by problem size only
// (fixed blocks, fixed combine order), so results are bitwise the same for any thread count with or without it.
bool deterministic_algorithms();
void set_deterministic_algorithms(bool on);

// True on a pool worker and on a caller while it runs a parallel region: nested regions run inline.
bool in_parallel_region();

// SIGINT while a long kernel runs: install_interrupt_handler chains a C-level handler in front of the current one
// (Python's, which still runs); when abort_kernels is set (Python's default handler, which raises
// KeyboardInterrupt), the handler counts the signal, kernels poll InterruptWatch::fired() between blocks and stop
// early, and the outermost parallel region on the calling thread throws Interrupted, which the bindings turn into
// KeyboardInterrupt. A watch only sees signals that arrive after it was made, so a stale Ctrl-C never fires.
// signal.signal() replaces the C-level handler: the bindings re-install it before long ops when it is gone.
void install_interrupt_handler(bool abort_kernels);
bool interrupt_handler_installed();
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted (SIGINT)") {}
};
uint64_t interrupt_count();
class InterruptWatch {
 public:
  InterruptWatch() : start_(interrupt_count()) {}
  bool fired() const { return interrupt_count() != start_; }
  // Throws Interrupted when fired, unless this thread is inside a parallel region (a worker cannot throw).
  void throw_if_fired() const {
    if (fired() && !in_parallel_region()) throw Interrupted();
  }

 private:
  uint64_t start_;
};

namespace detail {
using ChunkFn = void (*)(void* context, int64_t chunk);
// Runs fn(context, c) for every c in [0, chunks) on up to `threads` threads (the caller included) and returns
// when all are done; rethrows the first exception a chunk threw. Nested or concurrent calls run inline.
void run_chunks(int64_t chunks, int threads, ChunkFn fn, void* context);
template <typename F>
void call_chunk(void* context, int64_t chunk) { (*static_cast<F*>(context))(chunk); }
}  // namespace detail

// f(task) for every task in [0, tasks), on up to max_threads threads. Tasks are claimed dynamically: use it
// when each task is independent (which thread runs a task must never change its result).
template <typename F>
void parallel_tasks(int64_t tasks, int max_threads, F&& f) {
  if (tasks <= 0) return;
  int threads = static_cast<int>(std::min<int64_t>(std::max(max_threads, 1), tasks));
  if (threads <= 1 || in_parallel_region()) {
    InterruptWatch watch;
    for (int64_t t = 0; t < tasks; ++t) f(t);
    watch.throw_if_fired();
    return;
  }
  auto body = [&](int64_t t) { f(t); };
  detail::run_chunks(tasks, threads, &detail::call_chunk<decltype(body)>, &body);
}

// Runs f(begin, end) over [0, n) in contiguous chunks. Work below `grain` elements per thread stays on the
// calling thread, so small tensors never pay for waking the pool. Chunk boundaries depend only on n and the
// thread count (a few chunks per thread, so the caller can take over a descheduled worker's share); a kernel
// whose result must not depend on the thread count must not let its arithmetic depend on them.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int threads = get_num_threads();
  int64_t useful = grain > 0 ? n / grain : n;
  if (useful < threads) threads = static_cast<int>(std::max<int64_t>(useful, 1));
  if (threads <= 1 || in_parallel_region()) {
    f(int64_t{0}, n);
    return;
  }
  constexpr int64_t kChunksPerThread = 4;
  int64_t chunks = std::min<int64_t>(n, threads * kChunksPerThread);
  const int64_t size = (n + chunks - 1) / chunks;
  chunks = (n + size - 1) / size;
  auto body = [&](int64_t c) { f(c * size, std::min(n, (c + 1) * size)); };
  detail::run_chunks(chunks, threads, &detail::call_chunk<decltype(body)>, &body);
}

}  // namespace ember
