// Unit tests of the coordinator core, driven by hand: each test feeds messages and checks the
// effects. (Whole-system transcripts with crashes live in tests/sim/scenario_test.cc.)
#include "coordinator/core/coordinator_core.h"

#include <gtest/gtest.h>

#include <variant>

namespace pact::coordinator {
namespace {

using protocol::Outcome;
using protocol::Vote;

CoordinatorOptions Options() {
  CoordinatorOptions o;
  o.inflight_txns_max = 3;
  o.branches_per_txn_max = 3;
  o.txn_timeout_ticks = 50;
  o.prepare_timeout_ticks = 20;
  o.prepare_resend_ticks = 5;
  o.commit_resend_ticks_min = 2;
  o.commit_resend_ticks_max = 8;
  return o;
}

template <typename M>
std::vector<std::pair<std::string, M>> Sent(const CoordinatorEffects& fx) {
  std::vector<std::pair<std::string, M>> out;
  for (const CoordinatorOutbound& o : fx.send) {
    if (const M* m = std::get_if<M>(&o.message)) out.emplace_back(o.to, *m);
  }
  return out;
}

class CoordinatorCoreTest : public ::testing::Test {
 protected:
  CoordinatorCoreTest() : core_(Options(), "c1", 5, {}) {}

  CoordinatorEffects Step(std::string_view from, const protocol::Message& m) {
    CoordinatorEffects fx = core_.Step(from, m);
    core_.CheckInvariants();
    return fx;
  }

  TxnId Begin() {
    auto replies = Sent<protocol::BeginReply>(Step("k1", protocol::BeginRequest{1}));
    EXPECT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].second.status, protocol::BeginStatus::kOk);
    return replies[0].second.txn;
  }

  uint32_t Enlist(const TxnId& txn, const std::string& p, uint64_t incarnation = 1) {
    auto replies =
        Sent<protocol::EnlistReply>(Step(p, protocol::EnlistRequest{0, txn, p, incarnation}));
    EXPECT_EQ(replies.size(), 1u);
    return replies[0].second.status == protocol::EnlistStatus::kEnlisted ? replies[0].second.branch
                                                                         : 0;
  }

  CoordinatorEffects CastVote(const TxnId& txn, uint32_t branch, protocol::Vote v) {
    return Step("p", protocol::VoteReply{5, BranchId{txn, branch}, v});
  }

  CoordinatorCore core_;
};

TEST_F(CoordinatorCoreTest, TxidsAreOfTheLeadersEpoch) {
  const TxnId a = Begin();
  const TxnId b = Begin();
  EXPECT_EQ(a, (TxnId{5, 1}));
  EXPECT_EQ(b, (TxnId{5, 2}));
}

TEST_F(CoordinatorCoreTest, OverloadedPastInflightLimit) {
  Begin();
  Begin();
  Begin();
  auto replies = Sent<protocol::BeginReply>(Step("k1", protocol::BeginRequest{9}));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second.status, protocol::BeginStatus::kOverloaded);
  EXPECT_EQ(replies[0].second.request_id, 9u);
  EXPECT_EQ(core_.stats().overloaded, 1u);
}

TEST_F(CoordinatorCoreTest, EnlistIsIdempotentAndRefusedOnceCommitStarted) {
  const TxnId t = Begin();
  EXPECT_EQ(Enlist(t, "p1"), 1u);
  EXPECT_EQ(Enlist(t, "p2"), 2u);
  EXPECT_EQ(Enlist(t, "p1"), 1u);
  EXPECT_EQ(Enlist(t, "p1", /*incarnation=*/2), 0u) << "a restarted participant lost its work";
  Step("k1", protocol::CommitRequest{t});
  EXPECT_EQ(Enlist(t, "p3"), 0u);
  EXPECT_EQ(Enlist(TxnId{5, 99}, "p3"), 0u);
}

