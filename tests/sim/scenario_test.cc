// The classic cases of two-phase commit, as transcripts over the real cores, the real WAL and
// the simulator's store (scenario_world.h). Each test says what happens, step by step; the
// world's checkers (atomicity, persist-before-send, told outcomes) run throughout, and a
// failing test prints the whole transcript.
#include <gtest/gtest.h>

#include "tests/sim/scenario_world.h"

namespace pact::sim {
namespace {

using protocol::Outcome;

class ScenarioTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_TRUE(w.Violations().empty()) << w.Violations().front();
    if (HasFailure()) std::printf("transcript:\n%s", w.transcript().c_str());
  }

  // begin t; work at p1 and p2 (writes unless told otherwise); commit; returns t.
  TxnId BeginTwoBranches(WorkKind p2_kind = WorkKind::kWrite) {
    const TxnId t = w.Begin();
    b1 = w.Work(t, "p1", WorkKind::kWrite);
    b2 = w.Work(t, "p2", p2_kind);
    EXPECT_TRUE(b1.valid() && b2.valid());
    return t;
  }

  ScenarioWorld w;
  BranchId b1, b2;
};

TEST_F(ScenarioTest, CommitOfTwoBranches) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  EXPECT_EQ(w.Deliver("PrepareRequest"), 2u);
  EXPECT_EQ(w.Deliver("VoteReply"), 2u);  // both YES: COMMIT is proposed and forced
  EXPECT_TRUE(w.checker().EverChosen(t));
  EXPECT_EQ(w.Deliver("CommitReply"), 1u);
  EXPECT_EQ(w.Told(t), Outcome::kCommitted);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kCommitted);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kCommitted);
}

TEST_F(ScenarioTest, CoordinatorCrashAfterAllYesBeforeTheDecision) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Deliver("PrepareRequest");
  w.CrashAt("c1", "proposed");  // COMMIT appended to the decision log, not yet forced
  w.Deliver("VoteReply");
  EXPECT_FALSE(w.c1().up());
  w.Restart("c1");  // epoch 2: transaction 1.x is in a closed epoch and was never chosen
  EXPECT_EQ(w.c1().core()->epoch(), 2u);
  ASSERT_TRUE(w.Settle());  // the in-doubt branches ask, hear ABORTED, roll back
  EXPECT_FALSE(w.checker().EverChosen(t));
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
  EXPECT_FALSE(w.Told(t).has_value()) << "the client was told nothing: its outcome is unknown";
  EXPECT_GE(w.participant("p1").core()->stats().inquiries, 1u);
}

TEST_F(ScenarioTest, CoordinatorCrashAfterTheDecisionBeforeCommitIsSent) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Deliver("PrepareRequest");
  w.CrashAt("c1", "flushed");  // COMMIT is durable: chosen, but nobody has heard of it
  w.Deliver("VoteReply");
  EXPECT_FALSE(w.c1().up());
  w.Restart("c1");  // replays COMMIT without END: drives it to every branch
  EXPECT_TRUE(w.checker().EverChosen(t));
  EXPECT_EQ(w.c1().core()->View(t)->state, coordinator::TxnState::kCommitting);
  w.Commit(t);  // the client asks again and hears the decision
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.Told(t), Outcome::kCommitted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kCommitted);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kCommitted);
}

TEST_F(ScenarioTest, BranchCrashAfterPrepareBeforeItsVoteArrives) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.CrashAt("p1", "persisted");  // PREPARED is durable; the YES never leaves
  w.Deliver("PrepareRequest");
  EXPECT_FALSE(w.participant("p1").up());
  w.Deliver("VoteReply");  // p2's YES
  w.Restart("p1");         // in doubt: prepared in the store and in its log
  EXPECT_EQ(w.participant("p1").core()->View(t)->state, participant::BranchState::kPrepared);
  ASSERT_TRUE(w.Settle());  // c1 resends PREPARE; p1 answers YES again; COMMIT
  EXPECT_EQ(w.Told(t), Outcome::kCommitted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kCommitted);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kCommitted);
}

TEST_F(ScenarioTest, BranchCrashBeforePrepareLosesItsWorkAndVotesNo) {
  const TxnId t = BeginTwoBranches();
  w.Crash("p1");  // active work is not durable
  w.Restart("p1");
  w.Commit(t);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.Told(t), Outcome::kAborted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kLost);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
}

TEST_F(ScenarioTest, DuplicateCommitChangesNothing) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Deliver("PrepareRequest");
  w.Deliver("VoteReply");
  EXPECT_EQ(w.Duplicate("BranchCommitRequest", "p1"), 1u);
  EXPECT_EQ(w.Deliver("BranchCommitRequest", "p1"), 2u);
  EXPECT_EQ(w.queued("AckReply"), 2u) << "both copies are answered";
  EXPECT_EQ(w.participant("p1").core()->stats().committed, 1u) << "but committed once";
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kCommitted);
}

