#include "common/random.h"

#include <gtest/gtest.h>

#include <vector>

namespace pact {
namespace {

TEST(RandomTest, OneSeedGivesOneSequence) {
  Random a(42), b(42), c(43);
  std::vector<uint64_t> from_a, from_b, from_c;
  for (int i = 0; i < 100; ++i) {
    from_a.push_back(a.Next());
    from_b.push_back(b.Next());
    from_c.push_back(c.Next());
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

TEST(RandomTest, KnownFirstValuesPinThePlatformIndependentSequence) {
  // If these change, every recorded simulator seed replays differently.
  Random random(1);
  EXPECT_EQ(random.Next(), 12966619160104079557ULL);
  EXPECT_EQ(random.Next(), 9600361134598540522ULL);
  EXPECT_EQ(random.Uniform(1000), 900u);
}

TEST(RandomTest, UniformStaysInRangeAndCoversIt) {
  Random random(7);
  std::vector<int> counts(10, 0);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t x = random.Uniform(10);
    ASSERT_LT(x, 10u);
    ++counts[x];
  }
  for (int count : counts) EXPECT_GT(count, 800);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = random.Range(5, 7);
    EXPECT_GE(x, 5u);
    EXPECT_LE(x, 7u);
  }
}

}  // namespace
}  // namespace pact
