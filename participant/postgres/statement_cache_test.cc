// Unit tests of StatementCache's bookkeeping (no server needed; the resource's tests check what
// the server holds).
#include "participant/postgres/statement_cache.h"

#include <gtest/gtest.h>

namespace pact {
namespace {

using Strings = std::vector<std::string>;

// Looks `sql` up and says how it would be sent: "parse pact_s1", "reuse pact_s1" or "unnamed".
std::string Send(StatementCache& cache, std::string_view sql) {
  std::optional<StatementCache::Use> use = cache.Lookup(sql);
  if (!use) return "unnamed";
  return (use->parse ? "parse " : "reuse ") + use->name;
}

TEST(IsPlannedStatementTest, QueriesAndDmlOnly) {
  EXPECT_TRUE(IsPlannedStatement("SELECT 1"));
  EXPECT_TRUE(IsPlannedStatement("  select * from t where k = $1"));
  EXPECT_TRUE(IsPlannedStatement("INSERT INTO t VALUES ($1)"));
  EXPECT_TRUE(IsPlannedStatement("Update t SET v = 1"));
  EXPECT_TRUE(IsPlannedStatement("DELETE FROM t"));
  EXPECT_TRUE(IsPlannedStatement("WITH x AS (SELECT 1) SELECT * FROM x"));
  EXPECT_TRUE(IsPlannedStatement("(SELECT 1) UNION (SELECT 2)"));
  EXPECT_TRUE(IsPlannedStatement("\n\tVALUES (1)"));
  EXPECT_TRUE(IsPlannedStatement("TABLE t"));
  EXPECT_TRUE(IsPlannedStatement("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE"));

  EXPECT_FALSE(IsPlannedStatement(""));
  EXPECT_FALSE(IsPlannedStatement("BEGIN"));
  EXPECT_FALSE(IsPlannedStatement("PREPARE TRANSACTION 'g'"));
  EXPECT_FALSE(IsPlannedStatement("DEALLOCATE ALL"));
  EXPECT_FALSE(IsPlannedStatement("DISCARD ALL"));
  EXPECT_FALSE(IsPlannedStatement("SET search_path TO x"));
  EXPECT_FALSE(IsPlannedStatement("SHOW synchronous_commit"));
  EXPECT_FALSE(IsPlannedStatement("COPY t FROM STDIN"));
  EXPECT_FALSE(IsPlannedStatement("selection"));  // a keyword, not a prefix of a word
  EXPECT_FALSE(IsPlannedStatement("SELECTED 1"));
  EXPECT_FALSE(IsPlannedStatement("/* c */ SELECT 1"));
  EXPECT_FALSE(IsPlannedStatement("-- c\nSELECT 1"));
}

TEST(StatementCacheTest, FirstUseParsesLaterUsesReuseTheName) {
  StatementCache cache(4);
  EXPECT_EQ(Send(cache, "SELECT 1"), "parse pact_s1");
  EXPECT_EQ(Send(cache, "SELECT 1"), "reuse pact_s1");
  EXPECT_EQ(Send(cache, "SELECT 2"), "parse pact_s2");
  EXPECT_EQ(Send(cache, "SELECT 1"), "reuse pact_s1");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.TakeCloses().empty());
}

TEST(StatementCacheTest, OffWhenZero) {
  StatementCache cache(0);
  EXPECT_FALSE(cache.enabled());
  EXPECT_EQ(Send(cache, "SELECT 1"), "unnamed");
  EXPECT_EQ(Send(cache, "SELECT 1"), "unnamed");
  EXPECT_EQ(cache.size(), 0u);
}

TEST(StatementCacheTest, LongTextsRunUnnamed) {
  StatementCache cache(4);
  const std::string long_sql = "SELECT '" + std::string(kCachedSqlBytesMax, 'x') + "'";
  EXPECT_EQ(Send(cache, long_sql), "unnamed");
  EXPECT_EQ(cache.size(), 0u);
}

TEST(StatementCacheTest, FullCacheEvictsTheLeastRecentlyUsedAndQueuesItsClose) {
  StatementCache cache(2);
  EXPECT_EQ(Send(cache, "a"), "parse pact_s1");
  EXPECT_EQ(Send(cache, "b"), "parse pact_s2");
  EXPECT_EQ(Send(cache, "a"), "reuse pact_s1");  // b is now the least recently used
  EXPECT_EQ(Send(cache, "c"), "parse pact_s3");
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.TakeCloses(), Strings{"pact_s2"});
  EXPECT_TRUE(cache.TakeCloses().empty()) << "taken once";
  EXPECT_EQ(Send(cache, "a"), "reuse pact_s1");
  EXPECT_EQ(Send(cache, "b"), "parse pact_s4") << "a name is never reused";
  EXPECT_EQ(cache.TakeCloses(), Strings{"pact_s3"});
}

TEST(StatementCacheTest, NamesWaitingToCloseAndCachedOnesStayWithinTwiceTheSize) {
  StatementCache cache(2);
  EXPECT_EQ(Send(cache, "a"), "parse pact_s1");
  EXPECT_EQ(Send(cache, "b"), "parse pact_s2");
  EXPECT_EQ(Send(cache, "c"), "parse pact_s3");
  EXPECT_EQ(Send(cache, "d"), "parse pact_s4");
  // The server may hold four of our statements until the closes go out: no more.
  EXPECT_EQ(Send(cache, "e"), "unnamed");
  EXPECT_EQ(Send(cache, "d"), "reuse pact_s4") << "hits still work";
  EXPECT_EQ(cache.closes_pending(), 2u);
  EXPECT_EQ(cache.TakeCloses(), (Strings{"pact_s1", "pact_s2"}));
  EXPECT_EQ(Send(cache, "e"), "parse pact_s5");
}

TEST(StatementCacheTest, FailedParseForgetsTheEntryWithoutClosingIt) {
  StatementCache cache(2);
  EXPECT_EQ(Send(cache, "bad"), "parse pact_s1");
  cache.ParseFailed("bad", "pact_s1");
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_TRUE(cache.TakeCloses().empty()) << "the server never held it";
  EXPECT_EQ(Send(cache, "bad"), "parse pact_s2");
  cache.ParseFailed("bad", "pact_s1");  // an older name of the text: not the entry's any more
  EXPECT_EQ(Send(cache, "bad"), "reuse pact_s2");
}

TEST(StatementCacheTest, DropClosesTheEntryAndTheNextUseParsesAgain) {
  StatementCache cache(2);
  EXPECT_EQ(Send(cache, "a"), "parse pact_s1");
  EXPECT_EQ(Send(cache, "b"), "parse pact_s2");
  cache.Drop("a", "pact_s1");
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.TakeCloses(), Strings{"pact_s1"});
  EXPECT_EQ(Send(cache, "a"), "parse pact_s3");
  EXPECT_EQ(Send(cache, "b"), "reuse pact_s2");
}

TEST(StatementCacheTest, DropAllEmptiesTheCacheAndClosesEveryName) {
  StatementCache cache(3);
  EXPECT_EQ(Send(cache, "a"), "parse pact_s1");
  EXPECT_EQ(Send(cache, "b"), "parse pact_s2");
  cache.DropAll();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.TakeCloses(), (Strings{"pact_s2", "pact_s1"}));
  EXPECT_EQ(Send(cache, "a"), "parse pact_s3");
}

}  // namespace
}  // namespace pact
