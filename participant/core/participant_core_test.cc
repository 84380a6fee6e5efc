// Unit tests of the participant core, driven by hand. The store is played by the test: every
// StoreRequest the core emits is answered explicitly through OnStoreResult.
#include "participant/core/participant_core.h"

#include <gtest/gtest.h>

#include <variant>

namespace pact::participant {
namespace {

using protocol::Outcome;
using protocol::Vote;
using Kind = ParticipantRecord::Kind;

ParticipantOptions Options() {
  ParticipantOptions o;
  o.name = "p1";
  o.coordinator = "c1";
  o.inquiry_ticks_min = 4;
  o.inquiry_ticks_max = 16;
  o.active_idle_ticks = 40;
  o.coordinator_silence_ticks = 30;
  return o;
}

template <typename M>
std::vector<M> Sent(const ParticipantEffects& fx) {
  std::vector<M> out;
  for (const ParticipantOutbound& o : fx.send) {
    if (const M* m = std::get_if<M>(&o.message)) out.push_back(*m);
  }
  return out;
}

class ParticipantCoreTest : public ::testing::Test {
 protected:
  ParticipantCoreTest() : core_(Options()) {
    Result<ParticipantEffects> fx = core_.Recover({}, {});
    EXPECT_TRUE(fx.ok());
    EXPECT_EQ(fx->persist, std::vector{ParticipantRecord::Incarnation(1)});
  }

  ParticipantEffects Step(const protocol::Message& m) {
    ParticipantEffects fx = core_.Step("c1", m);
    core_.CheckInvariants();
    return fx;
  }
  ParticipantEffects Store(StoreOp op, const BranchId& b, Status status = Status::Ok(),
                           PrepareResult result = PrepareResult::kPrepared) {
    ParticipantEffects fx = core_.OnStoreResult({op, b, status, result});
    core_.CheckInvariants();
    return fx;
  }

  // Enlists txn and returns its branch id.
  BranchId Enlist(const TxnId& txn, uint32_t number) {
    ParticipantEffects fx = core_.StartWork(txn);
    auto enlist = Sent<protocol::EnlistRequest>(fx);
    EXPECT_EQ(enlist.size(), 1u);
    EXPECT_EQ(enlist[0].participant, "p1");
    EXPECT_EQ(enlist[0].incarnation, 1u);
    fx = Step(protocol::EnlistReply{5, txn, protocol::EnlistStatus::kEnlisted, number});
    EXPECT_EQ(fx.events.size(), 1u);
    EXPECT_EQ(fx.events[0].kind, ParticipantEvent::Kind::kEnlisted);
    return BranchId{txn, number};
  }

  BranchId Prepared(const TxnId& txn, uint32_t number) {
    const BranchId b = Enlist(txn, number);
    ParticipantEffects fx = Step(protocol::PrepareRequest{5, b});
    EXPECT_EQ(fx.apply.size(), 1u);
    fx = Store(StoreOp::kPrepare, b);
    EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Prepared(b, 5, false)});
    auto votes = Sent<protocol::VoteReply>(fx);
    EXPECT_EQ(votes.size(), 1u);
    EXPECT_EQ(votes[0].vote, Vote::kYes);
    EXPECT_EQ(fx.send[0].requires_durable, (RecordKey{Kind::kPrepared, b, 0}));
    return b;
  }

  ParticipantCore core_;
};

TEST_F(ParticipantCoreTest, PrepareCommitPersistsBeforeAnswering) {
  const BranchId b = Prepared(TxnId{5, 1}, 2);
  ParticipantEffects fx = Step(protocol::BranchCommitRequest{5, b, false});
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kCommitPrepared);
  EXPECT_TRUE(fx.send.empty()) << "the ack waits for the store and the record";
  fx = Store(StoreOp::kCommitPrepared, b);
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Committed(b, 5)});
  auto acks = Sent<protocol::AckReply>(fx);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].outcome, Outcome::kCommitted);
  // Duplicates answer the same and change nothing.
  fx = Step(protocol::BranchCommitRequest{5, b, false});
  EXPECT_TRUE(fx.persist.empty() && fx.apply.empty());
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kCommitted);
  fx = Step(protocol::PrepareRequest{5, b});
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kYes);
  EXPECT_TRUE(core_.Quiescent());
}

