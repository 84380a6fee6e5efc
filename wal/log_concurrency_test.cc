// Multi-threaded tests of Log: group commit (leader/follower), fail-stop with waiters, and many
// appenders on the real file system. Also run under ThreadSanitizer (PACT_SANITIZE=thread).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/fault_injecting_file_system.h"
#include "common/sync_hook_file_system.h"
#include "common/random.h"
#include "wal/log.h"

namespace pact::wal {
namespace {

using namespace std::chrono_literals;

// A gate for WritableFile::Sync() of a log segment, which the test opens; so a test can hold a
// leader inside its fdatasync. Syncs go to a FaultInjectingFileSystem.
class SyncGate {
 public:
  explicit SyncGate(FaultInjectingFileSystem* inner) : fs_(inner, [this] { Arrive(); }) {}

  FileSystem* fs() { return &fs_; }
  void CloseGate() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void OpenGate() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until `count` Sync calls have arrived at the gate in total.
  bool WaitForSyncs(int count) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 10s, [&] { return syncs_arrived_ >= count; });
  }
  int syncs_arrived() {
    std::lock_guard lock(mutex_);
    return syncs_arrived_;
  }

 private:
  void Arrive() {
    std::unique_lock lock(mutex_);
    ++syncs_arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = true;
  int syncs_arrived_ = 0;
  SyncHookFileSystem fs_;  // last: its hook uses the members above
};

LogOptions Options(const std::string& dir, uint64_t segment_bytes_max = uint64_t{64} << 20) {
  LogOptions options;
  options.dir = dir;
  options.segment_bytes_max = segment_bytes_max;
  return options;
}

std::unique_ptr<Log> MustOpen(FileSystem* fs, const LogOptions& options,
                              std::vector<std::pair<Lsn, std::string>>* replayed = nullptr) {
  auto log = Log::Open(fs, options, [&](Lsn lsn, std::string_view record) {
    if (replayed != nullptr) replayed->emplace_back(lsn, std::string(record));
    return Status::Ok();
  });
  PACT_CHECK_OK(log.status());
  return std::move(log).value();
}

// Aborts the test binary if the scope is not left within `limit`: a lost wakeup in group
// commit shows up as a hang, and a hang must fail fast rather than wait for ctest's timeout.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, std::string what)
      : limit_(limit), what_(std::move(what)), thread_([this] { Watch(); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Watch() {
    std::unique_lock lock(mutex_);
    const bool finished = cv_.wait_for(lock, limit_, [this] { return done_; });
    PACT_CHECK(finished, "watchdog: {} did not finish within {} s (lost wakeup?)", what_,
               limit_.count());
  }

  const std::chrono::seconds limit_;
  const std::string what_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

// Waits (bounded) until `predicate` holds; polling is fine in a test.
template <typename Predicate>
bool Eventually(Predicate predicate) {
  for (int i = 0; i < 10000; ++i) {
    if (predicate()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

TEST(LogGroupCommitTest, AppendsGoOnWhileTheLeaderSyncsAndFormTheNextGroup) {
  Watchdog watchdog(std::chrono::seconds(300), "AppendsGoOnWhileTheLeaderSyncsAndFormTheNextGroup");
  FaultInjectingFileSystem inner;
  SyncGate gate(&inner);
  std::unique_ptr<Log> log = MustOpen(gate.fs(), Options("/wal"));
  const int gate_syncs = gate.syncs_arrived();  // the segment header's
  const uint64_t syncs_before = inner.sync_count();
  gate.CloseGate();
  auto leader = std::async(std::launch::async, [&] { return log->AppendDurable("leader"); });
  ASSERT_TRUE(gate.WaitForSyncs(gate_syncs + 1));  // the leader is inside fdatasync

  // The mutex is free: appends proceed (bounded wait so that a regression fails, not hangs).
  auto appends = std::async(std::launch::async, [&] {
    std::vector<Lsn> lsns;
    for (int i = 0; i < 3; ++i) lsns.push_back(*log->Append("follower " + std::to_string(i)));
    return lsns;
  });
  ASSERT_EQ(appends.wait_for(10s), std::future_status::ready) << "Append blocked by a sync";
  EXPECT_EQ(appends.get(), (std::vector<Lsn>{2, 3, 4}));
  EXPECT_EQ(log->durable_lsn(), 0u);
  auto waiter_a = std::async(std::launch::async, [&] { return log->WaitDurable(3); });
  auto waiter_b = std::async(std::launch::async, [&] { return log->WaitDurable(4); });
  std::this_thread::sleep_for(20ms);  // let them block behind the leader
  EXPECT_EQ(waiter_a.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(gate.syncs_arrived(), gate_syncs + 1) << "a follower synced while a leader was active";

  gate.OpenGate();
  auto lsn = leader.get();
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(*lsn, 1u);
  EXPECT_TRUE(waiter_a.get().ok());
  EXPECT_TRUE(waiter_b.get().ok());
  EXPECT_EQ(log->durable_lsn(), 4u);
  // One fdatasync for the leader's group, one for the group that formed behind it.
  EXPECT_EQ(inner.sync_count() - syncs_before, 2u);
  EXPECT_TRUE(log->Close().ok());
}

TEST(LogGroupCommitTest, AFailedFsyncFailsTheLeaderAndEveryWaiter) {
  Watchdog watchdog(std::chrono::seconds(300), "AFailedFsyncFailsTheLeaderAndEveryWaiter");
  FaultInjectingFileSystem inner;
  SyncGate gate(&inner);
  std::unique_ptr<Log> log = MustOpen(gate.fs(), Options("/wal"));
  ASSERT_TRUE(log->AppendDurable("durable").ok());
  const int gate_syncs = gate.syncs_arrived();
  gate.CloseGate();
  auto leader = std::async(std::launch::async, [&] { return log->AppendDurable("leader"); });
  ASSERT_TRUE(gate.WaitForSyncs(gate_syncs + 1));
  std::vector<std::future<Result<Lsn>>> followers;
  for (int i = 0; i < 4; ++i) {
    followers.push_back(
        std::async(std::launch::async, [&] { return log->AppendDurable("follower"); }));
  }
  ASSERT_TRUE(Eventually([&] { return log->last_lsn() == 6; }));
  std::this_thread::sleep_for(20ms);
  inner.FailSyncs(1);
  gate.OpenGate();
  EXPECT_EQ(leader.get().status().code(), StatusCode::kIoError);
  for (auto& follower : followers) {
    EXPECT_EQ(follower.get().status().code(), StatusCode::kIoError);
  }
  // Nobody retried the fsync after the failure.
  EXPECT_EQ(gate.syncs_arrived(), gate_syncs + 1);
  EXPECT_EQ(log->durable_lsn(), 1u);
  EXPECT_EQ(log->Append("after").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->WaitDurable(6).code(), StatusCode::kIoError);
  EXPECT_TRUE(log->WaitDurable(1).ok());
}

std::string TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "pact-wal-test-XXXXXX").string();
  PACT_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp {}", pattern);
  return pattern;
}

// Many threads append (some waiting, some not) on the real file system with rotation; after a
// Close and reopen every record is there, at the LSN its thread got, in each thread's order.
TEST(LogConcurrencyTest, ConcurrentAppendersLoseTearAndReorderNothing) {
  Watchdog watchdog(std::chrono::seconds(300), "ConcurrentAppendersLoseTearAndReorderNothing");
  const std::string dir = TempDir();
  constexpr int kThreads = 8;
  constexpr int kRecordsPerThread = 600;
  std::vector<std::vector<std::pair<Lsn, std::string>>> written(kThreads);
  {
    std::unique_ptr<Log> log = MustOpen(PosixFileSystem::Default(), Options(dir, 256 << 10));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Random random(t + 1);
        Lsn previous = kNoLsn;
        for (int i = 0; i < kRecordsPerThread; ++i) {
          std::string record = "thread " + std::to_string(t) + " record " + std::to_string(i) + " ";
          record.append(random.OneIn(50) ? 40000 : random.Uniform(200), static_cast<char>('a' + t));
          Result<Lsn> lsn = kNoLsn;
          switch (random.Uniform(3)) {
            case 0:
              lsn = log->AppendDurable(record);
              PACT_CHECK_OK(lsn.status());
              PACT_CHECK(log->durable_lsn() >= *lsn);
              break;
            case 1:
              lsn = log->Append(record);
              PACT_CHECK_OK(lsn.status());
              break;
            default:
              lsn = log->Append(record);
              PACT_CHECK_OK(lsn.status());
              PACT_CHECK_OK(log->WaitDurable(*lsn));
              break;
          }
          PACT_CHECK(*lsn > previous, "LSNs of one thread must increase");
          previous = *lsn;
          written[t].emplace_back(*lsn, std::move(record));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(log->last_lsn(), Lsn{kThreads * kRecordsPerThread});
    ASSERT_TRUE(log->Close().ok());
  }
  std::map<Lsn, std::string> expected;
  for (const auto& records : written) {
    for (const auto& [lsn, record] : records) EXPECT_TRUE(expected.emplace(lsn, record).second);
  }
  std::vector<std::pair<Lsn, std::string>> replayed;
  std::unique_ptr<Log> reopened =
      MustOpen(PosixFileSystem::Default(), Options(dir, 256 << 10), &replayed);
  ASSERT_EQ(replayed.size(), expected.size());
  size_t i = 0;
  for (const auto& [lsn, record] : expected) {
    ASSERT_EQ(replayed[i].first, lsn);
    ASSERT_EQ(replayed[i].second, record) << "lsn " << lsn;
    ++i;
  }
  EXPECT_GT(reopened->segment_count(), 3u);
  reopened.reset();
  std::filesystem::remove_all(dir);
}

// Threads hammer one log on the fault-injecting file system while another thread removes
// prefixes; then a crash: every acknowledged record from the kept LSN on survives.
TEST(LogConcurrencyTest, ConcurrentAppendsAndRemovalsThenACrash) {
  Watchdog watchdog(std::chrono::seconds(300), "ConcurrentAppendsAndRemovalsThenACrash");
  FaultInjectingFileSystem fs(17);
  std::unique_ptr<Log> log = MustOpen(&fs, Options("/wal", 2048));
  constexpr int kThreads = 4;
  std::atomic<Lsn> acknowledged{0};
  std::atomic<bool> done{false};
  std::mutex records_mutex;
  std::map<Lsn, std::string> records;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const std::string record = std::to_string(t) + ":" + std::to_string(i) +
                                   std::string(static_cast<size_t>(i % 97), 'x');
        Result<Lsn> lsn = log->Append(record);
        PACT_CHECK_OK(lsn.status());
        {
          std::lock_guard lock(records_mutex);
          records[*lsn] = record;
        }
        if (i % 3 == 0) {
          PACT_CHECK_OK(log->WaitDurable(*lsn));
          Lsn seen = acknowledged.load();
          while (seen < *lsn && !acknowledged.compare_exchange_weak(seen, *lsn)) {
          }
        }
      }
    });
  }
  Lsn kept_from = 1;
  std::thread remover([&] {
    while (!done.load()) {
      const Lsn before = log->durable_lsn() / 2;
      PACT_CHECK_OK(log->RemoveSegmentsBefore(before));
      kept_from = std::max(kept_from, before);
      std::this_thread::sleep_for(1ms);
    }
  });
  for (std::thread& thread : threads) thread.join();
  done = true;
  remover.join();
  log.reset();
  fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kTearUnsynced);
  std::vector<std::pair<Lsn, std::string>> replayed;
  std::unique_ptr<Log> reopened = MustOpen(&fs, Options("/wal", 2048), &replayed);
  ASSERT_FALSE(replayed.empty());
  EXPECT_LE(replayed.front().first, kept_from);
  EXPECT_GE(replayed.back().first, acknowledged.load());
  for (size_t i = 0; i < replayed.size(); ++i) {
    ASSERT_EQ(replayed[i].first, replayed.front().first + i);
    ASSERT_EQ(replayed[i].second, records.at(replayed[i].first));
  }
}

}  // namespace
}  // namespace pact::wal