TEST_F(CoordinatorCoreTest, ParallelPrepareThenCommitOnlyAfterChosen) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  Enlist(t, "p2");
  Enlist(t, "p3");
  auto prepares = Sent<protocol::PrepareRequest>(Step("k1", protocol::CommitRequest{t}));
  ASSERT_EQ(prepares.size(), 3u);
  EXPECT_TRUE(CastVote(t, 1, Vote::kYes).empty());
  EXPECT_TRUE(CastVote(t, 2, Vote::kReadOnly).empty());
  CoordinatorEffects fx = CastVote(t, 3, Vote::kYes);
  ASSERT_EQ(fx.propose.size(), 1u);
  EXPECT_EQ(fx.propose[0], (CommitDecision{t, {{1, "p1"}, {3, "p3"}}}));
  EXPECT_TRUE(fx.send.empty()) << "nothing leaves before the decision is chosen";
  EXPECT_EQ(core_.View(t)->state, TxnState::kDeciding);

  fx = core_.OnChosen(t);
  auto commits = Sent<protocol::BranchCommitRequest>(fx);
  ASSERT_EQ(commits.size(), 2u) << "the READ_ONLY branch skips phase 2";
  EXPECT_EQ(commits[0].first, "p1");
  EXPECT_EQ(commits[1].first, "p3");
  auto replies = Sent<protocol::CommitReply>(fx);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second.outcome, Outcome::kCommitted);
  for (const CoordinatorOutbound& o : fx.send) EXPECT_EQ(o.requires_chosen, t);

  Step("p1", protocol::AckReply{5, BranchId{t, 1}, Outcome::kCommitted});
  fx = Step("p3", protocol::AckReply{5, BranchId{t, 3}, Outcome::kCommitted});
  ASSERT_EQ(fx.record_end.size(), 1u);
  EXPECT_FALSE(core_.View(t).has_value());
}

TEST_F(CoordinatorCoreTest, PhaseTwoRetriesWithBoundedBackoff) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  Enlist(t, "p2");
  Step("k1", protocol::CommitRequest{t});
  CastVote(t, 1, Vote::kYes);
  CastVote(t, 2, Vote::kYes);
  core_.OnChosen(t);
  Step("p1", protocol::AckReply{5, BranchId{t, 1}, Outcome::kCommitted});
  std::vector<uint64_t> resend_ticks;
  for (int i = 0; i < 60; ++i) {
    CoordinatorEffects fx = core_.Tick();
    auto commits = Sent<protocol::BranchCommitRequest>(fx);
    if (!commits.empty()) {
      EXPECT_EQ(commits.size(), 1u);
      EXPECT_EQ(commits[0].first, "p2") << "only the branch that did not acknowledge";
      resend_ticks.push_back(core_.now_ticks());
    }
  }
  // Intervals 2, 4, 8, 8, ...
  ASSERT_GE(resend_ticks.size(), 4u);
  EXPECT_EQ(resend_ticks[1] - resend_ticks[0], 4u);
  EXPECT_EQ(resend_ticks[2] - resend_ticks[1], 8u);
  EXPECT_EQ(resend_ticks[3] - resend_ticks[2], 8u);
}

TEST_F(CoordinatorCoreTest, NoVoteAbortsAndTellsTheOthers) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  Enlist(t, "p2");
  Step("k1", protocol::CommitRequest{t});
  CoordinatorEffects fx = CastVote(t, 2, Vote::kNo);
  auto aborts = Sent<protocol::BranchAbortRequest>(fx);
  ASSERT_EQ(aborts.size(), 1u);
  EXPECT_EQ(aborts[0].first, "p1");
  auto replies = Sent<protocol::CommitReply>(fx);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].second.outcome, Outcome::kAborted);
  // Presumed abort: asked later, the answer is ABORTED; a late YES is told to abort.
  auto outcome = Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, t}));
  EXPECT_EQ(outcome[0].second.outcome, Outcome::kAborted);
  EXPECT_EQ(Sent<protocol::BranchAbortRequest>(CastVote(t, 1, Vote::kYes)).size(), 1u);
}

TEST_F(CoordinatorCoreTest, OutcomeOfATxidNotIssuedYetIsUnknownNotAborted) {
  const TxnId issued = Begin();
  const TxnId future{issued.epoch, issued.sequence + 1};
  // ABORTED would be a promise that no COMMIT can be chosen; this sequence may yet begin.
  auto early = Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, future}));
  EXPECT_EQ(early[0].second.outcome, Outcome::kUnknown);
  EXPECT_EQ(
      Sent<protocol::CommitReply>(Step("k1", protocol::CommitRequest{future}))[0].second.outcome,
      Outcome::kUnknown);
  // It begins and commits (one branch, one phase): the answers never contradicted that.
  ASSERT_EQ(Begin(), future);
  Enlist(future, "p1");
  Step("k1", protocol::CommitRequest{future});
  Step("p1", protocol::AckReply{5, BranchId{future, 1}, Outcome::kCommitted});
  auto later = Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, future}));
  EXPECT_EQ(later[0].second.outcome, Outcome::kCommitted);
  EXPECT_EQ(Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, issued}))[0]
                .second.outcome,
            Outcome::kUnknown)
      << "issued and still open";
}

