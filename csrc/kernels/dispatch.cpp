// Detects the CPU once and fills the kernel table: ref first, then each level the CPU supports overrides
// the entries it implements. EMBER_ISA caps the level (for tests).
#include "kernels/kernels.h"

#include <cstdlib>
#include <cstring>

namespace ember {
namespace kernels {
namespace {

bool cpu_has(const char* level) {
  __builtin_cpu_init();
  if (std::strcmp(level, "ref") == 0) return true;
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (std::strcmp(level, "avx2") == 0) return avx2;
  if (std::strcmp(level, "avx512") == 0)
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return false;
}

Table build(const char* level) {
  Table t;
  ref::fill(t);
  ref::fill_gemm(t);
  ref::fill_optim(t);
  t.isa = "ref";
  if (std::strcmp(level, "ref") == 0) return t;
  avx2::fill(t);
  avx2::fill_gemm(t);
  avx2::fill_optim(t);
  t.isa = "avx2";
  if (std::strcmp(level, "avx2") == 0) return t;
  avx512::fill(t);
  avx512::fill_gemm(t);
  avx512::fill_optim(t);
  t.isa = "avx512";
  return t;
}

const char* best_level() {
  const char* forced = std::getenv("EMBER_ISA");
  const char* levels[] = {"avx512", "avx2", "ref"};
  bool allowed = forced == nullptr;
  for (const char* level : levels) {
    if (!allowed && forced && std::strcmp(forced, level) == 0) allowed = true;
    if (allowed && cpu_has(level)) return level;
  }
  return "ref";
}

}  // namespace

const Table& table() {
  static const Table t = build(best_level());
  return t;
}

const Table* table_for(const char* level) {
  static const Table ref_table = build("ref");
  static const Table avx2_table = cpu_has("avx2") ? build("avx2") : Table{};
  static const Table avx512_table = cpu_has("avx512") ? build("avx512") : Table{};
  if (std::strcmp(level, "ref") == 0) return &ref_table;
  if (std::strcmp(level, "avx2") == 0) return cpu_has("avx2") ? &avx2_table : nullptr;
  if (std::strcmp(level, "avx512") == 0) return cpu_has("avx512") ? &avx512_table : nullptr;
  return nullptr;
}

}  // namespace kernels
}  // namespace ember
