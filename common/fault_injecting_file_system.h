// FaultInjectingFileSystem: an in-memory FileSystem that behaves like a disk behind a page
// cache, and breaks on demand. Used by unit tests and the simulator.
//
// What it models:
//  - every file has its current bytes (what reads see) and its durable bytes (as of the last
//    successful Sync); every directory has its current entries and its durable entries (as of
//    the last SyncDir);
//  - Crash() is a power loss: directories fall back to their durable entries and files to
//    their durable bytes, plus - in kTearUnsynced mode - a random prefix of the unsynced bytes
//    (a torn write); handles opened before the crash fail from then on;
//  - FlipBit() corrupts stored bytes (current and durable alike);
//  - FailSyncs(n) makes the next n Sync/SyncDir calls fail with IoError without making
//    anything durable (the page cache may or may not have been written: fsyncgate).
// One seed (given at construction) makes every torn length reproducible. Thread-safe.
#ifndef PACT_COMMON_FAULT_INJECTING_FILE_SYSTEM_H_
#define PACT_COMMON_FAULT_INJECTING_FILE_SYSTEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/file_system.h"
#include "common/random.h"

namespace pact {

class FaultInjectingFileSystem final : public FileSystem {
 public:
  enum class UnsyncedOnCrash {
    kLose,         // every unsynced byte is gone
    kTearUnsynced  // a random prefix of each file's unsynced bytes survives
  };

  explicit FaultInjectingFileSystem(uint64_t seed = 1);
  ~FaultInjectingFileSystem() override;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> OpenAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadableFile(const std::string& path) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status RemoveFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status CreateDirs(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;

  // Power loss. Handles opened before it return FailedPrecondition from then on.
  void Crash(UnsyncedOnCrash mode);
  // XORs `mask` into the byte at `offset` of the file (current and durable bytes).
  Status FlipBits(const std::string& path, uint64_t offset, uint8_t mask);
  // The next `count` Sync()/SyncDir() calls fail with IoError and make nothing durable.
  void FailSyncs(int count);

  uint64_t sync_count() const;
  // Bytes of `path` that a crash now would surely keep.
  Result<uint64_t> DurableSize(const std::string& path);

  struct FileState;  // public so the handle classes in the .cc can name it

 private:
  using Entries = std::map<std::string, std::shared_ptr<FileState>>;  // ordered: deterministic

  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool truncate);
  Status ConsumeSyncFailure();  // requires mutex_

  mutable std::mutex mutex_;
  Random random_;
  Entries files_;          // path -> file, as reads and writes see them now
  Entries durable_files_;  // path -> file, as a crash would leave them
  std::set<std::string> dirs_;
  uint64_t generation_ = 0;  // bumped by Crash(); handles remember the one they were opened in
  int syncs_to_fail_ = 0;
  uint64_t sync_count_ = 0;

  friend class FaultWritableFile;
  friend class FaultReadableFile;
};

}  // namespace pact

#endif  // PACT_COMMON_FAULT_INJECTING_FILE_SYSTEM_H_