TEST_F(CoordinatorCoreTest, AllReadOnlyCommitsWithoutADecision) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  Enlist(t, "p2");
  Step("k1", protocol::CommitRequest{t});
  CastVote(t, 1, Vote::kReadOnly);
  CoordinatorEffects fx = CastVote(t, 2, Vote::kReadOnly);
  EXPECT_TRUE(fx.propose.empty());
  EXPECT_EQ(Sent<protocol::CommitReply>(fx)[0].second.outcome, Outcome::kCommitted);
}

TEST_F(CoordinatorCoreTest, OnePhaseCommitWithASingleBranch) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  CoordinatorEffects fx = Step("k1", protocol::CommitRequest{t});
  auto commits = Sent<protocol::BranchCommitRequest>(fx);
  ASSERT_EQ(commits.size(), 1u);
  EXPECT_TRUE(commits[0].second.one_phase);
  EXPECT_TRUE(Sent<protocol::PrepareRequest>(fx).empty());
  // Too late to abort: the branch may already have committed.
  EXPECT_EQ(Sent<protocol::AbortReply>(Step("k1", protocol::AbortRequest{t}))[0].second.outcome,
            Outcome::kUnknown);
  fx = Step("p1", protocol::AckReply{5, BranchId{t, 1}, Outcome::kCommitted});
  EXPECT_EQ(Sent<protocol::CommitReply>(fx)[0].second.outcome, Outcome::kCommitted);
  EXPECT_TRUE(fx.propose.empty() && fx.record_end.empty());
}

TEST_F(CoordinatorCoreTest, TimeoutsAbort) {
  const TxnId idle = Begin();
  Enlist(idle, "p1");
  const TxnId preparing = Begin();
  Enlist(preparing, "p1");
  Enlist(preparing, "p2");
  Step("k1", protocol::CommitRequest{preparing});
  CastVote(preparing, 1, Vote::kYes);
  size_t prepare_resends = 0;
  for (int i = 0; i < 19; ++i) {
    prepare_resends += Sent<protocol::PrepareRequest>(core_.Tick()).size();
  }
  EXPECT_EQ(prepare_resends, 3u) << "PREPARE resent every 5 ticks to the silent branch";
  CoordinatorEffects fx = core_.Tick();  // tick 20: prepare timeout
  EXPECT_EQ(Sent<protocol::CommitReply>(fx)[0].second.outcome, Outcome::kAborted);
  EXPECT_TRUE(core_.View(idle).has_value());
  for (int i = 0; i < 30; ++i) core_.Tick();  // tick 50: transaction timeout
  EXPECT_FALSE(core_.View(idle).has_value());
  EXPECT_EQ(core_.stats().aborted, 2u);
}

