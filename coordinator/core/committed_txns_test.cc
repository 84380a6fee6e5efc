#include "coordinator/core/committed_txns.h"

#include <gtest/gtest.h>

namespace pact::coordinator {
namespace {

TEST(CommittedTxnsTest, HoldsExactlyWhatWasAddedAcrossEpochsAndChunks) {
  CommittedTxns committed;
  const TxnId added[] = {{1, 1},
                         {1, 63},
                         {1, 64},
                         {1, CommittedTxns::kChunkTxns - 1},
                         {1, CommittedTxns::kChunkTxns},
                         {2, 1},
                         {7, 1'000'000'007}};
  for (const TxnId& txn : added) committed.Add(txn);
  for (const TxnId& txn : added) EXPECT_TRUE(committed.Contains(txn)) << txn.ToString();
  const TxnId absent[] = {{1, 2},
                          {1, 62},
                          {1, 65},
                          {1, CommittedTxns::kChunkTxns + 1},
                          {2, 2},
                          {3, 1},
                          {7, 1'000'000'006},
                          {0, 0}};
  for (const TxnId& txn : absent) EXPECT_FALSE(committed.Contains(txn)) << txn.ToString();
  EXPECT_EQ(committed.size(), std::size(added));
  committed.Add({1, 64});  // twice: no change
  EXPECT_EQ(committed.size(), std::size(added));
}

}  // namespace
}  // namespace pact::coordinator
