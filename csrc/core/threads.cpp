// The global thread count (not OpenMP's per-thread ICV, which new Python threads would not see).
#include "ember/threads.h"

#include <atomic>
#include <cstdlib>
#include <pthread.h>
#include <unistd.h>

namespace ember {
namespace {

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

void after_fork_in_child() { thread_count().store(1); }

}  // namespace

int get_num_threads() { return thread_count().load(std::memory_order_relaxed); }

void set_num_threads(int n) { thread_count().store(n < 1 ? 1 : n); }

void install_fork_handler() {
  static bool installed = [] { return pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0; }();
  (void)installed;
}

}  // namespace ember