TEST(CoordinatorCoreTimeoutTest, EachTransactionTimesOutAfterItsOwnTimeoutUpToTheMaximum) {
  CoordinatorOptions options = Options();
  options.inflight_txns_max = 8;
  options.txn_timeout_ticks = 50;
  options.txn_timeout_ticks_max = 100;
  CoordinatorCore core(options, "c1", 5, {});
  auto begin = [&](uint32_t lease, uint64_t timeout_ticks) {
    auto replies = Sent<protocol::BeginReply>(
        core.Step("k1", protocol::BeginRequest{1, lease, timeout_ticks}));
    EXPECT_EQ(replies.at(0).second.status, protocol::BeginStatus::kOk);
    return replies.at(0).second.txn;
  };
  const TxnId short_one = begin(1, 5);
  const TxnId by_default = begin(1, 0);
  const TxnId long_one = begin(1, 80);
  const TxnId past_maximum = begin(1, 1'000'000);
  const TxnId leased = begin(4, 7);
  // A lease whose every txid is used is gone; its last txid keeps the lease's timeout.
  const TxnId pair_first = begin(2, 3);
  const TxnId pair_second{pair_first.epoch, pair_first.sequence + 1};
  core.Step("p1", protocol::EnlistRequest{0, pair_first, "p1", 1});
  core.Step("p1", protocol::EnlistRequest{0, pair_second, "p1", 1});
  EXPECT_EQ(core.OpenTxns().size(), 6u);
  // Which of them are still open after `ticks` ticks from the begins.
  uint64_t now = 0;
  auto open_after = [&](uint64_t ticks) {
    for (; now < ticks; ++now) core.Tick();
    core.CheckInvariants();
    std::vector<TxnId> open;
    for (const TxnView& view : core.OpenTxns()) open.push_back(view.txn);
    return open;
  };
  using V = std::vector<TxnId>;
  EXPECT_EQ(open_after(4), (V{short_one, by_default, long_one, past_maximum}))
      << "the pair's timeout, 3 ticks, has passed";
  // The lease's timeout counts from the leased txid's first use, not from the lease.
  core.Step("p1", protocol::EnlistRequest{0, leased, "p1", 1});
  EXPECT_EQ(open_after(5), (V{by_default, long_one, past_maximum, leased}));
  EXPECT_EQ(open_after(10), (V{by_default, long_one, past_maximum, leased}));
  EXPECT_EQ(open_after(11), (V{by_default, long_one, past_maximum}));
  EXPECT_EQ(open_after(49), (V{by_default, long_one, past_maximum}));
  EXPECT_EQ(open_after(50), (V{long_one, past_maximum}));
  EXPECT_EQ(open_after(79), (V{long_one, past_maximum}));
  EXPECT_EQ(open_after(80), (V{past_maximum}));
  EXPECT_EQ(open_after(99), (V{past_maximum}));
  EXPECT_EQ(open_after(100), V{});
  EXPECT_EQ(core.stats().aborted, 7u);
}

TEST_F(CoordinatorCoreTest, ChosenDecisionIsNeverAbandoned) {
  const TxnId t = Begin();
  Enlist(t, "p1");
  Enlist(t, "p2");
  Step("k1", protocol::CommitRequest{t});
  CastVote(t, 1, Vote::kYes);
  CastVote(t, 2, Vote::kYes);
  for (int i = 0; i < 500; ++i) core_.Tick();
  EXPECT_EQ(core_.View(t)->state, TxnState::kDeciding);
  EXPECT_EQ(Sent<protocol::AbortReply>(Step("k1", protocol::AbortRequest{t}))[0].second.outcome,
            Outcome::kUnknown);
  EXPECT_EQ(
      Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, t}))[0].second.outcome,
      Outcome::kUnknown);
}

TEST_F(CoordinatorCoreTest, AClientAskingLongAfterTheEndHearsTheOutcome) {
  // Thousands of transactions later (a client whose reply was lost retries late), the
  // answer is still certain: one-phase commit, two-phase commit, abort, read-only.
  auto commit = [&](const TxnId& t) {
    return Sent<protocol::CommitReply>(Step("k1", protocol::CommitRequest{t}));
  };
  const TxnId one_phase = Begin();
  Enlist(one_phase, "p1");
  commit(one_phase);
  Step("p1", protocol::AckReply{5, BranchId{one_phase, 1}, Outcome::kCommitted});
  const TxnId aborted = Begin();
  Step("k1", protocol::AbortRequest{aborted});
  const TxnId two_phase = Begin();
  Enlist(two_phase, "p1");
  Enlist(two_phase, "p2");
  commit(two_phase);
  CastVote(two_phase, 1, Vote::kYes);
  CastVote(two_phase, 2, Vote::kYes);
  core_.OnChosen(two_phase);
  Step("p1", protocol::AckReply{5, BranchId{two_phase, 1}, Outcome::kCommitted});
  Step("p2", protocol::AckReply{5, BranchId{two_phase, 2}, Outcome::kCommitted});
  ASSERT_FALSE(core_.View(two_phase).has_value());
  for (int i = 0; i < 5000; ++i) Step("k1", protocol::AbortRequest{Begin()});
  EXPECT_EQ(commit(one_phase)[0].second.outcome, Outcome::kCommitted);
  EXPECT_EQ(commit(two_phase)[0].second.outcome, Outcome::kCommitted);
  EXPECT_EQ(commit(aborted)[0].second.outcome, Outcome::kAborted);
  EXPECT_EQ(
      Sent<protocol::AbortReply>(Step("k1", protocol::AbortRequest{two_phase}))[0].second.outcome,
      Outcome::kCommitted);
  // A YES that arrives that late for an aborted transaction is still told to abort.
  EXPECT_EQ(Sent<protocol::BranchAbortRequest>(CastVote(aborted, 1, Vote::kYes)).size(), 1u);
}