TEST_F(ParticipantCoreTest, EndedBranchesAreFiledAfterTheRetentionAndAnswerAsBefore) {
  const BranchId committed = Prepared(TxnId{5, 1}, 2);
  Step(protocol::BranchCommitRequest{5, committed, false});
  Store(StoreOp::kCommitPrepared, committed);
  const BranchId aborted = Enlist(TxnId{5, 2}, 1);
  ASSERT_EQ(Step(protocol::BranchAbortRequest{5, aborted}).apply.size(), 1u);  // releases work
  Store(StoreOp::kRollback, aborted);
  const BranchId read_only = Enlist(TxnId{5, 3}, 1);
  Step(protocol::PrepareRequest{5, read_only});
  Store(StoreOp::kPrepare, read_only, Status::Ok(), PrepareResult::kReadOnly);
  auto tick_past_retention = [&] {
    for (uint64_t i = 0; i < Options().finished_retention_ticks; ++i) core_.Tick();
    core_.CheckInvariants();
  };

  for (uint64_t i = 1; i < Options().finished_retention_ticks; ++i) core_.Tick();
  EXPECT_EQ(core_.branches_kept_whole(), 3u) << "kept whole during the retention";
  tick_past_retention();
  EXPECT_EQ(core_.branches_kept_whole(), 0u);
  EXPECT_EQ(core_.branches_filed(), 3u);
  EXPECT_EQ(core_.View(committed.txn)->state, BranchState::kCommitted);
  EXPECT_EQ(core_.View(aborted.txn)->state, BranchState::kAborted);
  EXPECT_EQ(core_.View(read_only.txn)->state, BranchState::kReadOnly);

  // Late and repeated requests are answered as they were before filing, and change nothing.
  ParticipantEffects fx = Step(protocol::BranchCommitRequest{5, committed, false});
  EXPECT_TRUE(fx.persist.empty() && fx.apply.empty());
  ASSERT_EQ(Sent<protocol::AckReply>(fx).size(), 1u);
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kCommitted);
  EXPECT_EQ(Sent<protocol::VoteReply>(Step(protocol::PrepareRequest{5, committed}))[0].vote,
            Vote::kYes);
  fx = Step(protocol::BranchAbortRequest{5, aborted});
  EXPECT_TRUE(fx.persist.empty() && fx.apply.empty()) << "no second tombstone";
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kAborted);
  EXPECT_EQ(Sent<protocol::VoteReply>(Step(protocol::PrepareRequest{5, aborted}))[0].vote,
            Vote::kNo);
  EXPECT_EQ(Sent<protocol::VoteReply>(Step(protocol::PrepareRequest{5, read_only}))[0].vote,
            Vote::kReadOnly);
  fx = core_.StartWork(committed.txn);
  ASSERT_EQ(fx.events.size(), 1u);
  EXPECT_EQ(fx.events[0].kind, ParticipantEvent::Kind::kWorkRefused);
  EXPECT_TRUE(fx.send.empty()) << "no enlistment for an ended transaction";
  EXPECT_EQ(core_.branches_kept_whole(), 3u) << "brought back whole";
  tick_past_retention();
  EXPECT_EQ(core_.branches_filed(), 3u) << "and filed again";
  EXPECT_EQ(core_.stats().committed, 1u);
  EXPECT_EQ(core_.stats().aborted, 1u);
}

TEST(ParticipantCoreRecoveryTest, EndedBranchesFromTheLogAreFiledAfterTheRetention) {
  ParticipantCore core(Options());
  const BranchId committed{TxnId{5, 1}, 1};
  const BranchId prepared{TxnId{5, 2}, 1};
  Result<ParticipantEffects> fx = core.Recover(
      {ParticipantRecord::Incarnation(1), ParticipantRecord::Prepared(committed, 5, false),
       ParticipantRecord::Committed(committed, 5), ParticipantRecord::Prepared(prepared, 5, false)},
      {prepared});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  for (uint64_t i = 0; i < Options().finished_retention_ticks; ++i) core.Tick();
  core.CheckInvariants();
  EXPECT_EQ(core.branches_filed(), 1u);
  EXPECT_EQ(core.View(committed.txn)->state, BranchState::kCommitted);
  EXPECT_EQ(core.View(prepared.txn)->state, BranchState::kPrepared) << "in doubt: kept whole";
}

