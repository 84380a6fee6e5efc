#include "common/fail_point.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

namespace pact {
namespace {

// Arming is read from the environment once per process, so each case runs in a death-test
// child that sets the variable first.

TEST(FailPointDeathTest, ArmedPointKillsOnTheArmedHitOnly) {
  EXPECT_EXIT(
      {
        setenv("PACT_FAIL_POINT", "participant.after_store_commit:3", 1);
        FailPoint("participant.after_store_commit");
        FailPoint("participant.after_store_prepare");  // another point: never fires
        FailPoint("participant.after_store_commit");
        std::fprintf(stderr, "survived two hits\n");
        FailPoint("participant.after_store_commit");
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "survived two hits");
}

TEST(FailPointDeathTest, UnarmedPointsDoNothing) {
  EXPECT_EXIT(
      {
        unsetenv("PACT_FAIL_POINT");
        for (std::string_view name : kFailPoints) FailPoint(name);
        std::exit(ValidateFailPointEnvironment().ok() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(FailPointDeathTest, UnknownOrMalformedArmingIsAnError) {
  EXPECT_EXIT(
      {
        setenv("PACT_FAIL_POINT", "participant.after_store_comit", 1);  // typo
        std::exit(ValidateFailPointEnvironment().ok() ? 0 : 3);
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EXIT(
      {
        setenv("PACT_FAIL_POINT", "participant.after_store_commit:0", 1);
        std::exit(ValidateFailPointEnvironment().ok() ? 0 : 3);
      },
      ::testing::ExitedWithCode(3), "");
}

}  // namespace
}  // namespace pact
