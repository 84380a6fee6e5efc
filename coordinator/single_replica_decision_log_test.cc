#include "coordinator/single_replica_decision_log.h"

#include <gtest/gtest.h>

#include <thread>

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
  // Ended or not, every chosen COMMIT is in the committed set; the lost proposal is not.
  CommittedTxns committed = log->TakeCommitted();
  EXPECT_EQ(committed.size(), 2u);
  EXPECT_TRUE(committed.Contains({1, 1}));
  EXPECT_TRUE(committed.Contains({1, 2}));
  EXPECT_FALSE(committed.Contains({1, 3}));
  EXPECT_EQ(log->TakeCommitted().size(), 0u) << "moved out";
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

// The split flush that lets the driver wait for the disk without holding its lock: nothing is
// chosen until the wait has made it durable and FinishFlush ran, and two proposals appended
// before one wait are made durable by one fsync.
TEST(SingleReplicaDecisionLogTest, SplitFlushChoosesOnlyAfterTheWaitAndSharesOneFsync) {
  FaultInjectingFileSystem fs(7);
  auto log = Open(&fs);
  EXPECT_TRUE(log->StartFlush().empty()) << "nothing proposed, nothing to flush";
  ASSERT_TRUE(log->Propose(Decision(1, 1)).ok());
  const FlushTicket first = log->StartFlush();
  ASSERT_TRUE(log->Propose(Decision(1, 2)).ok());
  const FlushTicket second = log->StartFlush();
  ASSERT_FALSE(first.empty());
  ASSERT_LT(first.position, second.position);

  const uint64_t syncs = fs.sync_count();
  ASSERT_TRUE(log->WaitFlush(second).ok());
  EXPECT_EQ(fs.sync_count(), syncs + 1);
  ASSERT_TRUE(log->WaitFlush(first).ok()) << "covered by the wait for the later ticket";
  EXPECT_EQ(fs.sync_count(), syncs + 1) << "both proposals shared one fsync";
  // Durable, but chosen only once a FinishFlush (under the driver's lock) says so.
  EXPECT_FALSE(log->IsChosen(TxnId{1, 1}));
  EXPECT_TRUE(log->TakeChosen().empty());

  log->FinishFlush(first);
  EXPECT_EQ(log->TakeChosen(), (std::vector<TxnId>{{1, 1}}));
  EXPECT_TRUE(log->IsChosen(TxnId{1, 1}));
  EXPECT_FALSE(log->IsChosen(TxnId{1, 2})) << "a later proposal waits for its own ticket";
  log->FinishFlush(second);
  log->FinishFlush(first);  // finishing twice is harmless
  EXPECT_EQ(log->TakeChosen(), (std::vector<TxnId>{{1, 2}}));
  EXPECT_TRUE(log->IsChosen(TxnId{1, 2}));
  EXPECT_EQ(log->pending(), 0u);
  EXPECT_EQ(fs.sync_count(), syncs + 1);
}

TEST(SingleReplicaDecisionLogTest, FinishingAFlushThatWasNotWaitedForIsABug) {
  FaultInjectingFileSystem fs(7);
  auto log = Open(&fs);
  ASSERT_TRUE(log->Propose(Decision(1, 1)).ok());
  const FlushTicket ticket = log->StartFlush();
  EXPECT_DEATH(log->FinishFlush(ticket), "finished, durable only to");
}

// Waits from several threads at once (the driver's callers, each without the driver's lock)
// take part in the WAL's group commit and all return once their proposals are durable.
TEST(SingleReplicaDecisionLogTest, ConcurrentWaitsAllSucceed) {
  FaultInjectingFileSystem fs(7);
  auto log = Open(&fs);
  constexpr int kThreads = 8;
  std::vector<FlushTicket> tickets;
  for (int i = 1; i <= kThreads; ++i) {
    ASSERT_TRUE(log->Propose(Decision(1, i)).ok());
    tickets.push_back(log->StartFlush());
  }
  const uint64_t syncs = fs.sync_count();
  std::vector<std::thread> threads;
  std::vector<Status> results(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[i] = log->WaitFlush(tickets[i]); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
  // Every proposal was appended before the first wait began: its fsync covered them all.
  EXPECT_EQ(fs.sync_count(), syncs + 1);
  for (const FlushTicket& ticket : tickets) log->FinishFlush(ticket);
  EXPECT_EQ(log->TakeChosen().size(), static_cast<size_t>(kThreads));
}

TEST(SingleReplicaDecisionLogTest, AFailedWaitChoosesNothing) {
  FaultInjectingFileSystem fs(7);
  auto log = Open(&fs);
  ASSERT_TRUE(log->Propose(Decision(1, 1)).ok());
  fs.FailSyncs(1);
  const FlushTicket ticket = log->StartFlush();
  EXPECT_FALSE(log->WaitFlush(ticket).ok());
  EXPECT_FALSE(log->Flush().ok()) << "a failed fsync is fatal: the log never recovers";
  EXPECT_FALSE(log->IsChosen(TxnId{1, 1}));
  EXPECT_TRUE(log->TakeChosen().empty());
}

}  // namespace
}  // namespace pact::coordinator
