#include "participant/core/finished_branches.h"

#include <gtest/gtest.h>

namespace pact::participant {
namespace {

using End = FinishedBranch::End;

TEST(FinishedBranchesTest, KeepsEveryFieldOfEveryEntry) {
  FinishedBranches finished;
  const std::pair<TxnId, FinishedBranch> entries[] = {
      {{1, 1}, {.number = 1, .end = End::kCommitted, .prepared_record = true}},
      {{1, 2}, {.number = 2, .end = End::kAborted}},
      {{1, FinishedBranches::kChunkTxns}, {.number = 7, .end = End::kReadOnly}},
      {{2, 5}, {.number = FinishedBranch::kNumberMax, .end = End::kCommitted, .one_phase = true}},
      {{9, 1'000'000'000}, {.number = 3, .end = End::kAborted, .prepared_record = true}},
  };
  for (const auto& [txn, branch] : entries) finished.Put(txn, branch);
  EXPECT_EQ(finished.size(), std::size(entries));
  for (const auto& [txn, branch] : entries) {
    ASSERT_TRUE(finished.Get(txn).has_value()) << txn.ToString();
    EXPECT_EQ(*finished.Get(txn), branch) << txn.ToString();
  }
  EXPECT_FALSE(finished.Get({1, 3}).has_value());
  EXPECT_FALSE(finished.Get({3, 1}).has_value());
  EXPECT_FALSE(finished.Get({1, FinishedBranches::kChunkTxns + 1}).has_value());
}

TEST(FinishedBranchesTest, TakeRemovesAndPutReplaces) {
  FinishedBranches finished;
  const FinishedBranch aborted{.number = 1, .end = End::kAborted};
  const FinishedBranch committed{.number = 1, .end = End::kCommitted, .prepared_record = true};
  finished.Put({1, 1}, aborted);
  finished.Put({1, 1}, committed);
  EXPECT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished.Take({1, 1}), committed);
  EXPECT_EQ(finished.size(), 0u);
  EXPECT_FALSE(finished.Get({1, 1}).has_value());
  EXPECT_FALSE(finished.Take({1, 1}).has_value());
}

}  // namespace
}  // namespace pact::participant
