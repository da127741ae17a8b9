// Random tensors from one global counter-based generator: element i of a draw is a hash of (seed, offset + i),
// so results do not depend on the thread count, and (seed, offset) is the whole state to save and restore.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <type_traits>
#include <vector>

#include "ember/threads.h"
#include "ember/ops.h"
#include "kernels/kernels.h"
#include "ops/random_state.h"

namespace ember {
namespace {

std::atomic<uint64_t> g_seed{67280421310721ULL};
std::atomic<uint64_t> g_offset{0};

uint64_t mix(uint64_t z) {   // splitmix64 finaliser
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Reserves `n` counters of the stream and returns the first.
uint64_t reserve(uint64_t n) { return g_offset.fetch_add(n); }

inline uint64_t bits(uint64_t seed, uint64_t counter) { return mix(seed ^ mix(counter)); }

// cos(2 pi u) for u in [0, 1) without a branch or a libm call, so a loop of it vectorises: sin(2 pi w) with
// w = 1/4 - |u - (u >= 1/2)| in [-1/4, 1/4], its Taylor series to degree 13 (error below 1e-9).
inline float cos_turns(float u) {
  const float w = 0.25f - std::fabs(u - static_cast<float>(u >= 0.5f)), w2 = w * w;
  float p = 3.8199525848482823f;
  p = p * w2 - 15.094642576822990f;
  p = p * w2 + 42.058693944897655f;
  p = p * w2 - 76.705859753061385f;
  p = p * w2 + 81.605249276075043f;
  p = p * w2 - 41.341702240399760f;
  p = p * w2 + 6.2831853071795865f;
  return p * w;
}
inline double uniform01(uint64_t b) { return static_cast<double>(b >> 11) * 0x1.0p-53; }

}  // namespace

void manual_seed(uint64_t seed) {
  g_seed.store(seed);
  g_offset.store(0);
}
uint64_t initial_seed() { return g_seed.load(); }
RandomState get_random_state() { return {g_seed.load(), g_offset.load()}; }
void set_random_state(const RandomState& s) {
  g_seed.store(s.seed);
  g_offset.store(s.offset);
}
uint64_t random_bits(uint64_t counter_base, uint64_t i) { return bits(g_seed.load(), counter_base + i); }
uint64_t reserve_random(uint64_t n) { return reserve(n); }

Tensor rand(const Shape& shape, DType dtype) {
  EMBER_CHECK(is_floating(dtype), TypeError, "rand: expected a floating point dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype);
  uint64_t seed = g_seed.load(), base = reserve(static_cast<uint64_t>(t.numel()));
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    parallel_for(t.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T v = static_cast<T>(uniform01(bits(seed, base + i)));
        p[i] = v < T(1) ? v : std::nextafter(T(1), T(0));   // float rounding must not reach 1
      }
    });
  });
  return t;
}

Tensor randn(const Shape& shape, DType dtype) {
  EMBER_CHECK(is_floating(dtype), TypeError, "randn: expected a floating point dtype, got ", dtype_name(dtype));
  Tensor t = empty(shape, dtype);
  uint64_t seed = g_seed.load(), base = reserve(static_cast<uint64_t>(t.numel()));
  dispatch_floating(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    parallel_for(t.numel(), 1 << 13, [&](int64_t b, int64_t e) {
      if constexpr (std::is_same_v<T, float>) {
        // float32: the same Box-Muller in float, 256 values at a time with the kernel table's vector log and a
        // polynomial cos (double math with libm's log and cos took ~27 ns a value)
        constexpr int64_t kChunk = 256;
        float u1[kChunk], u2[kChunk];
        const kernels::Table& k = kernels::table();
        for (int64_t c0 = b; c0 < e; c0 += kChunk) {
          const int64_t m = std::min(kChunk, e - c0);
          for (int64_t j = 0; j < m; ++j) {
            const uint64_t h = bits(seed, base + c0 + j);
            u1[j] = (static_cast<float>(h >> 40) + 0.5f) * 0x1.0p-24f;
            u2[j] = static_cast<float>((h >> 11) & ((1ULL << 24) - 1)) * 0x1.0p-24f;
          }
          k.log(u1, u1, m);
          for (int64_t j = 0; j < m; ++j) p[c0 + j] = std::sqrt(-2.0f * u1[j]) * cos_turns(u2[j]);
        }
        return;
      }
      for (int64_t i = b; i < e; ++i) {
        // Box-Muller on two independent uniforms drawn from the element's own counter
        uint64_t h = bits(seed, base + i);
        double u1 = (static_cast<double>(h >> 40) + 0.5) * 0x1.0p-24;
        double u2 = static_cast<double>((h >> 11) & ((1ULL << 29) - 1)) * 0x1.0p-29;
        p[i] = static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    });
  });
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype) {
  EMBER_CHECK(high > low, ValueError, "randint: expected low < high, got low=", low, " high=", high);
  Tensor t = empty(shape, dtype);
  uint64_t seed = g_seed.load(), base = reserve(static_cast<uint64_t>(t.numel()));
  uint64_t range = static_cast<uint64_t>(high - low);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    parallel_for(t.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        unsigned __int128 wide = static_cast<unsigned __int128>(bits(seed, base + i)) * range;
        p[i] = static_cast<T>(low + static_cast<int64_t>(wide >> 64));
      }
    });
  });
  return t;
}

