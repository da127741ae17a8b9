// The thread pool (std::thread workers, futex sleep), the global thread count, the deterministic flag, and the
// SIGINT counter. One job at a time: the caller publishes (fn, context, chunks) under a new generation, workers
// and the caller claim chunks with a CAS on one 64-bit word (generation << 32 | chunks left), and the caller
// waits only for chunks that were actually claimed. A worker that wakes late finds nothing left and sleeps
// again, so a descheduled worker costs at most the chunk it holds (libgomp's barrier waits for every thread).
#include "ember/threads.h"

#include <atomic>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ember {
namespace {

using Clock = std::chrono::steady_clock;

// A worker keeps polling for the next job this long before it sleeps: training steps issue parallel ops a few
// hundred microseconds apart, and waking a sleeping worker costs ~0.1-0.5 ms on a VM, by which time the caller has
// taken its chunks (measured: 60 us made 2-thread MLP steps ~1.9x slower than 400 us). Still bounded, and a late
// or descheduled worker never holds up the caller, so a busy box costs no more than one thread's speed.
constexpr auto kWorkerSpin = std::chrono::microseconds(400);
// The caller polls for outstanding chunks this long before it sleeps.
constexpr auto kCallerSpin = std::chrono::microseconds(30);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

void futex_wait(std::atomic<uint32_t>& word, uint32_t expected) {
#if defined(__linux__)
  timespec timeout{0, 2000000};   // 2 ms: a safety net only; wakes are explicit
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &timeout, nullptr, 0);
#else
  if (word.load() == expected) std::this_thread::sleep_for(std::chrono::microseconds(50));
#endif
}

void futex_wake(std::atomic<uint32_t>& word, int count) {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
#else
  (void)word; (void)count;
#endif
}

constexpr uint64_t kLeftMask = 0xffffffffULL;

struct Pool {
  // The job. fn/context/chunks are written by the caller before it publishes `state` (release) and read by a
  // thread only after a successful claim (acquire), which also proves the job is still running.
  std::atomic<uint64_t> state{0};        // generation << 32 | chunks not yet claimed
  detail::ChunkFn fn = nullptr;
  void* context = nullptr;
  int64_t chunks = 0;
  std::atomic<uint32_t> finished{0};     // chunks done in this job (futex word the caller sleeps on)
  std::atomic<bool> caller_sleeping{false};
  std::atomic<bool> failed{false};
  std::exception_ptr error;

  std::atomic<uint32_t> job_seq{0};      // bumped per job (futex word workers sleep on)
  std::atomic<int> sleepers{0};
  std::atomic<bool> busy{false};         // a caller owns the job slot
  std::mutex grow_mutex;
  int workers = 0;
};

std::atomic<Pool*> g_pool{new Pool};
thread_local bool t_in_parallel = false;
std::atomic<uint64_t> g_interrupts{0};
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_abort_on_sigint{false};

int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? static_cast<int>(cores) : 1;
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{default_threads()};
  return count;
}

// Claims the next chunk of the current job; false when none is left.
bool claim(Pool& pool, int64_t& chunk) {
  uint64_t s = pool.state.load(std::memory_order_acquire);
  while ((s & kLeftMask) != 0) {
    if (pool.state.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      chunk = pool.chunks - static_cast<int64_t>(s & kLeftMask);
      return true;
    }
  }
  return false;
}

void run_claimed(Pool& pool, int64_t chunk) {
  try {
    pool.fn(pool.context, chunk);
  } catch (...) {
    if (!pool.failed.exchange(true)) pool.error = std::current_exception();
  }
}

void finish_chunk(Pool& pool) {
  pool.finished.fetch_add(1, std::memory_order_seq_cst);
  if (pool.caller_sleeping.load(std::memory_order_seq_cst)) futex_wake(pool.finished, 1);
}

