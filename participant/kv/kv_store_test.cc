// KvStore: branch operations, isolation, locking, restart, checkpoints, limits and failures,
// on the in-memory FaultInjectingFileSystem. Crash enumeration is in kv_store_crash_test.cc.
#include "participant/kv/kv_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <thread>

#include "common/clock.h"
#include "common/fault_injecting_file_system.h"
#include "common/random.h"
#include "participant/kv/kv_test_util.h"

namespace pact {
namespace {

using Mode = FaultInjectingFileSystem::UnsyncedOnCrash;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

BranchId Br(uint64_t sequence) { return BranchId{{1, sequence}, 1}; }

std::optional<std::string> Some(std::string value) { return value; }
const std::optional<std::string> kAbsent;

class KvStoreTest : public ::testing::Test {
 protected:
  KvStoreTest() {
    options_.dir = "/data/kv";
    options_.key_bytes_max = 64;
    options_.value_bytes_max = 256;
    options_.write_set_bytes_max = 4096;
    options_.read_set_keys_max = 1000;
    options_.scan_entries_max = 100;
    options_.branches_max = 16;
    options_.lock_wait_ms = 50;
    options_.checkpoint_log_bytes = 0;  // tests checkpoint explicitly unless they say otherwise
    options_.log_segment_bytes_max = 1024;
  }

  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    Result<std::unique_ptr<KvStore>> store = KvStore::Open(fs_, options_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  // A crash loses what was not synced; then the store is opened again.
  void CrashAndReopen(Mode mode = Mode::kLose) {
    store_.reset();
    fault_fs_.Crash(mode);
    Open();
  }

  // Commits {key: value} in a branch of its own (an empty value deletes).
  void CommitWrites(uint64_t sequence, const std::map<std::string, std::string>& writes) {
    ASSERT_TRUE(store_->BeginBranch(Br(sequence)).ok());
    for (const auto& [key, value] : writes) {
      Status status =
          value.empty() ? store_->Delete(Br(sequence), key) : store_->Put(Br(sequence), key, value);
      ASSERT_TRUE(status.ok()) << status.ToString();
    }
    Result<PrepareResult> prepared = store_->Prepare(Br(sequence));
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    ASSERT_EQ(*prepared, PrepareResult::kPrepared);
    Status commit = store_->CommitPrepared(Br(sequence));
    ASSERT_TRUE(commit.ok()) << commit.ToString();
    store_->CheckInvariants();
  }

  std::optional<std::string> Committed(std::string_view key) {
    Result<std::optional<std::string>> value = store_->GetCommitted(key);
    EXPECT_TRUE(value.ok()) << value.status().ToString();
    return value.ok() ? *value : std::nullopt;
  }

  std::vector<KvEntry> ScanAll(const BranchId& branch, std::string_view start = "",
                               std::string_view end = "", uint64_t limit = 100) {
    Result<std::vector<KvEntry>> entries = store_->Scan(branch, start, end, limit);
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    return entries.ok() ? *entries : std::vector<KvEntry>{};
  }

  FaultInjectingFileSystem fault_fs_{/*seed=*/3};
  FileSystem* fs_ = &fault_fs_;
  KvOptions options_;
  std::unique_ptr<KvStore> store_;
};

// --- Reads and writes in a branch ------------------------------------------------------------

TEST_F(KvStoreTest, PutGetDeleteReadYourWrites) {
  ASSERT_TRUE(store_->BeginBranch(Br(1)).ok());
  EXPECT_EQ(*store_->Get(Br(1), "a"), kAbsent);
  ASSERT_TRUE(store_->Put(Br(1), "a", "1").ok());
  EXPECT_EQ(*store_->Get(Br(1), "a"), Some("1"));
  ASSERT_TRUE(store_->Put(Br(1), "a", "2").ok());
  EXPECT_EQ(*store_->Get(Br(1), "a"), Some("2"));
  ASSERT_TRUE(store_->Delete(Br(1), "a").ok());
  EXPECT_EQ(*store_->Get(Br(1), "a"), kAbsent);
  ASSERT_TRUE(store_->Put(Br(1), "b", "").ok());  // an empty value is a value
  EXPECT_EQ(*store_->Get(Br(1), "b"), Some(""));
  EXPECT_EQ(Committed("b"), kAbsent);
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, OtherBranchesDoNotSeeUncommittedWrites) {
  CommitWrites(1, {{"k", "old"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "k", "new").ok());
  ASSERT_TRUE(store_->Put(Br(2), "x", "1").ok());
  EXPECT_EQ(*store_->Get(Br(3), "k"), Some("old"));
  EXPECT_EQ(*store_->Get(Br(3), "x"), kAbsent);
  EXPECT_EQ(ScanAll(Br(3)), (std::vector<KvEntry>{{"k", "old"}}));
  EXPECT_EQ(Committed("k"), Some("old"));
  // Prepared is still not committed.
  ASSERT_EQ(*store_->Prepare(Br(2)), PrepareResult::kPrepared);
  EXPECT_EQ(Committed("x"), kAbsent);
  EXPECT_EQ(*store_->ScanCommitted("", "", 10), (std::vector<KvEntry>{{"k", "old"}}));
}

TEST_F(KvStoreTest, ScanMergesTheBranchsWritesInKeyOrder) {
  CommitWrites(1, {{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "a", "1'").ok());
  ASSERT_TRUE(store_->Put(Br(2), "bb", "new").ok());
  ASSERT_TRUE(store_->Delete(Br(2), "c").ok());
  ASSERT_TRUE(store_->Put(Br(2), "e", "5").ok());
  EXPECT_EQ(ScanAll(Br(2)),
            (std::vector<KvEntry>{{"a", "1'"}, {"b", "2"}, {"bb", "new"}, {"d", "4"}, {"e", "5"}}));
  EXPECT_EQ(ScanAll(Br(2), "b", "d"), (std::vector<KvEntry>{{"b", "2"}, {"bb", "new"}}));
  EXPECT_EQ(ScanAll(Br(2), "bb", "", 2), (std::vector<KvEntry>{{"bb", "new"}, {"d", "4"}}));
  EXPECT_EQ(ScanAll(Br(2), "", "", 1), (std::vector<KvEntry>{{"a", "1'"}}));
  EXPECT_EQ(ScanAll(Br(2), "f"), std::vector<KvEntry>{});
  EXPECT_EQ(*store_->ScanCommitted("b", "", 2), (std::vector<KvEntry>{{"b", "2"}, {"c", "3"}}));
}

// --- Two-phase commit ------------------------------------------------------------------------

TEST_F(KvStoreTest, PrepareThenCommitApplies) {
  ASSERT_TRUE(store_->BeginBranch(Br(1)).ok());
  ASSERT_TRUE(store_->Put(Br(1), "a", "1").ok());
  ASSERT_TRUE(store_->Put(Br(1), "b", "2").ok());
  const uint64_t syncs = fault_fs_.sync_count();
  ASSERT_EQ(*store_->Prepare(Br(1)), PrepareResult::kPrepared);
  EXPECT_GT(fault_fs_.sync_count(), syncs) << "prepare must fsync before it returns";
  EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(1)});
  EXPECT_EQ(Committed("a"), kAbsent);
  EXPECT_EQ(store_->Stats().locked_keys, 2u);
  store_->CheckInvariants();

  ASSERT_TRUE(store_->CommitPrepared(Br(1)).ok());
  EXPECT_EQ(Committed("a"), Some("1"));
  EXPECT_EQ(Committed("b"), Some("2"));
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(store_->Stats().locked_keys, 0u);
  EXPECT_EQ(store_->Get(Br(1), "a").status().code(), StatusCode::kNotFound);  // finished
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, CommitAppliesDeletes) {
  CommitWrites(1, {{"a", "1"}, {"b", "2"}});
  CommitWrites(2, {{"a", ""}});
  EXPECT_EQ(Committed("a"), kAbsent);
  EXPECT_EQ(Committed("b"), Some("2"));
}

TEST_F(KvStoreTest, RollbackDiscardsActiveAndPreparedBranches) {
  CommitWrites(1, {{"a", "1"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "a", "2").ok());
  ASSERT_TRUE(store_->Rollback(Br(2)).ok());
  EXPECT_EQ(store_->Get(Br(2), "a").status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());
  ASSERT_TRUE(store_->Put(Br(3), "a", "3").ok());
  ASSERT_EQ(*store_->Prepare(Br(3)), PrepareResult::kPrepared);
  ASSERT_TRUE(store_->Rollback(Br(3)).ok());
  EXPECT_EQ(Committed("a"), Some("1"));
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(store_->Stats().locked_keys, 0u);
  // The rollback is durable.
  CrashAndReopen();
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(Committed("a"), Some("1"));
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, BranchThatOnlyReadIsReadOnly) {
  CommitWrites(1, {{"a", "1"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(*store_->Get(Br(2), "a"), Some("1"));
  EXPECT_EQ(ScanAll(Br(2)).size(), 1u);
  const wal::Lsn last = store_->Stats().log_last_lsn;
  ASSERT_EQ(*store_->Prepare(Br(2)), PrepareResult::kReadOnly);
  EXPECT_EQ(store_->Stats().log_last_lsn, last) << "a read-only branch writes no record";
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(store_->CommitPrepared(Br(2)).code(), StatusCode::kNotFound);  // finished
}

TEST_F(KvStoreTest, UnknownDuplicateAndMisplacedCalls) {
  EXPECT_EQ(store_->CommitPrepared(Br(9)).code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Rollback(Br(9)).ok());
  EXPECT_EQ(store_->Prepare(Br(9)).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Put(Br(9), "a", "1").code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->BeginBranch(Br(1)).ok());
  EXPECT_EQ(store_->BeginBranch(Br(1)).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->Put(Br(1), "a", "1").ok());
  EXPECT_EQ(store_->CommitPrepared(Br(1)).code(), StatusCode::kFailedPrecondition);  // active
  ASSERT_EQ(*store_->Prepare(Br(1)), PrepareResult::kPrepared);
  EXPECT_EQ(*store_->Prepare(Br(1)), PrepareResult::kPrepared);  // a repeated PREPARE
  EXPECT_EQ(store_->Put(Br(1), "b", "1").code(), StatusCode::kFailedPrecondition);  // frozen
  EXPECT_EQ(store_->Get(Br(1), "a").status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->CommitPrepared(Br(1)).ok());
  EXPECT_EQ(store_->CommitPrepared(Br(1)).code(), StatusCode::kNotFound);  // a duplicate COMMIT
  EXPECT_TRUE(store_->Rollback(Br(1)).ok());
  EXPECT_EQ(Committed("a"), Some("1"));
  EXPECT_EQ(store_->BeginBranch(BranchId{}).code(), StatusCode::kInvalidArgument);
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, BranchesMaxIsOverloaded) {
  for (uint64_t i = 1; i <= options_.branches_max; ++i)
    ASSERT_TRUE(store_->BeginBranch(Br(i)).ok());
  EXPECT_EQ(store_->BeginBranch(Br(100)).code(), StatusCode::kOverloaded);
  ASSERT_TRUE(store_->Rollback(Br(1)).ok());
  EXPECT_TRUE(store_->BeginBranch(Br(100)).ok());
}

// --- Locks -----------------------------------------------------------------------------------

// Prepares a branch that writes `key`.
void PrepareWriter(KvStore* store, const BranchId& branch, std::string_view key) {
  ASSERT_TRUE(store->BeginBranch(branch).ok());
  ASSERT_TRUE(store->Put(branch, key, "prepared").ok());
  ASSERT_EQ(*store->Prepare(branch), PrepareResult::kPrepared);
}

TEST_F(KvStoreTest, PreparedBranchBlocksConflictingWriterUntilTimeout) {
  CommitWrites(1, {{"k", "0"}, {"other", "0"}});
  PrepareWriter(store_.get(), Br(2), "k");
  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());

  const auto start = steady_clock::now();
  Status put = store_->Put(Br(3), "k", "mine");
  EXPECT_GE(steady_clock::now() - start, milliseconds(options_.lock_wait_ms));
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("locked by prepared branch 1.2/1"), std::string::npos)
      << put.ToString();
  EXPECT_EQ(store_->Delete(Br(3), "k").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Get(Br(3), "k").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Scan(Br(3), "a", "z", 10).status().code(), StatusCode::kUnavailable);
  // Outside the lock, the branch goes on; committed reads never wait.
  EXPECT_TRUE(store_->Put(Br(3), "other", "mine").ok());
  EXPECT_EQ(*store_->Get(Br(3), "other"), Some("mine"));
  EXPECT_EQ(ScanAll(Br(3), "l"), (std::vector<KvEntry>{{"other", "mine"}}));
  EXPECT_EQ(Committed("k"), Some("0"));
  ASSERT_EQ(*store_->Prepare(Br(3)), PrepareResult::kPrepared);
  store_->CheckInvariants();
}

// Lock waits run on the store's Clock: with a ManualClock they end when it is advanced.
TEST_F(KvStoreTest, LockWaitEndsWhenTheClockSaysSo) {
  ManualClock clock;
  options_.clock = &clock;
  options_.lock_wait_ms = 60'000;
  Open();
  PrepareWriter(store_.get(), Br(1), "k");
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  std::atomic<bool> done = false;
  Status put;
  std::thread writer([&] {
    put = store_->Put(Br(2), "k", "v");
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(done) << "gave up before the clock moved";
  clock.AdvanceMicros(59'999'000);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(done) << "gave up before lock_wait_ms passed";
  clock.AdvanceMicros(1'000);
  writer.join();
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.ToString();
  EXPECT_NE(put.message().find("60000 ms"), std::string::npos) << put.ToString();
}

TEST_F(KvStoreTest, ZeroLockWaitFailsAtOnce) {
  options_.lock_wait_ms = 0;
  Open();
  PrepareWriter(store_.get(), Br(1), "k");
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(store_->Put(Br(2), "k", "v").code(), StatusCode::kUnavailable);
}

// A writer blocked by a prepared branch proceeds once it ends, by `end`.
void ExpectWriterProceedsAfter(KvStore* store, const std::function<Status()>& end) {
  PrepareWriter(store, Br(2), "k");
  ASSERT_TRUE(store->BeginBranch(Br(3)).ok());
  std::atomic<bool> done = false;
  Status put;
  std::thread writer([&] {
    put = store->Put(Br(3), "k", "writer");
    done = true;
  });
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(done) << "the writer did not wait for the prepared branch";
  ASSERT_TRUE(end().ok());
  writer.join();
  ASSERT_TRUE(put.ok()) << put.ToString();
  ASSERT_EQ(*store->Prepare(Br(3)), PrepareResult::kPrepared);
  ASSERT_TRUE(store->CommitPrepared(Br(3)).ok());
  EXPECT_EQ(*store->GetCommitted("k"), Some("writer"));
  EXPECT_EQ(store->Stats().locked_keys, 0u);
  store->CheckInvariants();
}

TEST_F(KvStoreTest, WriterProceedsAfterCommit) {
  options_.lock_wait_ms = 10'000;
  Open();
  ExpectWriterProceedsAfter(store_.get(), [&] { return store_->CommitPrepared(Br(2)); });
}

TEST_F(KvStoreTest, WriterProceedsAfterRollback) {
  options_.lock_wait_ms = 10'000;
  Open();
  ExpectWriterProceedsAfter(store_.get(), [&] { return store_->Rollback(Br(2)); });
}

TEST_F(KvStoreTest, ReaderWaitsAndSeesTheCommittedValue) {
  options_.lock_wait_ms = 10'000;
  Open();
  CommitWrites(1, {{"k", "0"}});
  PrepareWriter(store_.get(), Br(2), "k");
  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());
  Result<std::optional<std::string>> read = Status::Unavailable("not yet");
  std::thread reader([&] { read = store_->Get(Br(3), "k"); });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(store_->CommitPrepared(Br(2)).ok());
  reader.join();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, Some("prepared"));
  // It read after the commit: no conflict.
  ASSERT_TRUE(store_->Put(Br(3), "k", "next").ok());
  EXPECT_EQ(*store_->Prepare(Br(3)), PrepareResult::kPrepared);
}

TEST_F(KvStoreTest, PrepareOfAConflictingWriterTimesOutAndRollsBack) {
  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());
  ASSERT_TRUE(store_->Put(Br(3), "k", "early").ok());  // buffered before the lock existed
  PrepareWriter(store_.get(), Br(2), "k");
  Result<PrepareResult> prepared = store_->Prepare(Br(3));
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), StatusCode::kAborted) << prepared.status().ToString();
  EXPECT_NE(prepared.status().message().find("rolled back"), std::string::npos);
  EXPECT_EQ(store_->Put(Br(3), "x", "1").code(), StatusCode::kNotFound);  // gone
  EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(2)});
  store_->CheckInvariants();
}

// --- Serializability -------------------------------------------------------------------------

TEST_F(KvStoreTest, ReadChangedByACommitAbortsPrepare) {
  CommitWrites(1, {{"balance", "10"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(*store_->Get(Br(2), "balance"), Some("10"));
  CommitWrites(3, {{"balance", "15"}});  // commits in between
  ASSERT_TRUE(store_->Put(Br(2), "balance", "11").ok());
  Result<PrepareResult> prepared = store_->Prepare(Br(2));
  EXPECT_EQ(prepared.status().code(), StatusCode::kAborted) << prepared.status().ToString();
  EXPECT_EQ(Committed("balance"), Some("15")) << "a lost update";
}

TEST_F(KvStoreTest, ReadOfAMissingKeyThatACommitCreatesAbortsPrepare) {
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(*store_->Get(Br(2), "k"), kAbsent);
  CommitWrites(3, {{"k", "1"}});
  ASSERT_TRUE(store_->Put(Br(2), "other", "1").ok());
  EXPECT_EQ(store_->Prepare(Br(2)).status().code(), StatusCode::kAborted);
}

TEST_F(KvStoreTest, PhantomInAScannedRangeAbortsPrepare) {
  CommitWrites(1, {{"a", "1"}, {"c", "3"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(ScanAll(Br(2), "a", "d").size(), 2u);
  CommitWrites(3, {{"b", "2"}});  // appears inside the scanned range
  ASSERT_TRUE(store_->Put(Br(2), "z", "count=2").ok());
  EXPECT_EQ(store_->Prepare(Br(2)).status().code(), StatusCode::kAborted);

  // Deletions in the range count too.
  ASSERT_TRUE(store_->BeginBranch(Br(4)).ok());
  EXPECT_EQ(ScanAll(Br(4), "a", "d").size(), 3u);
  CommitWrites(5, {{"c", ""}});
  ASSERT_TRUE(store_->Put(Br(4), "z", "count=3").ok());
  EXPECT_EQ(store_->Prepare(Br(4)).status().code(), StatusCode::kAborted);
}

TEST_F(KvStoreTest, ChangesOutsideTheScannedPageDoNotConflict) {
  CommitWrites(1, {{"a", "1"}, {"b", "2"}, {"c", "3"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(ScanAll(Br(2), "a", "", 2).size(), 2u);  // a, b: depends on [a, b] only
  CommitWrites(3, {{"c", "30"}, {"d", "4"}, {"0", "0"}});
  ASSERT_TRUE(store_->Put(Br(2), "z", "1").ok());
  EXPECT_EQ(*store_->Prepare(Br(2)), PrepareResult::kPrepared);
}

TEST_F(KvStoreTest, BlindWritesDoNotConflictAndTheLaterCommitWins) {
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "k", "second").ok());
  CommitWrites(3, {{"k", "first"}});
  ASSERT_EQ(*store_->Prepare(Br(2)), PrepareResult::kPrepared);
  ASSERT_TRUE(store_->CommitPrepared(Br(2)).ok());
  EXPECT_EQ(Committed("k"), Some("second"));
}

TEST_F(KvStoreTest, ReadOnlyBranchIsValidatedToo) {
  CommitWrites(1, {{"a", "1"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  EXPECT_EQ(*store_->Get(Br(2), "a"), Some("1"));
  CommitWrites(3, {{"a", "2"}});
  EXPECT_EQ(store_->Prepare(Br(2)).status().code(), StatusCode::kAborted);
}

// Transfers between counters from several threads: with lost updates the total would drift.
TEST_F(KvStoreTest, ConcurrentTransfersKeepTheTotal) {
  options_.lock_wait_ms = 200;
  options_.checkpoint_log_bytes = 2048;  // checkpoints run inside commits, concurrently
  Open();
  constexpr int kCounters = 4;
  constexpr int kThreads = 4;
  constexpr int kTransfersPerThread = 60;
  std::map<std::string, std::string> initial;
  for (int i = 0; i < kCounters; ++i) initial["counter" + std::to_string(i)] = "100";
  CommitWrites(1, initial);

  std::atomic<uint64_t> next_sequence = 100;
  std::atomic<int> committed = 0;
  std::atomic<int> conflicts = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Random random(t + 1);
      for (int done = 0; done < kTransfersPerThread;) {
        const BranchId branch = Br(next_sequence++);
        const std::string from = "counter" + std::to_string(random.Uniform(kCounters));
        const std::string to = "counter" + std::to_string(random.Uniform(kCounters));
        ASSERT_TRUE(store_->BeginBranch(branch).ok());
        Result<std::optional<std::string>> a = store_->Get(branch, from);
        Result<std::optional<std::string>> b = store_->Get(branch, to);
        Status status = a.ok() ? b.status() : a.status();
        if (status.ok() && from != to) {
          status = store_->Put(branch, from, std::to_string(std::stoi(**a) - 1));
          if (status.ok()) status = store_->Put(branch, to, std::to_string(std::stoi(**b) + 1));
        }
        Result<PrepareResult> prepared =
            status.ok() ? store_->Prepare(branch) : Result<PrepareResult>(status);
        if (!prepared.ok()) {
          ASSERT_TRUE(prepared.status().code() == StatusCode::kAborted ||
                      prepared.status().code() == StatusCode::kUnavailable)
              << prepared.status().ToString();
          ASSERT_TRUE(store_->Rollback(branch).ok());
          ++conflicts;
          continue;
        }
        if (*prepared == PrepareResult::kPrepared) {
          Status commit = store_->CommitPrepared(branch);
          ASSERT_TRUE(commit.ok()) << commit.ToString();
        }
        ++committed;
        ++done;
      }
    });
  }
  std::thread checkpointer([&] {
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(store_->Checkpoint().ok());
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  for (std::thread& thread : threads) thread.join();
  checkpointer.join();
  store_->CheckInvariants();

  const auto total = [&] {
    int sum = 0;
    const std::vector<KvEntry> entries = *store_->ScanCommitted("counter", "counter~", 100);
    for (const KvEntry& entry : entries) {
      sum += std::stoi(entry.value);
    }
    return sum;
  };
  EXPECT_EQ(total(), 100 * kCounters);
  EXPECT_EQ(committed, kThreads * kTransfersPerThread);
  CrashAndReopen();
  EXPECT_EQ(total(), 100 * kCounters);
  RecordProperty("conflicts", conflicts.load());
}

// --- Restart ---------------------------------------------------------------------------------

TEST_F(KvStoreTest, RestartKeepsCommittedDataAndRestoresPreparedBranchesWithLocks) {
  CommitWrites(1, {{"a", "1"}, {"b", "2"}});
  CommitWrites(2, {{"b", ""}, {"c", "3"}});
  ASSERT_TRUE(store_->BeginBranch(Br(3)).ok());
  ASSERT_TRUE(store_->Put(Br(3), "a", "prepared").ok());
  ASSERT_TRUE(store_->Delete(Br(3), "c").ok());
  ASSERT_EQ(*store_->Prepare(Br(3)), PrepareResult::kPrepared);
  ASSERT_TRUE(store_->BeginBranch(Br(4)).ok());  // active: lost in the crash
  ASSERT_TRUE(store_->Put(Br(4), "d", "active").ok());

  CrashAndReopen(Mode::kTearUnsynced);
  store_->CheckInvariants();
  EXPECT_EQ(Committed("a"), Some("1"));
  EXPECT_EQ(Committed("b"), kAbsent);
  EXPECT_EQ(Committed("c"), Some("3"));
  EXPECT_EQ(Committed("d"), kAbsent);
  EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(3)});
  EXPECT_EQ(store_->Prepare(Br(4)).status().code(), StatusCode::kNotFound);  // votes NO
  EXPECT_EQ(store_->Stats().locked_keys, 2u);

  // The restored locks hold.
  ASSERT_TRUE(store_->BeginBranch(Br(5)).ok());
  EXPECT_EQ(store_->Put(Br(5), "c", "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Get(Br(5), "a").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(store_->Rollback(Br(5)).ok());

  ASSERT_TRUE(store_->CommitPrepared(Br(3)).ok());
  EXPECT_EQ(Committed("a"), Some("prepared"));
  EXPECT_EQ(Committed("c"), kAbsent);
  CrashAndReopen();
  EXPECT_EQ(Committed("a"), Some("prepared"));
  EXPECT_EQ(Committed("c"), kAbsent);
  EXPECT_TRUE(store_->ListPrepared()->empty());
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, RollbackOfARestoredBranchIsDurable) {
  CommitWrites(1, {{"a", "1"}});
  PrepareWriter(store_.get(), Br(2), "a");
  CrashAndReopen();
  ASSERT_TRUE(store_->Rollback(Br(2)).ok());
  CrashAndReopen();
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(Committed("a"), Some("1"));
}

// --- Checkpoints -----------------------------------------------------------------------------

TEST_F(KvStoreTest, CheckpointsBoundTheLogAndKeepEverything) {
  options_.checkpoint_log_bytes = 2048;
  Open();
  PrepareWriter(store_.get(), Br(1), "held");  // its PREPARE ends up in a removed segment
  std::map<std::string, std::string> expected;
  for (uint64_t i = 0; i < 300; ++i) {
    const std::string key = "key" + std::to_string(i % 37);
    const std::string value = std::string(i % 50, 'v') + std::to_string(i);
    CommitWrites(100 + i, {{key, value}});
    expected[key] = value;
    EXPECT_LE(store_->Stats().log_segments, 8u) << "the log grows without bound";
  }
  const KvStats stats = store_->Stats();
  EXPECT_GT(stats.checkpoints, 3u);
  EXPECT_GT(stats.log_first_lsn, 1u) << "no segment was ever removed";
  EXPECT_GT(stats.snapshot_lsn, 0u);

  CrashAndReopen(Mode::kTearUnsynced);
  for (const auto& [key, value] : expected) EXPECT_EQ(Committed(key), Some(value)) << key;
  EXPECT_EQ(store_->Stats().committed_keys, expected.size());
  EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(1)});
  ASSERT_TRUE(store_->CommitPrepared(Br(1)).ok());
  EXPECT_EQ(Committed("held"), Some("prepared"));
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, ExplicitCheckpointOfAnEmptyStore) {
  ASSERT_TRUE(store_->Checkpoint().ok());
  CrashAndReopen();
  EXPECT_EQ(store_->Stats().committed_keys, 0u);
  ASSERT_TRUE(store_->Checkpoint().ok());
}

// Checkpoint's syncs: 1 the snapshot temp file, 2 the store directory after the rename, 3 the
// WAL directory after removing segments. Failing any one of them is reported, is not fatal, and
// loses nothing, whether the machine then crashes or not.
TEST_F(KvStoreTest, CheckpointSurvivesAFailedSyncAtEachStep) {
  for (uint64_t failing = 1; failing <= 3; ++failing) {
    for (Mode mode : {Mode::kLose, Mode::kTearUnsynced}) {
      SCOPED_TRACE(testing::Message() << "failing sync " << failing);
      FaultInjectingFileSystem inner(failing);
      kv_test::CrashingFileSystem crashing(&inner);
      fs_ = &crashing;
      options_.dir = "/kv" + std::to_string(failing);
      Open();
      for (uint64_t i = 0; i < 30; ++i) CommitWrites(i + 1, {{"k" + std::to_string(i), "v"}});
      PrepareWriter(store_.get(), Br(99), "held");
      crashing.FailSyncAt(crashing.syncs() + failing);
      Status checkpoint = store_->Checkpoint();
      EXPECT_EQ(checkpoint.code(), StatusCode::kIoError) << checkpoint.ToString();
      EXPECT_FALSE(store_->Stats().failed);
      CommitWrites(50, {{"after", "checkpoint"}});  // the store goes on
      store_.reset();
      inner.Crash(mode);
      fs_ = &inner;
      Open();
      for (uint64_t i = 0; i < 30; ++i) EXPECT_EQ(Committed("k" + std::to_string(i)), Some("v"));
      EXPECT_EQ(Committed("after"), Some("checkpoint"));
      EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(99)});
      ASSERT_TRUE(store_->Checkpoint().ok());  // and a later one succeeds
      store_.reset();
    }
  }
}

TEST_F(KvStoreTest, CorruptSnapshotRefusesToOpen) {
  CommitWrites(1, {{"a", "1"}});
  ASSERT_TRUE(store_->Checkpoint().ok());
  store_.reset();
  const std::string snapshot = "/data/kv/snapshot";
  Result<uint64_t> size = fault_fs_.FileSize(snapshot);
  ASSERT_TRUE(size.ok());
  for (uint64_t offset : {uint64_t{0}, uint64_t{9}, *size / 2, *size - 1}) {
    ASSERT_TRUE(fault_fs_.FlipBits(snapshot, offset, 0x10).ok());
    Result<std::unique_ptr<KvStore>> store = KvStore::Open(fs_, options_);
    ASSERT_FALSE(store.ok()) << "opened with byte " << offset << " flipped";
    EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
    EXPECT_NE(store.status().message().find("snapshot"), std::string::npos)
        << store.status().ToString();
    ASSERT_TRUE(fault_fs_.FlipBits(snapshot, offset, 0x10).ok());  // repair
  }
  ASSERT_TRUE(fault_fs_.TruncateFile(snapshot, *size - 1).ok());
  EXPECT_EQ(KvStore::Open(fs_, options_).status().code(), StatusCode::kCorruption);
}

TEST_F(KvStoreTest, SnapshotWithoutItsLogRefusesToOpen) {
  for (uint64_t i = 0; i < 10; ++i) CommitWrites(i + 1, {{"k", std::to_string(i)}});
  ASSERT_TRUE(store_->Checkpoint().ok());
  store_.reset();
  // The WAL is lost (say, an operator wiped it): new records would reuse covered LSNs.
  const std::vector<std::string> names = *fault_fs_.ListDir("/data/kv/wal");
  for (const std::string& name : names) {
    ASSERT_TRUE(fault_fs_.RemoveFile("/data/kv/wal/" + name).ok());
  }
  Result<std::unique_ptr<KvStore>> store = KvStore::Open(fs_, options_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_NE(store.status().message().find("missing"), std::string::npos)
      << store.status().ToString();
}

TEST_F(KvStoreTest, StaleSnapshotTempFileIsIgnored) {
  CommitWrites(1, {{"a", "1"}});
  store_.reset();
  ASSERT_TRUE(fs_->WriteFileAtomically("/data/kv/snapshot.tmp.x", "junk").ok());
  ASSERT_TRUE(fs_->RenameFile("/data/kv/snapshot.tmp.x", "/data/kv/snapshot.tmp").ok());
  Open();
  EXPECT_EQ(Committed("a"), Some("1"));
  EXPECT_FALSE(fs_->FileExists("/data/kv/snapshot.tmp"));
}

// --- Limits ----------------------------------------------------------------------------------

TEST_F(KvStoreTest, LimitsGiveInvalidArgument) {
  ASSERT_TRUE(store_->BeginBranch(Br(1)).ok());
  const std::string key_max(options_.key_bytes_max, 'k');
  const std::string value_max(options_.value_bytes_max, 'v');
  EXPECT_TRUE(store_->Put(Br(1), key_max, value_max).ok());
  const auto invalid = [](const Status& status) {
    return status.code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid(store_->Put(Br(1), key_max + "k", "v")));
  EXPECT_TRUE(invalid(store_->Put(Br(1), "", "v")));
  EXPECT_TRUE(invalid(store_->Put(Br(1), "k", value_max + "v")));
  EXPECT_TRUE(invalid(store_->Delete(Br(1), key_max + "k")));
  EXPECT_TRUE(invalid(store_->Get(Br(1), "").status()));
  EXPECT_TRUE(invalid(store_->GetCommitted(key_max + "k").status()));
  EXPECT_TRUE(invalid(store_->Scan(Br(1), "a", "b", 0).status()));
  EXPECT_TRUE(invalid(store_->Scan(Br(1), "a", "b", options_.scan_entries_max + 1).status()));
  EXPECT_TRUE(invalid(store_->Scan(Br(1), "b", "a", 1).status()));
  EXPECT_TRUE(invalid(store_->Scan(Br(1), "b", "b", 1).status()));
  EXPECT_TRUE(invalid(store_->ScanCommitted(key_max + "k", "", 1).status()));

  // The write-set: fill it to just below the limit, then one more put fails, and an overwrite
  // that does not grow it still works.
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  uint64_t used = 0;
  for (int i = 0;; ++i) {
    const std::string key = "key" + std::to_string(100 + i);
    const uint64_t bytes = kv::OpBytes(key.size(), 100);
    if (used + bytes > options_.write_set_bytes_max) {
      Status status = store_->Put(Br(2), key, std::string(100, 'x'));
      EXPECT_TRUE(invalid(status)) << status.ToString();
      EXPECT_NE(status.message().find("write_set_bytes_max"), std::string::npos);
      break;
    }
    ASSERT_TRUE(store_->Put(Br(2), key, std::string(100, 'x')).ok());
    used += bytes;
  }
  EXPECT_TRUE(store_->Put(Br(2), "key100", std::string(100, 'y')).ok());
  EXPECT_EQ(*store_->Prepare(Br(2)), PrepareResult::kPrepared);  // and it fits in a WAL record
  store_->CheckInvariants();
}

TEST_F(KvStoreTest, ReadSetLimit) {
  options_.read_set_keys_max = 5;
  Open();
  ASSERT_TRUE(store_->BeginBranch(Br(1)).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Get(Br(1), "k" + std::to_string(i)).ok());
  EXPECT_TRUE(store_->Get(Br(1), "k0").ok());  // read already
  EXPECT_EQ(store_->Get(Br(1), "k5").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Scan(Br(1), "", "", 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(KvStoreTest, BadOptionsAreInvalidArgument) {
  const auto open_with = [&](const std::function<void(KvOptions&)>& change) {
    KvOptions options = options_;
    change(options);
    return KvStore::Open(fs_, options).status().code();
  };
  EXPECT_EQ(open_with([](KvOptions& o) { o.dir = ""; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.key_bytes_max = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.key_bytes_max = kKvKeyBytesLimit + 1; }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.value_bytes_max = kKvValueBytesLimit + 1; }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.write_set_bytes_max = 100; }),  // < one largest put
            StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.scan_entries_max = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.branches_max = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.read_set_keys_max = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.lock_wait_ms = kKvLockWaitMsLimit + 1; }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(open_with([](KvOptions& o) { o.log_segment_bytes_max = 10; }),
            StatusCode::kInvalidArgument);
}

// --- Failures --------------------------------------------------------------------------------

TEST_F(KvStoreTest, FailedFsyncFailsTheStoreUntilReopened) {
  CommitWrites(1, {{"a", "1"}});
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "a", "2").ok());
  fault_fs_.FailSyncs(1);
  Result<PrepareResult> prepared = store_->Prepare(Br(2));
  EXPECT_EQ(prepared.status().code(), StatusCode::kIoError) << prepared.status().ToString();
  EXPECT_TRUE(store_->Stats().failed);
  EXPECT_EQ(store_->BeginBranch(Br(3)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CommitPrepared(Br(2)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->ListPrepared().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->GetCommitted("a").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Checkpoint().code(), StatusCode::kFailedPrecondition);
  store_->CheckInvariants();

  // The failed fsync made nothing durable: after a crash the PREPARE is gone.
  CrashAndReopen();
  EXPECT_TRUE(store_->ListPrepared()->empty());
  EXPECT_EQ(Committed("a"), Some("1"));
}

TEST_F(KvStoreTest, PrepareWhoseFsyncFailedMayComeBackPrepared) {
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  ASSERT_TRUE(store_->Put(Br(2), "a", "2").ok());
  fault_fs_.FailSyncs(1);
  EXPECT_EQ(store_->Prepare(Br(2)).status().code(), StatusCode::kIoError);
  Open();  // no crash: the page cache kept the record, so the branch is in doubt, not lost
  EXPECT_EQ(*store_->ListPrepared(), std::vector<BranchId>{Br(2)});
  ASSERT_TRUE(store_->Rollback(Br(2)).ok());  // what the coordinator will say: it never got a YES
}

TEST_F(KvStoreTest, CommitWhoseFsyncFailedIsCommittedOrStillPrepared) {
  for (Mode mode : {Mode::kLose, Mode::kTearUnsynced}) {
    CommitWrites(1, {{"a", "1"}});
    PrepareWriter(store_.get(), Br(2), "a");
    fault_fs_.FailSyncs(1);
    EXPECT_EQ(store_->CommitPrepared(Br(2)).code(), StatusCode::kIoError);
    CrashAndReopen(mode);
    const std::vector<BranchId> prepared = *store_->ListPrepared();
    if (prepared.empty()) {
      EXPECT_EQ(Committed("a"), Some("prepared"));
    } else {
      EXPECT_EQ(prepared, std::vector<BranchId>{Br(2)});
      EXPECT_EQ(Committed("a"), Some("1"));
      ASSERT_TRUE(store_->CommitPrepared(Br(2)).ok());
    }
    EXPECT_EQ(Committed("a"), Some("prepared"));
  }
}

TEST_F(KvStoreTest, OverlappingCallsForOneBranchAreRefused) {
  options_.lock_wait_ms = 10'000;
  Open();
  PrepareWriter(store_.get(), Br(1), "k");
  ASSERT_TRUE(store_->BeginBranch(Br(2)).ok());
  std::thread blocked([&] { EXPECT_TRUE(store_->Put(Br(2), "k", "v").ok()); });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(store_->Put(Br(2), "x", "v").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Rollback(Br(2)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Prepare(Br(2)).status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->CommitPrepared(Br(1)).ok());
  blocked.join();
  EXPECT_EQ(*store_->Get(Br(2), "k"), Some("v"));
}

// The same store on real files: what the pact-agent runs.
TEST(KvStorePosixTest, CommitsPreparesAndCheckpointsSurviveReopening) {
  const std::string dir = testing::TempDir() + "pact_kv_posix_test_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  KvOptions options;
  options.dir = dir + "/store/";  // a trailing slash names the same directory
  options.log_segment_bytes_max = 4096;
  options.checkpoint_log_bytes = 8192;
  PosixFileSystem* fs = PosixFileSystem::Default();
  {
    std::unique_ptr<KvStore> store = std::move(KvStore::Open(fs, options)).value();
    for (uint64_t i = 1; i <= 200; ++i) {
      ASSERT_TRUE(store->BeginBranch(Br(i)).ok());
      ASSERT_TRUE(store->Put(Br(i), "key" + std::to_string(i % 20), std::to_string(i)).ok());
      ASSERT_EQ(*store->Prepare(Br(i)), PrepareResult::kPrepared);
      ASSERT_TRUE(store->CommitPrepared(Br(i)).ok());
    }
    PrepareWriter(store.get(), Br(1000), "held");
    EXPECT_GT(store->Stats().checkpoints, 0u);
    EXPECT_TRUE(std::filesystem::exists(dir + "/store/snapshot"));
  }
  {
    Result<std::unique_ptr<KvStore>> store = KvStore::Open(fs, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ(*(*store)->GetCommitted("key0"), Some("200"));
    EXPECT_EQ(*(*store)->GetCommitted("key19"), Some("199"));
    EXPECT_EQ(*(*store)->ListPrepared(), std::vector<BranchId>{Br(1000)});
    ASSERT_TRUE((*store)->CommitPrepared(Br(1000)).ok());
    EXPECT_EQ(*(*store)->GetCommitted("held"), Some("prepared"));
    (*store)->CheckInvariants();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pact
