// Random: the only source of randomness in Pact's protocol code, tests and simulator. One seed
// gives one sequence on every platform and compiler (xoshiro256** seeded by splitmix64; the
// standard library's distributions are not portable, so none is used). Not thread-safe: give
// each thread or simulated node its own instance, seeded from a parent.
#ifndef PACT_COMMON_RANDOM_H_
#define PACT_COMMON_RANDOM_H_

#include <cstdint>

namespace pact {

class Random {
 public:
  explicit Random(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n); n must be > 0.
  uint64_t Uniform(uint64_t n);
  // Uniform in [low, high]; low <= high.
  uint64_t Range(uint64_t low, uint64_t high);
  // True with probability 1/n; n must be > 0.
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }
  // True with probability `permille` / 1000.
  bool Permille(uint32_t permille) { return Uniform(1000) < permille; }
  // A seed for a child generator, so that components draw independent streams.
  uint64_t Fork() { return Next(); }

 private:
  uint64_t state_[4];
};

}  // namespace pact

#endif  // PACT_COMMON_RANDOM_H_