void worker_main(Pool* pool) {
  t_in_parallel = true;
  uint32_t seen = pool->job_seq.load();
  for (;;) {
    auto spin_until = Clock::now() + kWorkerSpin;
    int polls = 0;
    while (pool->job_seq.load(std::memory_order_acquire) == seen) {
      cpu_relax();
      if (++polls % 64 == 0 && Clock::now() > spin_until) {
        pool->sleepers.fetch_add(1, std::memory_order_seq_cst);
        while (pool->job_seq.load(std::memory_order_seq_cst) == seen) futex_wait(pool->job_seq, seen);
        pool->sleepers.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    seen = pool->job_seq.load(std::memory_order_acquire);
    int64_t chunk;
    while (claim(*pool, chunk)) {
      run_claimed(*pool, chunk);
      finish_chunk(*pool);
    }
  }
}

void ensure_workers(Pool& pool, int wanted) {
  if (pool.workers >= wanted) return;   // only grows, under grow_mutex below; a stale read just re-checks
  std::lock_guard<std::mutex> lock(pool.grow_mutex);
  // Workers never handle async signals: SIGINT goes to the Python thread, as without the pool.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  while (pool.workers < wanted) {
    std::thread(worker_main, &pool).detach();
    ++pool.workers;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void run_inline(int64_t chunks, detail::ChunkFn fn, void* context) {
  bool outer = !t_in_parallel;
  t_in_parallel = true;
  InterruptWatch watch;
  try {
    for (int64_t c = 0; c < chunks && !(outer && watch.fired()); ++c) fn(context, c);
  } catch (...) {
    t_in_parallel = !outer;
    throw;
  }
  t_in_parallel = !outer;
  if (outer) watch.throw_if_fired();
}

void after_fork_in_child() {
  thread_count().store(1);
  g_pool.store(new Pool);   // the parent's workers do not exist here; their pool is abandoned
  t_in_parallel = false;
}

void on_sigint(int signo, siginfo_t* info, void* ucontext);
struct sigaction g_previous_sigint;

void on_sigint(int signo, siginfo_t* info, void* ucontext) {
  if (g_abort_on_sigint.load(std::memory_order_relaxed)) g_interrupts.fetch_add(1, std::memory_order_relaxed);
  if (g_previous_sigint.sa_flags & SA_SIGINFO) {
    if (g_previous_sigint.sa_sigaction) g_previous_sigint.sa_sigaction(signo, info, ucontext);
  } else if (g_previous_sigint.sa_handler != SIG_DFL && g_previous_sigint.sa_handler != SIG_IGN) {
    g_previous_sigint.sa_handler(signo);
  }
}

}  // namespace

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) { thread_count().store(n < 1 ? 1 : n); }

void install_fork_handler() {
  static bool installed = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();
  (void)installed;
}

bool deterministic_algorithms() { return g_deterministic.load(std::memory_order_relaxed); }
void set_deterministic_algorithms(bool on) { g_deterministic.store(on); }

bool in_parallel_region() { return t_in_parallel; }

uint64_t interrupt_count() { return g_interrupts.load(std::memory_order_relaxed); }

bool interrupt_handler_installed() {
  struct sigaction current {};
  return sigaction(SIGINT, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
         current.sa_sigaction == on_sigint;
}

void install_interrupt_handler(bool abort_kernels) {
  g_abort_on_sigint.store(abort_kernels);
  struct sigaction current {};
  if (sigaction(SIGINT, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigint) return;
  // Only in front of a real handler (Python's): with SIG_DFL/SIG_IGN the process dies or ignores anyway.
  bool is_function = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                     : current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN;
  if (!is_function) return;
  g_previous_sigint = current;
  struct sigaction mine = current;
  mine.sa_flags |= SA_SIGINFO;
  mine.sa_sigaction = on_sigint;
  sigaction(SIGINT, &mine, nullptr);
}

namespace detail {

void run_chunks(int64_t chunks, int threads, ChunkFn fn, void* context) {
  Pool& pool = *g_pool.load(std::memory_order_acquire);
  if (chunks <= 1 || threads <= 1 || t_in_parallel || chunks > static_cast<int64_t>(kLeftMask) ||
      pool.busy.exchange(true, std::memory_order_acquire)) {
    return run_inline(chunks, fn, context);
  }
  ensure_workers(pool, threads - 1);
  InterruptWatch watch;
  t_in_parallel = true;
  pool.fn = fn;
  pool.context = context;
  pool.chunks = chunks;
  pool.finished.store(0, std::memory_order_relaxed);
  pool.failed.store(false, std::memory_order_relaxed);
  pool.error = nullptr;
  uint64_t generation = (pool.state.load(std::memory_order_relaxed) >> 32) + 1;
  pool.state.store(generation << 32 | static_cast<uint64_t>(chunks), std::memory_order_release);
  pool.job_seq.fetch_add(1, std::memory_order_seq_cst);
  if (pool.sleepers.load(std::memory_order_seq_cst) > 0) futex_wake(pool.job_seq, threads - 1);

  int64_t chunk, expected = chunks;
  while (claim(pool, chunk)) {
    run_claimed(pool, chunk);
    pool.finished.fetch_add(1, std::memory_order_relaxed);
    if (pool.failed.load(std::memory_order_relaxed) || watch.fired()) {
      // Stop handing out chunks; wait only for the ones already claimed.
      uint64_t s = pool.state.load(std::memory_order_acquire);
      while (!pool.state.compare_exchange_weak(s, s & ~kLeftMask, std::memory_order_acq_rel)) {}
      expected = chunks - static_cast<int64_t>(s & kLeftMask);
      break;
    }
  }
  auto spin_until = Clock::now() + kCallerSpin;
  int polls = 0;
  for (;;) {
    uint32_t done = pool.finished.load(std::memory_order_acquire);
    if (done == static_cast<uint32_t>(expected)) break;
    if (++polls % 64 != 0 || Clock::now() < spin_until) {
      cpu_relax();
      continue;
    }
    pool.caller_sleeping.store(true, std::memory_order_seq_cst);
    if (pool.finished.load(std::memory_order_seq_cst) == done) futex_wait(pool.finished, done);
    pool.caller_sleeping.store(false, std::memory_order_relaxed);
  }
  std::exception_ptr error = pool.failed.load(std::memory_order_acquire) ? pool.error : nullptr;
  pool.error = nullptr;
  t_in_parallel = false;
  pool.busy.store(false, std::memory_order_release);
  if (error) std::rethrow_exception(error);
  watch.throw_if_fired();
}

}  // namespace detail
}  // namespace ember