TEST_F(CoordinatorCoreTest, LeasedTxidsBeginWhenFirstUsedAndExpireUnused) {
  auto lease = Sent<protocol::BeginReply>(Step("k1", protocol::BeginRequest{1, 4}));
  ASSERT_EQ(lease.size(), 1u);
  ASSERT_EQ(lease[0].second.status, protocol::BeginStatus::kOk);
  ASSERT_EQ(lease[0].second.leased, 4u);
  EXPECT_EQ(lease[0].second.lease_ticks, Options().lease_ticks);
  const TxnId first = lease[0].second.txn;
  auto nth = [&](uint64_t i) { return TxnId{first.epoch, first.sequence + i}; };
  EXPECT_EQ(Begin(), nth(4)) << "a plain begin gets the next txid after the lease";
  EXPECT_EQ(core_.open_txns(), 1u) << "leased txids are not open transactions";

  // Not used yet, a leased txid may still begin: nobody is told ABORTED about it.
  auto asked = Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, nth(0)}));
  EXPECT_EQ(asked[0].second.outcome, Outcome::kUnknown);
  // The first enlistment begins it; the transaction then runs as any other.
  EXPECT_EQ(Enlist(nth(0), "p1"), 1u);
  EXPECT_EQ(core_.View(nth(0))->state, TxnState::kActive);
  Step("k1", protocol::CommitRequest{nth(0)});
  auto ack = Step("p1", protocol::AckReply{5, BranchId{nth(0), 1}, Outcome::kCommitted});
  EXPECT_EQ(Sent<protocol::CommitReply>(ack)[0].second.outcome, Outcome::kCommitted);
  // A commit or an abort as first use: no branch, so committed read-only; aborted.
  EXPECT_EQ(
      Sent<protocol::CommitReply>(Step("k1", protocol::CommitRequest{nth(1)}))[0].second.outcome,
      Outcome::kCommitted);
  EXPECT_EQ(
      Sent<protocol::AbortReply>(Step("k1", protocol::AbortRequest{nth(2)}))[0].second.outcome,
      Outcome::kAborted);

  // The lease expires with nth(3) unused: it aborted, and can no longer begin.
  for (uint64_t i = 0; i < Options().lease_ticks; ++i) core_.Tick();
  core_.CheckInvariants();
  EXPECT_EQ(core_.stats().lease_expired, 1u);
  EXPECT_EQ(Sent<protocol::OutcomeReply>(Step("p1", protocol::OutcomeRequest{5, nth(3)}))[0]
                .second.outcome,
            Outcome::kAborted);
  EXPECT_EQ(
      Sent<protocol::CommitReply>(Step("k1", protocol::CommitRequest{nth(3)}))[0].second.outcome,
      Outcome::kAborted);
  EXPECT_EQ(Enlist(nth(3), "p1"), 0u) << "refused";
  // What was used keeps its outcome.
  EXPECT_EQ(
      Sent<protocol::CommitReply>(Step("k1", protocol::CommitRequest{nth(0)}))[0].second.outcome,
      Outcome::kCommitted);
}

