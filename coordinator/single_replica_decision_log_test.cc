#include "coordinator/single_replica_decision_log.h"

#include <gtest/gtest.h>

#include "common/fault_injecting_file_system.h"

namespace pact::coordinator {
namespace {

wal::LogOptions Options() {
  wal::LogOptions o;
  o.dir = "/coord/decisions";
  o.segment_bytes_max = 4096;
  return o;
}

std::unique_ptr<SingleReplicaDecisionLog> Open(FaultInjectingFileSystem* fs) {
  auto log = SingleReplicaDecisionLog::Open(fs, Options());
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return std::move(log).value();
}

CommitDecision Decision(uint64_t epoch, uint64_t seq) {
  return CommitDecision{TxnId{epoch, seq}, {{1, "p1"}, {2, "p2"}}};
}

TEST(SingleReplicaDecisionLogTest, EveryStartIsANewDurableEpoch) {
  FaultInjectingFileSystem fs(7);
  EXPECT_EQ(Open(&fs)->epoch(), 1u);
  fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kLose);
  EXPECT_EQ(Open(&fs)->epoch(), 2u);
  EXPECT_EQ(Open(&fs)->epoch(), 3u);
}

TEST(SingleReplicaDecisionLogTest, ChosenOnlyOnceDurable) {
  FaultInjectingFileSystem fs(7);
  auto log = Open(&fs);
  ASSERT_TRUE(log->Propose(Decision(1, 1)).ok());
  ASSERT_TRUE(log->Propose(Decision(1, 2)).ok());
  ASSERT_TRUE(log->Propose(Decision(1, 1)).ok());  // a repeat is a no-op
  EXPECT_FALSE(log->IsChosen(TxnId{1, 1}));
  EXPECT_TRUE(log->TakeChosen().empty());
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(log->TakeChosen(), (std::vector<TxnId>{{1, 1}, {1, 2}}));
  EXPECT_TRUE(log->IsChosen(TxnId{1, 2}));
  ASSERT_TRUE(log->RecordEnd(TxnId{1, 1}).ok());
  ASSERT_TRUE(log->Propose(Decision(1, 3)).ok());  // never flushed
  log.reset();
  fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kLose);
  // The lost END only means 1.1 is driven once more; 1.3 was never chosen.
  log = Open(&fs);
  EXPECT_EQ(log->epoch(), 2u);
  EXPECT_EQ(log->unended(), (std::vector<CommitDecision>{Decision(1, 1), Decision(1, 2)}));
  ASSERT_TRUE(log->RecordEnd(TxnId{1, 1}).ok());
  ASSERT_TRUE(log->Flush().ok());  // nothing pending: END stays lazy
  ASSERT_TRUE(log->log().WaitDurable(log->log().last_lsn()).ok());
  log.reset();
  log = Open(&fs);
  EXPECT_EQ(log->unended(), (std::vector<CommitDecision>{Decision(1, 2)}));
}

TEST(SingleReplicaDecisionLogTest, TornTailsNeverInventOrLoseChosenDecisions) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    FaultInjectingFileSystem fs(seed);
    auto log = Open(&fs);
    for (uint64_t seq = 1; seq <= 20; ++seq) {
      ASSERT_TRUE(log->Propose(Decision(1, seq)).ok());
      if (seq % 3 == 0) {
        ASSERT_TRUE(log->Flush().ok());
      }
    }
    log.reset();
    fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kTearUnsynced);
    log = Open(&fs);
    // 1..18 were flushed (chosen); 19 and 20 may or may not survive, in order.
    const auto& unended = log->unended();
    ASSERT_GE(unended.size(), 18u) << seed;
    ASSERT_LE(unended.size(), 20u) << seed;
    for (size_t i = 0; i < unended.size(); ++i) {
      EXPECT_EQ(unended[i], Decision(1, i + 1));
    }
  }
}

}  // namespace
}  // namespace pact::coordinator
