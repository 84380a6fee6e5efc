#include "tests/sim/simulation.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace pact::sim {
namespace {

// The WAL warns about every torn tail it cuts off; thousands of them are expected here.
const bool kQuietLogs = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

// One seed, one run: the trace is the same byte for byte, and tracing changes nothing.
TEST(SimulationTest, SameSeedSameTraceByteForByte) {
  for (uint64_t seed : {1u, 7u, 42u, 1234u}) {
    const SimResult a = RunSimulation({.seed = seed, .trace = true});
    const SimResult b = RunSimulation({.seed = seed, .trace = true});
    const SimResult quiet = RunSimulation({.seed = seed});
    ASSERT_FALSE(a.trace.empty());
    EXPECT_EQ(a.trace, b.trace) << "seed " << seed;
    EXPECT_EQ(a.summary, quiet.summary) << "seed " << seed;
    EXPECT_GT(a.events, 50u) << "seed " << seed;
  }
}

TEST(SimulationTest, DifferentSeedsDifferentRuns) {
  EXPECT_NE(RunSimulation({.seed = 1, .trace = true}).trace,
            RunSimulation({.seed = 2, .trace = true}).trace);
}

TEST(SimulationTest, SeedsRunClean) {
  uint64_t committed = 0;
  uint64_t aborted = 0;
  for (uint64_t seed = 10001; seed <= 10050; ++seed) {
    const SimResult r = RunSimulation({.seed = seed});
    EXPECT_TRUE(r.violations.empty()) << "seed " << seed << ": " << r.violations.front()
                                      << "\n  replay: pact-sim --seed " << seed << " --trace";
    committed += r.committed;
    aborted += r.aborted;
  }
  // The workload does commit and abort (so the checks are not vacuous).
  EXPECT_GT(committed, 200u);
  EXPECT_GT(aborted, 20u);
}

}  // namespace
}  // namespace pact::sim