TEST_F(ScenarioTest, AbortOvertakingPrepareLeavesNoPreparedBranch) {
  const TxnId t = BeginTwoBranches(WorkKind::kFailPrepare);  // p2's store will refuse
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Hold("PrepareRequest", "p1");         // p1's PREPARE is slow
  w.Deliver("PrepareRequest", "p2");      // p2 votes NO
  w.Deliver("VoteReply");                 // c1 aborts: ABORT to p1
  w.Deliver("BranchAbortRequest", "p1");  // ABORT arrives first: tombstone, work rolled back
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  w.Release("PrepareRequest", "p1");
  w.Deliver("PrepareRequest", "p1");  // the late PREPARE is refused
  EXPECT_EQ(w.participant("p1").core()->stats().votes_no, 1u);
  EXPECT_EQ(w.participant("p1").resource().prepared(), 0u);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.Told(t), Outcome::kAborted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
}

TEST_F(ScenarioTest, StaleEpochMessagesAreDropped) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Hold("PrepareRequest");  // epoch 1's PREPAREs are late
  w.Crash("c1");
  w.Restart("c1");  // epoch 2
  // p1 meets epoch 2 through new work.
  const TxnId t2 = w.Begin();
  EXPECT_EQ(t2.epoch, 2u);
  w.Work(t2, "p1", WorkKind::kWrite);
  EXPECT_EQ(w.participant("p1").core()->epoch_fence(), 2u);
  w.Release("PrepareRequest");
  w.Deliver("PrepareRequest");
  EXPECT_EQ(w.participant("p1").core()->stats().stale_epoch_dropped, 1u);
  EXPECT_EQ(w.queued("VoteReply", "c1"), 1u) << "only p2, which has not seen epoch 2, votes";
  w.Abort(t2);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
}

TEST_F(ScenarioTest, OnePhaseCommitWithASingleBranch) {
  const TxnId t = w.Begin();
  const BranchId b = w.Work(t, "p1", WorkKind::kWrite);
  w.Commit(t);
  w.Deliver("CommitRequest");
  EXPECT_EQ(w.queued("PrepareRequest"), 0u);
  EXPECT_EQ(w.Deliver("BranchCommitRequest", "p1"), 1u);  // one_phase: prepare and commit
  w.Deliver("AckReply");
  EXPECT_EQ(w.Deliver("CommitReply"), 1u);
  EXPECT_EQ(w.Told(t), Outcome::kCommitted);
  EXPECT_FALSE(w.checker().EverChosen(t)) << "nothing was forced to the decision log";
  EXPECT_EQ(w.c1().core()->stats().committed_one_phase, 1u);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.StoreFate("p1", b), Fate::kCommitted);
}

TEST_F(ScenarioTest, ReadOnlyBranchSkipsPhaseTwo) {
  const TxnId t = BeginTwoBranches(WorkKind::kRead);
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Deliver("PrepareRequest");
  w.Deliver("VoteReply");  // YES from p1, READ_ONLY from p2
  EXPECT_EQ(w.queued("BranchCommitRequest", "p1"), 1u);
  EXPECT_EQ(w.queued("BranchCommitRequest", "p2"), 0u);
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.Told(t), Outcome::kCommitted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kCommitted);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kReadOnly);
}

TEST_F(ScenarioTest, TransactionTimeoutDuringPrepare) {
  const TxnId t = BeginTwoBranches();
  w.Commit(t);
  w.Deliver("CommitRequest");
  w.Deliver("PrepareRequest", "p1");  // p1 prepares and votes YES
  w.Deliver("VoteReply");
  for (int i = 0; i < 40; ++i) {  // p2 never hears PREPARE (resends are lost too)
    w.Drop("PrepareRequest", "p2");
    w.Tick();
  }
  EXPECT_FALSE(w.c1().core()->View(t).has_value()) << "prepare timeout: aborted";
  ASSERT_TRUE(w.Settle());
  EXPECT_EQ(w.Told(t), Outcome::kAborted);
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
}

TEST_F(ScenarioTest, ClientThatWalksAwayIsTimedOut) {
  const TxnId t = BeginTwoBranches();
  ASSERT_TRUE(w.Settle());  // nobody commits: the transaction timeout aborts it
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
  EXPECT_EQ(w.c1().core()->stats().aborted, 1u);
  (void)t;
}

TEST_F(ScenarioTest, LostAbortIsFoundByTheIdleBranch) {
  const TxnId t = BeginTwoBranches();
  w.Abort(t);
  w.Deliver("AbortRequest");
  EXPECT_EQ(w.Drop("BranchAbortRequest"), 2u);
  EXPECT_EQ(w.Deliver("AbortReply"), 1u);
  EXPECT_EQ(w.Told(t), Outcome::kAborted);
  ASSERT_TRUE(w.Settle());  // idle active branches ask and hear ABORTED (presumed abort)
  EXPECT_EQ(w.StoreFate("p1", b1), Fate::kRolledBack);
  EXPECT_EQ(w.StoreFate("p2", b2), Fate::kRolledBack);
}

}  // namespace
}  // namespace pact::sim
