#include "common/status.h"

#include <gtest/gtest.h>

namespace pact {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  PACT_ASSIGN_OR_RETURN(int half, Half(x));
  PACT_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusTest, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status corrupt = Status::Corruption("bad checksum");
  EXPECT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.code(), StatusCode::kCorruption);
  EXPECT_EQ(corrupt.ToString(), "Corruption: bad checksum");
  EXPECT_EQ(corrupt.WithContext("wal/1.log").ToString(), "Corruption: wal/1.log: bad checksum");
  EXPECT_EQ(Status::Ok().WithContext("ignored"), Status::Ok());
}

TEST(StatusTest, ResultPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

TEST(StatusDeathTest, ValueOfAnErrorCrashes) {
  Result<int> error = Status::NotFound("x");
  EXPECT_DEATH((void)error.value(), "value\\(\\) of an error Result");
}

TEST(StatusDeathTest, CheckFailureNamesTheCondition) {
  EXPECT_DEATH(PACT_CHECK(1 + 1 == 3, "math is {}", "broken"), "1 \\+ 1 == 3 math is broken");
}

}  // namespace
}  // namespace pact
