#include "common/txn_id.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace pact {
namespace {

TEST(TxnIdTest, TextFormRoundTrips) {
  TxnId id{3, 1042};
  EXPECT_EQ(id.ToString(), "3.1042");
  EXPECT_EQ(*TxnId::Parse("3.1042"), id);
  TxnId max{UINT64_MAX, UINT64_MAX};
  EXPECT_EQ(*TxnId::Parse(max.ToString()), max);
  EXPECT_EQ(fmt::format("{}", id), "3.1042");
}

TEST(TxnIdTest, RejectsEverythingElse) {
  for (const char* text : {"", ".", "3", "3.", ".4", "0.1", "1.0", "03.4", "3.04", "-3.4",
                           "3.4.5", " 3.4", "3.4 ", "3:4", "18446744073709551616.1", "a.b"}) {
    Result<TxnId> parsed = TxnId::Parse(text);
    ASSERT_FALSE(parsed.ok()) << "'" << text << "' parsed";
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(TxnIdTest, OrdersByEpochThenSequence) {
  EXPECT_LT((TxnId{1, 99}), (TxnId{2, 1}));
  EXPECT_LT((TxnId{2, 1}), (TxnId{2, 2}));
  EXPECT_FALSE((TxnId{0, 5}).valid());
  std::unordered_set<TxnId> ids{{1, 2}, {2, 1}, {1, 2}};
  EXPECT_EQ(ids.size(), 2u);
}

}  // namespace
}  // namespace pact