TEST_F(ParticipantCoreTest, RepeatsWhileTheStoreWorksAllHearTheAnswer) {
  // A coordinator resends PREPARE before the slow store answered: every caller gets the vote.
  const BranchId b = Enlist(TxnId{5, 1}, 1);
  ParticipantEffects fx = core_.Step("call-1", protocol::PrepareRequest{5, b});
  ASSERT_EQ(fx.apply.size(), 1u);
  fx = core_.Step("call-2", protocol::PrepareRequest{5, b});
  EXPECT_TRUE(fx.apply.empty() && fx.send.empty()) << "one store Prepare; the vote follows it";
  core_.CheckInvariants();
  fx = Store(StoreOp::kPrepare, b);
  ASSERT_EQ(fx.send.size(), 2u);
  EXPECT_EQ(fx.send[0].to, "call-1");
  EXPECT_EQ(fx.send[1].to, "call-2");
  for (const ParticipantOutbound& o : fx.send) {
    EXPECT_EQ(std::get<protocol::VoteReply>(o.message).vote, Vote::kYes);
  }
  // The same for COMMIT while the store commits.
  fx = core_.Step("call-3", protocol::BranchCommitRequest{5, b, false});
  ASSERT_EQ(fx.apply.size(), 1u);
  fx = core_.Step("call-4", protocol::BranchCommitRequest{5, b, false});
  EXPECT_TRUE(fx.apply.empty() && fx.send.empty());
  fx = Store(StoreOp::kCommitPrepared, b);
  ASSERT_EQ(fx.send.size(), 2u);
  EXPECT_EQ(fx.send[0].to, "call-3");
  EXPECT_EQ(fx.send[1].to, "call-4");
  for (const ParticipantOutbound& o : fx.send) {
    EXPECT_EQ(std::get<protocol::AckReply>(o.message).outcome, Outcome::kCommitted);
  }
}

TEST_F(ParticipantCoreTest, AbortBeforePrepareLeavesATombstone) {
  const BranchId b = Enlist(TxnId{5, 1}, 1);
  ParticipantEffects fx = Step(protocol::BranchAbortRequest{5, b});
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(b, 5)});
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kAborted);
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback) << "active work is released";
  // The late PREPARE is refused and never reaches the store.
  fx = Step(protocol::PrepareRequest{5, b});
  EXPECT_TRUE(fx.apply.empty());
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kNo);
}

TEST_F(ParticipantCoreTest, AbortForAnUnknownBranchIsDurableFirst) {
  const BranchId b{TxnId{5, 3}, 1};
  ParticipantEffects fx = Step(protocol::BranchAbortRequest{5, b});
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(b, 5)});
  EXPECT_EQ(fx.send[0].requires_durable, (RecordKey{Kind::kAborted, b, 0}));
  EXPECT_EQ(Sent<protocol::VoteReply>(Step(protocol::PrepareRequest{5, b}))[0].vote, Vote::kNo);
}

TEST_F(ParticipantCoreTest, AbortWhileTheStorePreparesWins) {
  const BranchId b = Enlist(TxnId{5, 1}, 1);
  Step(protocol::PrepareRequest{5, b});
  ParticipantEffects fx = Step(protocol::BranchAbortRequest{5, b});
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(b, 5)});
  fx = Store(StoreOp::kPrepare, b);  // the store prepared after all
  EXPECT_TRUE(fx.persist.empty());
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kNo);
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback);
  Store(StoreOp::kRollback, b);
  EXPECT_TRUE(core_.Quiescent());
}

TEST_F(ParticipantCoreTest, StaleEpochIsDropped) {
  const BranchId b = Prepared(TxnId{5, 1}, 1);
  Step(protocol::OutcomeReply{6, b.txn, Outcome::kUnknown});  // fence -> 6
  ParticipantEffects fx = Step(protocol::BranchAbortRequest{5, b});
  EXPECT_TRUE(fx.empty());
  EXPECT_EQ(core_.stats().stale_epoch_dropped, 1u);
  EXPECT_EQ(core_.View(b.txn)->state, BranchState::kPrepared);
}

