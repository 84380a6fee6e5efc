#include "common/sync_hook_file_system.h"

namespace pact {

class SyncHookFileSystem::File final : public WritableFile {
 public:
  File(SyncHookFileSystem* fs, std::unique_ptr<WritableFile> inner)
      : fs_(fs), inner_(std::move(inner)) {}
  Status Append(std::string_view data) override { return inner_->Append(data); }
  Status Sync() override {
    if (fs_->before_sync_) fs_->before_sync_();
    fs_->file_syncs_.fetch_add(1);
    return inner_->Sync();
  }
  Status Close() override { return inner_->Close(); }
  uint64_t Size() const override { return inner_->Size(); }

 private:
  SyncHookFileSystem* const fs_;
  const std::unique_ptr<WritableFile> inner_;
};

Result<std::unique_ptr<WritableFile>> SyncHookFileSystem::NewWritableFile(const std::string& path) {
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, inner_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(new File(this, std::move(file)));
}

Result<std::unique_ptr<WritableFile>> SyncHookFileSystem::OpenAppendableFile(
    const std::string& path) {
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, inner_->OpenAppendableFile(path));
  return std::unique_ptr<WritableFile>(new File(this, std::move(file)));
}

}  // namespace pact
