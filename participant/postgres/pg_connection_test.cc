// Unit tests of the pure helpers around libpq (no server needed).
#include "participant/postgres/pg_connection.h"

#include <gtest/gtest.h>

#include "participant/postgres/postgres_resource.h"

namespace pact {
namespace {

TEST(StatusCodeForSqlStateTest, OnlyClassesCallersTreatDifferentlyGetTheirOwnCode) {
  EXPECT_EQ(StatusCodeForSqlState("", /*connection_lost=*/true), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlState("08006", false), StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeForSqlState("57P01", false), StatusCode::kUnavailable);  // admin shutdown
  EXPECT_EQ(StatusCodeForSqlState("57P03", false), StatusCode::kUnavailable);  // starting up
  EXPECT_EQ(StatusCodeForSqlState("40001", false), StatusCode::kAborted);      // serialization
  EXPECT_EQ(StatusCodeForSqlState("40P01", false), StatusCode::kAborted);      // deadlock
  EXPECT_EQ(StatusCodeForSqlState("53300", false), StatusCode::kOverloaded);
  EXPECT_EQ(StatusCodeForSqlState("58030", false), StatusCode::kIoError);
  EXPECT_EQ(StatusCodeForSqlState("42P01", false), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForSqlState("23505", false), StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeForSqlState("57014", false), StatusCode::kAborted);  // statement timeout
  EXPECT_EQ(StatusCodeForSqlState("55P03", false), StatusCode::kAborted);  // lock timeout
}

TEST(EscapeLikePatternTest, EscapesWildcardsAndTheEscapeCharacter) {
  EXPECT_EQ(EscapeLikePattern("pact:prod:"), "pact:prod:");
  EXPECT_EQ(EscapeLikePattern("pact:a_b:"), "pact:a!_b:");
  EXPECT_EQ(EscapeLikePattern("100%!"), "100!%!!");
  EXPECT_EQ(EscapeLikePattern(""), "");
}

TEST(PgConnectionTest, MalformedDsnIsInvalidArgument) {
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect("host=127.0.0.1 port='unterminated", PgConnectOptions{});
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(conn.status().message().find("DSN"), std::string::npos) << conn.status().ToString();
}

}  // namespace
}  // namespace pact