TEST_F(ParticipantCoreTest, ActiveBranchOfAClosedEpochIsAbortedWhenTheFenceMovesUp) {
  const BranchId old_active = Enlist(TxnId{5, 1}, 1);
  const BranchId old_prepared = Prepared(TxnId{5, 2}, 1);
  // A leader of epoch 6 enlists this participant in a new transaction: epoch 5 is closed.
  ParticipantEffects fx = core_.StartWork(TxnId{6, 1});
  fx = Step(protocol::EnlistReply{6, TxnId{6, 1}, protocol::EnlistStatus::kEnlisted, 1});
  // The unvoted branch of epoch 5 can never commit: aborted durably, its work rolled back.
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(old_active, 6)});
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback);
  EXPECT_EQ(fx.apply[0].branch, old_active);
  EXPECT_EQ(core_.View(old_active.txn)->state, BranchState::kAborted);
  // A branch that voted YES waits for the decision, whatever the epoch; the new one works.
  EXPECT_EQ(core_.View(old_prepared.txn)->state, BranchState::kPrepared);
  EXPECT_EQ(core_.View(TxnId{6, 1})->state, BranchState::kActive);
  // A later message of the same epoch aborts nothing more.
  fx = Step(protocol::OutcomeReply{6, old_prepared.txn, Outcome::kUnknown});
  EXPECT_TRUE(fx.persist.empty() && fx.apply.empty());
}

TEST_F(ParticipantCoreTest, InDoubtAsksWithBackoffAndNeverDecidesAlone) {
  const BranchId b = Prepared(TxnId{5, 1}, 1);
  std::vector<uint64_t> asked;
  for (int i = 0; i < 200; ++i) {
    ParticipantEffects fx = core_.Tick();
    if (!Sent<protocol::OutcomeRequest>(fx).empty()) asked.push_back(core_.now_ticks());
    EXPECT_TRUE(fx.persist.empty() && fx.apply.empty());
  }
  ASSERT_GE(asked.size(), 5u);
  EXPECT_EQ(asked[0], 4u);
  EXPECT_EQ(core_.View(b.txn)->state, BranchState::kPrepared);
  ParticipantEffects fx = Step(protocol::OutcomeReply{5, b.txn, Outcome::kAborted});
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback);
  fx = Store(StoreOp::kRollback, b);
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(b, 5)});
  EXPECT_TRUE(core_.Quiescent());
}

TEST_F(ParticipantCoreTest, OnePhaseCommit) {
  const BranchId b = Enlist(TxnId{5, 1}, 1);
  ParticipantEffects fx = Step(protocol::BranchCommitRequest{5, b, true});
  ASSERT_EQ(fx.apply.size(), 1u);
  fx = Store(StoreOp::kPrepare, b);
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Prepared(b, 5, true)});
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kCommitPrepared);
  EXPECT_TRUE(fx.send.empty());
  fx = Store(StoreOp::kCommitPrepared, b);
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kCommitted);
  // One-phase for a branch whose work is gone: the transaction aborts.
  const BranchId lost{TxnId{5, 2}, 1};
  fx = Step(protocol::BranchCommitRequest{5, lost, true});
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kAborted);
}

TEST_F(ParticipantCoreTest, ReadOnlyAndNoVotes) {
  const BranchId ro = Enlist(TxnId{5, 1}, 1);
  Step(protocol::PrepareRequest{5, ro});
  ParticipantEffects fx = Store(StoreOp::kPrepare, ro, Status::Ok(), PrepareResult::kReadOnly);
  EXPECT_TRUE(fx.persist.empty());
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kReadOnly);
  const BranchId no = Enlist(TxnId{5, 2}, 1);
  Step(protocol::PrepareRequest{5, no});
  fx = Store(StoreOp::kPrepare, no, Status::Unavailable("refused"));
  EXPECT_EQ(fx.persist, std::vector{ParticipantRecord::Aborted(no, 5)});
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kNo);
}