TEST_F(CoordinatorCoreTest, LeasesAreBoundedAndTheirFirstUseRespectsTheInflightLimit) {
  CoordinatorOptions options = Options();
  options.lease_txids_max = 8;
  options.leased_unused_max = 12;
  CoordinatorCore core(options, "c1", 5, {});
  auto lease = [&](uint32_t count) {
    return Sent<protocol::BeginReply>(core.Step("k1", protocol::BeginRequest{1, count}))[0].second;
  };
  const protocol::BeginReply big = lease(100);
  EXPECT_EQ(big.leased, 8u) << "cut to lease_txids_max";
  EXPECT_EQ(lease(5).status, protocol::BeginStatus::kOverloaded) << "13 unused > 12";
  EXPECT_EQ(lease(4).leased, 4u);
  core.CheckInvariants();
  // inflight_txns_max is 3: the fourth first use is refused, and that txid stays usable.
  for (uint64_t i = 0; i < 3; ++i) {
    const TxnId txn{5, big.txn.sequence + i};
    EXPECT_EQ(
        Sent<protocol::EnlistReply>(core.Step("p1", protocol::EnlistRequest{5, txn, "p1", 1}))[0]
            .second.status,
        protocol::EnlistStatus::kEnlisted);
  }
  const TxnId fourth{5, big.txn.sequence + 3};
  EXPECT_EQ(
      Sent<protocol::EnlistReply>(core.Step("p1", protocol::EnlistRequest{5, fourth, "p1", 1}))[0]
          .second.status,
      protocol::EnlistStatus::kOverloaded);
  EXPECT_EQ(Sent<protocol::OutcomeReply>(core.Step("p1", protocol::OutcomeRequest{5, fourth}))[0]
                .second.outcome,
            Outcome::kUnknown);
  core.CheckInvariants();
}

TEST(CoordinatorCoreRestartTest, AnswersFromTheLogsCommitsAfterARestart) {
  CommittedTxns committed;
  committed.Add({4, 7});  // committed and ended before the restart
  CoordinatorCore core(Options(), "c1", 5, {}, std::move(committed));
  core.CheckInvariants();
  auto commit = [&](const TxnId& t) {
    return Sent<protocol::CommitReply>(core.Step("k1", protocol::CommitRequest{t}))[0]
        .second.outcome;
  };
  EXPECT_EQ(commit({4, 7}), Outcome::kCommitted);
  EXPECT_EQ(
      Sent<protocol::AbortReply>(core.Step("k1", protocol::AbortRequest{{4, 7}}))[0].second.outcome,
      Outcome::kCommitted);
  EXPECT_EQ(Sent<protocol::OutcomeReply>(core.Step("p1", protocol::OutcomeRequest{5, {4, 7}}))[0]
                .second.outcome,
            Outcome::kCommitted);
  // No COMMIT in the log: aborted, or committed in one phase or read-only, which leave no
  // COMMIT there. A client is told only what is certain.
  EXPECT_EQ(commit({4, 6}), Outcome::kUnknown);
}

TEST(CoordinatorCoreRestartTest, ResumesUnendedDecisionsAndAbortsOlderEpochs) {
  const CommitDecision d{TxnId{4, 9}, {{1, "p1"}, {2, "p2"}}};
  CoordinatorCore core(Options(), "c1", 5, {d});
  core.CheckInvariants();
  CoordinatorEffects fx = core.Tick();
  for (int i = 0; i < 3 && fx.send.empty(); ++i) fx = core.Tick();
  auto commits = Sent<protocol::BranchCommitRequest>(fx);
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].second.epoch, 5u) << "messages carry the new leader's epoch";
  EXPECT_EQ(Sent<protocol::OutcomeReply>(core.Step("p1", protocol::OutcomeRequest{5, d.txn}))[0]
                .second.outcome,
            Outcome::kCommitted);
  // An unfinished transaction of epoch 4 without a chosen COMMIT: its epoch is closed.
  EXPECT_EQ(Sent<protocol::OutcomeReply>(core.Step("p1", protocol::OutcomeRequest{5, {4, 8}}))[0]
                .second.outcome,
            Outcome::kAborted);
  // But a client is told only what is certain.
  EXPECT_EQ(Sent<protocol::CommitReply>(core.Step("k1", protocol::CommitRequest{{4, 8}}))[0]
                .second.outcome,
            Outcome::kUnknown);
  EXPECT_EQ(
      Sent<protocol::EnlistReply>(core.Step("p1", protocol::EnlistRequest{5, {4, 8}, "p1", 1}))[0]
          .second.status,
      protocol::EnlistStatus::kRefused);
  core.Step("p1", protocol::AckReply{5, BranchId{d.txn, 1}, Outcome::kCommitted});
  fx = core.Step("p2", protocol::AckReply{5, BranchId{d.txn, 2}, Outcome::kCommitted});
  EXPECT_EQ(fx.record_end, std::vector<TxnId>{d.txn});
  core.CheckInvariants();
}

}  // namespace
}  // namespace pact::coordinator
