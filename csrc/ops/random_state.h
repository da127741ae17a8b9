// The global generator's state, for checkpoints and for ops that draw random numbers (dropout).
#pragma once
#include <cstdint>

namespace ember {

struct RandomState {
  uint64_t seed;
  uint64_t offset;
};
RandomState get_random_state();
void set_random_state(const RandomState& state);
// Reserves n counters of the global stream and returns the first; random_bits(first, i) is draw i.
uint64_t reserve_random(uint64_t n);
uint64_t random_bits(uint64_t first, uint64_t i);

}  // namespace ember
