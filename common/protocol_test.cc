#include "common/protocol.h"

#include <gtest/gtest.h>

namespace pact::protocol {
namespace {

TEST(ProtocolTest, NamesEveryMessage) {
  const BranchId branch{TxnId{3, 7}, 2};
  EXPECT_EQ(MessageName(Message{VoteReply{3, branch, Vote::kYes}}), "VoteReply");
  EXPECT_EQ(MessageName(Message{AckReply{}}), "AckReply");
  EXPECT_EQ(ToString(Message{VoteReply{3, branch, Vote::kReadOnly}}),
            "VoteReply{epoch=3 branch=3.7/2 vote=READ_ONLY}");
  EXPECT_EQ(ToString(Message{BranchCommitRequest{4, branch, true}}),
            "BranchCommitRequest{epoch=4 branch=3.7/2 one_phase=true}");
  EXPECT_EQ(ToString(Message{EnlistRequest{2, TxnId{3, 7}, "p1", 5}}),
            "EnlistRequest{epoch=2 txn=3.7 participant=p1 incarnation=5}");
}

TEST(ProtocolTest, EpochAndTxnOf) {
  const BranchId branch{TxnId{3, 7}, 2};
  EXPECT_EQ(EpochOf(Message{PrepareRequest{5, branch}}), 5u);
  EXPECT_EQ(EpochOf(Message{CommitRequest{TxnId{3, 7}}}), 0u);
  EXPECT_EQ(TxnOf(Message{PrepareRequest{5, branch}}), (TxnId{3, 7}));
  EXPECT_EQ(TxnOf(Message{EnlistReply{5, TxnId{3, 8}, EnlistStatus::kEnlisted, 1}}), (TxnId{3, 8}));
  EXPECT_FALSE(TxnOf(Message{BeginRequest{9}}).valid());
}

}  // namespace
}  // namespace pact::protocol