Tensor randperm(int64_t n, DType dtype) {
  EMBER_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t seed = g_seed.load(), base = reserve(static_cast<uint64_t>(n));
  for (int64_t i = n - 1; i > 0; --i) {   // Fisher-Yates
    unsigned __int128 wide = static_cast<unsigned __int128>(bits(seed, base + i)) * static_cast<uint64_t>(i + 1);
    std::swap(p[i], p[static_cast<int64_t>(wide >> 64)]);
  }
  return dtype == DType::Int64 ? t : to_dtype(t, dtype);
}

Tensor randperm_seeded(int64_t n, uint64_t seed, uint64_t stream) {
  EMBER_CHECK(n >= 0, ValueError, "randperm_seeded: n must be non-negative, got ", n);
  Tensor t = empty({n}, DType::Int64);
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  uint64_t key = mix(seed ^ mix(stream ^ 0x5851F42D4C957F2DULL));   // one independent stream per (seed, stream)
  for (int64_t i = n - 1; i > 0; --i) {   // Fisher-Yates, draw i from counter i of the stream
    unsigned __int128 wide = static_cast<unsigned __int128>(bits(key, static_cast<uint64_t>(i))) *
                             static_cast<uint64_t>(i + 1);
    std::swap(p[i], p[static_cast<int64_t>(wide >> 64)]);
  }
  return t;
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  EMBER_CHECK(probs.defined() && is_floating(probs.dtype()), TypeError,
              "multinomial: expected a floating point tensor of probabilities");
  EMBER_CHECK(probs.dim() == 1 || probs.dim() == 2, ValueError, "multinomial: prob_dist must be 1 or 2 dim, got ",
              probs.dim(), " dims");
  const int64_t n = probs.size(-1), rows = probs.dim() == 2 ? probs.size(0) : 1;
  EMBER_CHECK(n > 0, ValueError, "multinomial: prob_dist must have at least one category");
  EMBER_CHECK(num_samples > 0, ValueError, "multinomial: cannot sample n_sample <= 0 samples");
  EMBER_CHECK(replacement || num_samples <= n, ValueError, "multinomial: cannot sample n_sample > prob_dist.size(-1) ",
              "samples without replacement (", num_samples, " > ", n, ")");
  Tensor p = to_dtype(contiguous(probs), DType::Float64);
  const double* w = p.data<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    int64_t positive = 0;
    for (int64_t c = 0; c < n; ++c) {
      const double v = w[r * n + c];
      EMBER_CHECK(std::isfinite(v) && v >= 0.0, ValueError,
                  "multinomial: probability tensor contains either inf, nan or element < 0");
      total += v;
      positive += v > 0.0;
    }
    EMBER_CHECK(total > 0.0, ValueError, "multinomial: invalid multinomial distribution (sum of probabilities <= 0)");
    EMBER_CHECK(replacement || positive >= num_samples, ValueError, "multinomial: invalid multinomial distribution ",
                "(with replacement=False, not enough categories with a probability > 0 to sample ", num_samples, ")");
  }
  Tensor out = empty(probs.dim() == 2 ? Shape{rows, num_samples} : Shape{num_samples}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  const uint64_t seed = g_seed.load(), draws = static_cast<uint64_t>(replacement ? num_samples : n);
  const uint64_t base = reserve(static_cast<uint64_t>(rows) * draws);
  parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<double> cumulative(static_cast<size_t>(n));
    std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      const double* row = w + r * n;
      const uint64_t first = base + static_cast<uint64_t>(r) * draws;
      if (replacement) {   // inverse CDF: the first category whose running sum exceeds u * total
        std::partial_sum(row, row + n, cumulative.begin());
        for (int64_t s = 0; s < num_samples; ++s) {
          const double u = uniform01(bits(seed, first + s)) * cumulative.back();
          int64_t c = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
          if (c == n)   // u rounded up to the total: the last category with a weight
            for (c = n - 1; row[c] == 0.0;) --c;
          o[r * num_samples + s] = c;
        }
      } else {   // exponential race: the k smallest Exp(1) / p are a draw without replacement, in order
        for (int64_t c = 0; c < n; ++c) {
          const double e = -std::log1p(-uniform01(bits(seed, first + c)));
          keys[c] = {row[c] > 0.0 ? e / row[c] : std::numeric_limits<double>::infinity(), c};
        }
        std::partial_sort(keys.begin(), keys.begin() + num_samples, keys.end());
        for (int64_t s = 0; s < num_samples; ++s) o[r * num_samples + s] = keys[s].second;
      }
    }
  });
  return out;
}

}  // namespace ember