TEST_F(ParticipantCoreTest, AbortedWorkTheStoreStillHoldsIsRolledBackUntilItConfirms) {
  // ABORT of an active branch while a statement of the application runs in it: the store
  // refuses the rollback (busy). Giving up would leave the branch's work, and its locks, in the
  // store forever; the core retries until the store confirms.
  const BranchId active = Enlist(TxnId{5, 1}, 1);
  ParticipantEffects fx = Step(protocol::BranchAbortRequest{5, active});
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback);
  fx = Store(StoreOp::kRollback, active, Status::FailedPrecondition("busy"));
  EXPECT_TRUE(fx.apply.empty() && fx.persist.empty());
  std::vector<StoreRequest> retried;
  for (int i = 0; i < 8 && retried.empty(); ++i) retried = core_.Tick().apply;
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].op, StoreOp::kRollback);
  EXPECT_EQ(retried[0].branch, active);
  Store(StoreOp::kRollback, active);
  for (int i = 0; i < 40; ++i) EXPECT_TRUE(core_.Tick().apply.empty()) << "confirmed: no more";

  // A Prepare that failed without rolling the branch back (busy as well) votes NO and asks the
  // store to roll it back.
  const BranchId busy = Enlist(TxnId{5, 2}, 1);
  Step(protocol::PrepareRequest{5, busy});
  fx = Store(StoreOp::kPrepare, busy, Status::FailedPrecondition("busy"));
  EXPECT_EQ(Sent<protocol::VoteReply>(fx)[0].vote, Vote::kNo);
  ASSERT_EQ(fx.apply.size(), 1u);
  EXPECT_EQ(fx.apply[0].op, StoreOp::kRollback);
  EXPECT_TRUE(core_.Quiescent());
}

TEST_F(ParticipantCoreTest, CommitForAnUnknownBranchIsReported) {
  ParticipantEffects fx = Step(protocol::BranchCommitRequest{5, BranchId{TxnId{5, 9}, 1}, false});
  ASSERT_EQ(fx.events.size(), 1u);
  EXPECT_EQ(fx.events[0].kind, ParticipantEvent::Kind::kInconsistent);
  EXPECT_TRUE(fx.persist.empty() && fx.apply.empty()) << "nothing changes";
  // The caller hears that the branch is unknown here instead of waiting for nothing.
  auto acks = Sent<protocol::AckReply>(fx);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].outcome, Outcome::kUnknown);
  // Likewise for a branch number other than the one this participant has in the transaction.
  const BranchId ours = Enlist(TxnId{5, 10}, 1);
  fx = Step(protocol::BranchCommitRequest{5, BranchId{ours.txn, 2}, false});
  ASSERT_EQ(Sent<protocol::AckReply>(fx).size(), 1u);
  EXPECT_EQ(Sent<protocol::AckReply>(fx)[0].outcome, Outcome::kUnknown);
  EXPECT_EQ(core_.View(ours.txn)->state, BranchState::kActive);
}

TEST(ParticipantRecoveryTest, RestartResolvesEveryBranchByTheTable) {
  const BranchId in_doubt{TxnId{5, 1}, 1};
  const BranchId one_phase{TxnId{5, 2}, 1};
  const BranchId committed{TxnId{5, 3}, 2};
  const BranchId unlogged{TxnId{5, 4}, 1};
  const std::vector<ParticipantRecord> records = {
      ParticipantRecord::Incarnation(1),
      ParticipantRecord::Prepared(in_doubt, 5, false),
      ParticipantRecord::Prepared(one_phase, 5, true),
      ParticipantRecord::Prepared(committed, 5, false),
      ParticipantRecord::Committed(committed, 5),
      ParticipantRecord::Incarnation(2),
  };
  ParticipantCore core(Options());
  Result<ParticipantEffects> fx = core.Recover(records, {in_doubt, one_phase, unlogged});
  ASSERT_TRUE(fx.ok()) << fx.status().ToString();
  core.CheckInvariants();
  EXPECT_EQ(core.incarnation(), 3u);
  EXPECT_EQ(core.epoch_fence(), 5u);
  EXPECT_EQ(fx->persist, std::vector{ParticipantRecord::Incarnation(3)});
  auto asks = Sent<protocol::OutcomeRequest>(*fx);
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0].txn, in_doubt.txn);
  ASSERT_EQ(fx->apply.size(), 2u);
  EXPECT_EQ(fx->apply[0].op, StoreOp::kCommitPrepared);  // one-phase: the decision is ours
  EXPECT_EQ(fx->apply[0].branch, one_phase);
  EXPECT_EQ(fx->apply[1].op, StoreOp::kRollback);  // never voted: presumed abort
  EXPECT_EQ(fx->apply[1].branch, unlogged);
}

TEST(ParticipantRecoveryTest, RefusesContradictingRecords) {
  const BranchId b{TxnId{5, 1}, 1};
  ParticipantCore core(Options());
  EXPECT_EQ(
      core.Recover({ParticipantRecord::Committed(b, 5), ParticipantRecord::Prepared(b, 5, false)},
                   {})
          .status()
          .code(),
      StatusCode::kCorruption);
}

}  // namespace
}  // namespace pact::participant
