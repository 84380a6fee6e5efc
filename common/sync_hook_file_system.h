// SyncHookFileSystem: passes everything to another FileSystem, and runs a hook before every
// WritableFile::Sync() - to count syncs, slow them down, or hold them at a gate. For tests and
// benchmarks of group commit, which need to see or steer how many fsyncs happen and when.
//
// Thread-safe if the inner FileSystem and the hook are. The inner FileSystem is borrowed.
#ifndef PACT_COMMON_SYNC_HOOK_FILE_SYSTEM_H_
#define PACT_COMMON_SYNC_HOOK_FILE_SYSTEM_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/file_system.h"

namespace pact {

class SyncHookFileSystem final : public FileSystem {
 public:
  // `before_sync` may be empty (then syncs are only counted).
  SyncHookFileSystem(FileSystem* inner, std::function<void()> before_sync = {})
      : inner_(inner), before_sync_(std::move(before_sync)) {}

  // File syncs so far (directory syncs not included).
  uint64_t file_syncs() const { return file_syncs_.load(); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> OpenAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadableFile(const std::string& path) override {
    return inner_->OpenReadableFile(path);
  }
  Status TruncateFile(const std::string& path, uint64_t size) override {
    return inner_->TruncateFile(path, size);
  }
  Status RemoveFile(const std::string& path) override { return inner_->RemoveFile(path); }
  Status RenameFile(const std::string& from, const std::string& to) override {
    return inner_->RenameFile(from, to);
  }
  Status CreateDirs(const std::string& path) override { return inner_->CreateDirs(path); }
  Status SyncDir(const std::string& dir) override { return inner_->SyncDir(dir); }
  bool FileExists(const std::string& path) override { return inner_->FileExists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return inner_->FileSize(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return inner_->ListDir(dir);
  }

 private:
  class File;

  FileSystem* const inner_;
  const std::function<void()> before_sync_;
  std::atomic<uint64_t> file_syncs_{0};
};

}  // namespace pact

#endif  // PACT_COMMON_SYNC_HOOK_FILE_SYSTEM_H_
