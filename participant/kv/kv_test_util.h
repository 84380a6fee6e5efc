// Test helpers for the KV store: a FileSystem that "kills the process" at a chosen write, so a
// test can crash the store at every line that writes.
#ifndef PACT_PARTICIPANT_KV_KV_TEST_UTIL_H_
#define PACT_PARTICIPANT_KV_KV_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/branch_id.h"
#include "common/fault_injecting_file_system.h"
#include "common/file_system.h"

namespace pact {

// gtest prints BranchIds as "1.2/3".
inline void PrintTo(const BranchId& branch, std::ostream* out) { *out << branch.ToString(); }

}  // namespace pact

namespace pact::kv_test {

// Forwards to a FaultInjectingFileSystem and counts mutating calls (file creation, Append,
// Sync, Truncate, Remove, Rename, CreateDirs, SyncDir). At call number `crash_at` (1-based; 0 =
// never) it crashes the inner file system - before the call, or right after it when `after` -
// and from then on every call fails with IoError, as if the process had died: nothing it does
// afterwards reaches the disk. CrashNow() does the same from another thread. Mutating calls run
// one at a time (an exclusive lock), so no write straddles a crash.
//
// FailSyncAt(n) makes the n-th Sync/SyncDir (1-based; 0 = never) fail with IoError without
// making anything durable (FaultInjectingFileSystem::FailSyncs).
class CrashingFileSystem final : public FileSystem {
 public:
  using Mode = FaultInjectingFileSystem::UnsyncedOnCrash;

  explicit CrashingFileSystem(FaultInjectingFileSystem* inner) : inner_(inner) {}

  void CrashAt(uint64_t crash_at, bool after, Mode mode) {
    std::unique_lock lock(mutex_);
    crash_at_ = crash_at;
    after_ = after;
    mode_ = mode;
  }
  void FailSyncAt(uint64_t fail_sync_at) {
    std::unique_lock lock(mutex_);
    fail_sync_at_ = fail_sync_at;
  }
  void CrashNow(Mode mode) {
    std::unique_lock lock(mutex_);
    if (!crashed_) CrashLocked(mode);
  }
  bool crashed() const {
    std::shared_lock lock(mutex_);
    return crashed_;
  }
  uint64_t writes() const {
    std::shared_lock lock(mutex_);
    return writes_;
  }
  uint64_t syncs() const {
    std::shared_lock lock(mutex_);
    return syncs_;
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return Wrap(Write(false, [&] { return inner_->NewWritableFile(path); }));
  }
  Result<std::unique_ptr<WritableFile>> OpenAppendableFile(const std::string& path) override {
    return Wrap(Write(false, [&] { return inner_->OpenAppendableFile(path); }));
  }
  Result<std::unique_ptr<ReadableFile>> OpenReadableFile(const std::string& path) override {
    return Read([&] { return inner_->OpenReadableFile(path); });
  }
  Status TruncateFile(const std::string& path, uint64_t size) override {
    return Write(false, [&] { return inner_->TruncateFile(path, size); });
  }
  Status RemoveFile(const std::string& path) override {
    return Write(false, [&] { return inner_->RemoveFile(path); });
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return Write(false, [&] { return inner_->RenameFile(from, to); });
  }
  Status CreateDirs(const std::string& path) override {
    return Write(false, [&] { return inner_->CreateDirs(path); });
  }
  Status SyncDir(const std::string& dir) override {
    return Write(true, [&] { return inner_->SyncDir(dir); });
  }
  bool FileExists(const std::string& path) override {
    std::shared_lock lock(mutex_);
    return !crashed_ && inner_->FileExists(path);
  }
  Result<uint64_t> FileSize(const std::string& path) override {
    return Read([&] { return inner_->FileSize(path); });
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return Read([&] { return inner_->ListDir(dir); });
  }

  // Runs one mutating call under the crash rules.
  template <typename Op>
  auto Write(bool is_sync, Op op) -> decltype(op()) {
    std::unique_lock lock(mutex_);
    if (crashed_) return Dead();
    ++writes_;
    if (is_sync) ++syncs_;
    const bool crash_here = crash_at_ != 0 && writes_ == crash_at_;
    if (crash_here && !after_) {
      CrashLocked(mode_);
      return Dead();
    }
    if (is_sync && syncs_ == fail_sync_at_) inner_->FailSyncs(1);
    auto result = op();
    if (crash_here) {
      CrashLocked(mode_);
      return Dead();  // it happened, but the process died before it saw the result
    }
    return result;
  }

 private:
  class File final : public WritableFile {
   public:
    File(CrashingFileSystem* fs, std::unique_ptr<WritableFile> inner)
        : fs_(fs), inner_(std::move(inner)) {}
    Status Append(std::string_view data) override {
      return fs_->Write(false, [&] { return inner_->Append(data); });
    }
    Status Sync() override {
      return fs_->Write(true, [&] { return inner_->Sync(); });
    }
    Status Close() override { return inner_->Close(); }
    uint64_t Size() const override { return inner_->Size(); }

   private:
    CrashingFileSystem* const fs_;
    const std::unique_ptr<WritableFile> inner_;
  };

  static Status Dead() { return Status::IoError("injected crash: the process is dead"); }

  template <typename Op>
  auto Read(Op op) -> decltype(op()) {
    std::shared_lock lock(mutex_);
    if (crashed_) return Dead();
    return op();
  }

  Result<std::unique_ptr<WritableFile>> Wrap(Result<std::unique_ptr<WritableFile>> file) {
    if (!file.ok()) return file.status();
    return std::unique_ptr<WritableFile>(new File(this, std::move(file).value()));
  }

  void CrashLocked(Mode mode) {
    inner_->Crash(mode);
    crashed_ = true;
  }

  FaultInjectingFileSystem* const inner_;
  mutable std::shared_mutex mutex_;  // exclusive: mutating calls and crashing; shared: reads
  uint64_t crash_at_ = 0;
  bool after_ = false;
  Mode mode_ = Mode::kLose;
  uint64_t fail_sync_at_ = 0;
  uint64_t writes_ = 0;
  uint64_t syncs_ = 0;
  bool crashed_ = false;
};

}  // namespace pact::kv_test

#endif  // PACT_PARTICIPANT_KV_KV_TEST_UTIL_H_
