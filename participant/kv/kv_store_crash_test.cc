// Crash tests: a seeded random workload (branches writing, preparing, committing, rolling back,
// checkpointing, with automatic checkpoints inside commits) is crashed at every file-system
// write it makes, before and after the write, losing or tearing unsynced bytes; and concurrent
// branches are crashed at random moments. After each crash the store must open, and:
//  - every acknowledged commit is there, and nothing else was committed;
//  - every acknowledged prepare is prepared still, with its whole write-set;
//  - the one operation in flight at the crash (per thread) either happened or did not, never
//    half: a PREPARE is prepared with its whole write-set or absent, a COMMIT is applied whole
//    or its branch still prepared, a ROLLBACK ended the branch or left it prepared.
// Then every prepared branch is committed, which must apply its exact write-set, durably.
//
// PACT_KV_CRASH_SEEDS (environment) sets how many seeds the enumeration runs (default 10).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include "common/fault_injecting_file_system.h"
#include "common/random.h"
#include "participant/kv/kv_store.h"
#include "participant/kv/kv_test_util.h"

namespace pact {
namespace {

using kv::WriteSet;
using kv_test::CrashingFileSystem;
using Mode = FaultInjectingFileSystem::UnsyncedOnCrash;
using Data = std::map<std::string, std::string>;

// An operation that was running when the process died: it may or may not have happened.
struct InFlight {
  enum Kind { kPrepare, kCommit, kRollback } kind;
  BranchId branch;
  WriteSet writes;  // the branch's write-set
};

// What the workload was told, and what it must find after the crash.
struct Expectation {
  Data committed;                         // acknowledged commits applied
  std::map<BranchId, WriteSet> prepared;  // acknowledged prepares, not yet ended
  std::vector<InFlight> in_flight;
};

void Apply(const WriteSet& writes, Data* data) {
  for (const auto& [key, value] : writes) {
    if (value.has_value()) {
      (*data)[key] = *value;
    } else {
      data->erase(key);
    }
  }
}

Data AllCommitted(KvStore* store) {
  Result<std::vector<KvEntry>> entries = store->ScanCommitted("", "", 10'000);
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  Data data;
  if (entries.ok()) {
    for (KvEntry& entry : *entries) data.emplace(std::move(entry.key), std::move(entry.value));
  }
  return data;
}

KvOptions CrashOptions() {
  KvOptions options;
  options.dir = "/crash/kv";
  options.key_bytes_max = 16;
  options.value_bytes_max = 200;
  options.write_set_bytes_max = 4096;
  options.scan_entries_max = 10'000;
  options.lock_wait_ms = 0;  // single-threaded: a lock can only be released by this thread
  options.checkpoint_log_bytes = 500;
  options.log_segment_bytes_max = 1024;
  return options;
}

// Opens the store on the crashed disk and checks it against `expect` (see the file comment).
void VerifyAfterCrash(FaultInjectingFileSystem* disk, const KvOptions& options,
                      const Expectation& expect) {
  Result<std::unique_ptr<KvStore>> opened = KvStore::Open(disk, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<KvStore> store = std::move(opened).value();
  store->CheckInvariants();

  Result<std::vector<BranchId>> listed_list = store->ListPrepared();
  ASSERT_TRUE(listed_list.ok());
  const std::set<BranchId> listed(listed_list->begin(), listed_list->end());
  Data committed = expect.committed;
  std::map<BranchId, WriteSet> prepared = expect.prepared;  // what committing them must apply
  for (const InFlight& op : expect.in_flight) {
    const bool is_listed = listed.contains(op.branch);
    if (op.kind == InFlight::kCommit && !is_listed) Apply(op.writes, &committed);
    if (is_listed) prepared[op.branch] = op.writes;
    if (!is_listed) prepared.erase(op.branch);
  }
  std::set<BranchId> expected_listed;
  for (const auto& [branch, writes] : prepared) expected_listed.insert(branch);
  ASSERT_EQ(listed, expected_listed) << "prepared branches differ";
  ASSERT_EQ(AllCommitted(store.get()), committed) << "committed data differs";

  // Committing each prepared branch applies exactly its write-set.
  for (const auto& [branch, writes] : prepared) {
    ASSERT_TRUE(store->CommitPrepared(branch).ok()) << branch.ToString();
    Apply(writes, &committed);
  }
  ASSERT_EQ(AllCommitted(store.get()), committed) << "a prepared write-set was not whole";
  store.reset();

  opened = KvStore::Open(disk, options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened.value()->ListPrepared()->empty());
  EXPECT_EQ(AllCommitted(opened.value().get()), committed) << "commits after recovery were lost";
}

// The single-threaded workload. Runs `steps` random operations, or until the file system has
// crashed, and records what was acknowledged.
class Workload {
 public:
  Workload(uint64_t seed, KvStore* store, CrashingFileSystem* fs)
      : random_(seed), store_(store), fs_(fs) {}

  void Run(int steps) {
    for (int step = 0; step < steps && !fs_->crashed(); ++step) {
      Step();
      if (!fs_->crashed()) store_->CheckInvariants();
    }
  }
  const Expectation& expectation() const { return expect_; }
  uint64_t commits() const { return commits_; }

 private:
  std::string Key() { return "k" + std::to_string(random_.Uniform(12)); }

  template <typename Map>
  BranchId Pick(const Map& map) {
    auto it = map.begin();
    std::advance(it, random_.Uniform(map.size()));
    return it->first;
  }

  void Step() {
    const uint64_t action = random_.Uniform(100);
    if (action < 12 || active_.empty()) return Begin();
    if (action < 50) return Write();
    if (action < 58) return Read();
    if (action < 72) return Prepare();
    if (action < 88) return Commit();
    if (action < 96) return Rollback();
    return Checkpoint();
  }

  void Begin() {
    if (active_.size() >= 3) return;
    const BranchId branch{{1, next_sequence_++}, 1};
    ASSERT_TRUE(store_->BeginBranch(branch).ok());
    active_[branch];
  }

  void Write() {
    const BranchId branch = Pick(active_);
    const std::string key = Key();
    std::optional<std::string> value;
    if (!random_.OneIn(4)) value = std::string(random_.Uniform(120), 'a' + random_.Uniform(26));
    Status status =
        value.has_value() ? store_->Put(branch, key, *value) : store_->Delete(branch, key);
    if (status.code() == StatusCode::kUnavailable) return;  // locked by a prepared branch
    ASSERT_TRUE(status.ok()) << status.ToString();
    active_[branch][key] = value;
  }

  // Reads must see the branch's writes over the acknowledged commits.
  void Read() {
    const BranchId branch = Pick(active_);
    const std::string key = Key();
    Result<std::optional<std::string>> value = store_->Get(branch, key);
    if (value.status().code() == StatusCode::kUnavailable) return;
    ASSERT_TRUE(value.ok()) << value.status().ToString();
    const WriteSet& own = active_[branch];
    std::optional<std::string> expected;
    if (auto it = own.find(key); it != own.end()) {
      expected = it->second;
    } else if (auto it = expect_.committed.find(key); it != expect_.committed.end()) {
      expected = it->second;
    }
    ASSERT_EQ(*value, expected) << key;
  }

  void Prepare() {
    const BranchId branch = Pick(active_);
    WriteSet writes = std::move(active_[branch]);
    active_.erase(branch);
    Result<PrepareResult> result = store_->Prepare(branch);
    if (result.ok() && *result == PrepareResult::kPrepared) {
      expect_.prepared[branch] = std::move(writes);
    } else if (result.ok()) {
      ASSERT_TRUE(writes.empty());
    } else if (fs_->crashed()) {
      expect_.in_flight.push_back({InFlight::kPrepare, branch, std::move(writes)});
    } else {
      ASSERT_EQ(result.status().code(), StatusCode::kAborted) << result.status().ToString();
    }
  }

  void Commit() {
    if (expect_.prepared.empty()) return;
    const BranchId branch = Pick(expect_.prepared);
    Status status = store_->CommitPrepared(branch);
    // OK even if the crash came during the checkpoint the commit ran afterwards: the commit
    // was durable before that.
    if (status.ok()) {
      ++commits_;
      Apply(expect_.prepared[branch], &expect_.committed);
      expect_.prepared.erase(branch);
      return;
    }
    ASSERT_TRUE(fs_->crashed()) << status.ToString();
    expect_.in_flight.push_back({InFlight::kCommit, branch, expect_.prepared[branch]});
    expect_.prepared.erase(branch);
  }

  void Rollback() {
    if (!expect_.prepared.empty() && random_.OneIn(2)) {
      const BranchId branch = Pick(expect_.prepared);
      Status status = store_->Rollback(branch);
      if (!status.ok()) {
        ASSERT_TRUE(fs_->crashed()) << status.ToString();
        expect_.in_flight.push_back({InFlight::kRollback, branch, expect_.prepared[branch]});
      }
      expect_.prepared.erase(branch);
      return;
    }
    const BranchId branch = Pick(active_);
    ASSERT_TRUE(store_->Rollback(branch).ok());
    active_.erase(branch);
  }

  void Checkpoint() {
    Status status = store_->Checkpoint();
    ASSERT_TRUE(status.ok() || fs_->crashed()) << status.ToString();
  }

  Random random_;
  KvStore* const store_;
  CrashingFileSystem* const fs_;
  uint64_t next_sequence_ = 1;
  uint64_t commits_ = 0;  // acknowledged
  std::map<BranchId, WriteSet> active_;
  Expectation expect_;
};

constexpr int kSteps = 300;

struct RunOutcome {
  uint64_t writes = 0;       // file-system writes the run made
  uint64_t checkpoints = 0;  // checkpoints completed (without a crash)
  uint64_t commits = 0;      // acknowledged
};

// One run of seed `seed` crashing at write `crash_at` (0: never), then the check.
RunOutcome RunAndVerify(uint64_t seed, uint64_t crash_at, bool after, Mode mode) {
  SCOPED_TRACE(testing::Message() << "seed " << seed << ", crash at write " << crash_at
                                  << (after ? " after" : " before") << ", mode "
                                  << (mode == Mode::kLose ? "lose" : "tear"));
  FaultInjectingFileSystem disk(seed * 1000 + crash_at);
  CrashingFileSystem fs(&disk);
  fs.CrashAt(crash_at, after, mode);
  const KvOptions options = CrashOptions();
  RunOutcome outcome;
  Expectation expect;
  {
    Result<std::unique_ptr<KvStore>> store = KvStore::Open(&fs, options);
    if (!store.ok()) {
      EXPECT_TRUE(fs.crashed()) << store.status().ToString();
    } else {
      Workload workload(seed, store->get(), &fs);
      workload.Run(kSteps);
      expect = workload.expectation();
      outcome.checkpoints = (*store)->Stats().checkpoints;
      outcome.commits = workload.commits();
    }
  }
  outcome.writes = fs.writes();
  if (!fs.crashed()) disk.Crash(mode);  // a crash at the end loses nothing acknowledged either
  VerifyAfterCrash(&disk, options, expect);
  return outcome;
}

uint64_t SeedCount() {
  const char* text = std::getenv("PACT_KV_CRASH_SEEDS");
  return text == nullptr ? 10 : std::strtoull(text, nullptr, 10);
}

TEST(KvStoreCrashTest, CrashAtEveryWriteOfRandomWorkloads) {
  uint64_t runs = 0;
  uint64_t checkpoints = 0;
  for (uint64_t seed = 1; seed <= SeedCount(); ++seed) {
    const RunOutcome dry = RunAndVerify(seed, 0, false, Mode::kLose);
    checkpoints += dry.checkpoints;
    for (uint64_t crash_at = 1; crash_at <= dry.writes; ++crash_at) {
      for (bool after : {false, true}) {
        const Mode mode = (crash_at + after) % 2 == 0 ? Mode::kLose : Mode::kTearUnsynced;
        RunAndVerify(seed, crash_at, after, mode);
        ++runs;
        if (HasFatalFailure() || HasFailure()) return;
      }
    }
  }
  EXPECT_GT(checkpoints, SeedCount()) << "the workloads must checkpoint, or the test checks less";
  RecordProperty("runs", static_cast<int>(runs));
}

// A store with several WAL segments, committed data and a prepared branch, ready to checkpoint.
std::unique_ptr<KvStore> StoreReadyToCheckpoint(FileSystem* fs, const KvOptions& options,
                                                Expectation* expect) {
  std::unique_ptr<KvStore> store = std::move(KvStore::Open(fs, options)).value();
  for (uint64_t i = 1; i <= 40; ++i) {
    const BranchId branch{{1, i}, 1};
    const bool stays_prepared = i % 10 == 0;
    WriteSet writes;
    if (stays_prepared) {
      writes["held" + std::to_string(i)] = "prepared";  // keys nobody else writes
    } else {
      writes["k" + std::to_string(i % 15)] = std::string(i, 'v');
      if (i % 7 == 0) writes["k" + std::to_string(i % 5)] = std::nullopt;
    }
    PACT_CHECK_OK(store->BeginBranch(branch));
    for (const auto& [key, value] : writes) {
      PACT_CHECK_OK(value.has_value() ? store->Put(branch, key, *value)
                                      : store->Delete(branch, key));
    }
    PACT_CHECK(*store->Prepare(branch) == PrepareResult::kPrepared);
    if (stays_prepared) {
      expect->prepared[branch] = writes;
    } else {
      PACT_CHECK_OK(store->CommitPrepared(branch));
      Apply(writes, &expect->committed);
    }
  }
  return store;
}

// The checkpoint's own writes (temp file, its fsync, the rename, the directory fsync, segment
// removals, the WAL directory fsync), crashed at each one, before and after it.
TEST(KvStoreCrashTest, CheckpointCrashedAtEachStep) {
  KvOptions options = CrashOptions();
  options.checkpoint_log_bytes = 0;
  uint64_t steps = 0;
  {
    FaultInjectingFileSystem disk;
    CrashingFileSystem fs(&disk);
    Expectation expect;
    std::unique_ptr<KvStore> store = StoreReadyToCheckpoint(&fs, options, &expect);
    const uint64_t before = fs.writes();
    const uint64_t segments = store->Stats().log_segments;
    ASSERT_TRUE(store->Checkpoint().ok());
    steps = fs.writes() - before;
    ASSERT_LT(store->Stats().log_segments, segments) << "the checkpoint removed no segment";
  }
  ASSERT_GE(steps, 6u);
  for (uint64_t step = 1; step <= steps; ++step) {
    for (bool after : {false, true}) {
      for (Mode mode : {Mode::kLose, Mode::kTearUnsynced}) {
        SCOPED_TRACE(testing::Message() << "checkpoint write " << step << (after ? " after" : ""));
        FaultInjectingFileSystem disk(step);
        CrashingFileSystem fs(&disk);
        Expectation expect;
        std::unique_ptr<KvStore> store = StoreReadyToCheckpoint(&fs, options, &expect);
        fs.CrashAt(fs.writes() + step, after, mode);
        EXPECT_FALSE(store->Checkpoint().ok());
        EXPECT_TRUE(fs.crashed());
        store.reset();
        VerifyAfterCrash(&disk, options, expect);
      }
    }
  }
}

// Threads run branches on keys of their own while the machine crashes at a random moment; the
// crash lands in the middle of group commits, rotations and checkpoints.
TEST(KvStoreCrashTest, ConcurrentBranchesCrashAtRandomMoments) {
  constexpr int kThreads = 3;
  constexpr int kIterations = 40;
  for (int iteration = 0; iteration < kIterations; ++iteration) {
    SCOPED_TRACE(testing::Message() << "iteration " << iteration);
    const Mode mode = iteration % 2 == 0 ? Mode::kLose : Mode::kTearUnsynced;
    FaultInjectingFileSystem disk(iteration + 1);
    CrashingFileSystem fs(&disk);
    KvOptions options = CrashOptions();
    options.lock_wait_ms = 100;
    std::vector<Expectation> expects(kThreads);
    {
      Result<std::unique_ptr<KvStore>> opened = KvStore::Open(&fs, options);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      KvStore* store = opened->get();
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          Random random(iteration * 100 + t);
          Expectation& expect = expects[t];
          for (uint64_t sequence = 1; !fs.crashed(); ++sequence) {
            const BranchId branch{{static_cast<uint64_t>(t + 1), sequence}, 1};
            // A branch left prepared keeps its locks: it gets keys nobody else writes.
            const bool stays_prepared = random.OneIn(5);
            const std::string prefix = "t" + std::to_string(t) + "/";
            WriteSet writes;
            for (int i = static_cast<int>(random.Range(1, 3)); i > 0; --i) {
              const std::string key = stays_prepared ? prefix + "held" + std::to_string(sequence) +
                                                           "." + std::to_string(i)
                                                     : prefix + std::to_string(random.Uniform(8));
              writes[key] = std::string(random.Uniform(100), 'x');
            }
            ASSERT_TRUE(store->BeginBranch(branch).ok() || fs.crashed());
            for (const auto& [key, value] : writes) {
              ASSERT_TRUE(store->Put(branch, key, *value).ok() || fs.crashed());
            }
            Result<PrepareResult> prepared = store->Prepare(branch);
            if (!prepared.ok()) {
              ASSERT_TRUE(fs.crashed()) << prepared.status().ToString();
              expect.in_flight.push_back({InFlight::kPrepare, branch, writes});
              return;
            }
            expect.prepared[branch] = writes;
            if (stays_prepared) continue;
            const bool commit = !random.OneIn(4);
            Status status = commit ? store->CommitPrepared(branch) : store->Rollback(branch);
            expect.prepared.erase(branch);
            if (!status.ok()) {
              ASSERT_TRUE(fs.crashed()) << status.ToString();
              expect.in_flight.push_back(
                  {commit ? InFlight::kCommit : InFlight::kRollback, branch, writes});
              return;
            }
            if (commit) Apply(writes, &expect.committed);
          }
        });
      }
      Random random(iteration);
      std::this_thread::sleep_for(std::chrono::microseconds(random.Range(500, 20'000)));
      fs.CrashNow(mode);
      for (std::thread& thread : threads) thread.join();
    }
    Expectation all;
    for (const Expectation& expect : expects) {
      all.committed.insert(expect.committed.begin(), expect.committed.end());
      all.prepared.insert(expect.prepared.begin(), expect.prepared.end());
      all.in_flight.insert(all.in_flight.end(), expect.in_flight.begin(), expect.in_flight.end());
    }
    VerifyAfterCrash(&disk, options, all);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace pact
