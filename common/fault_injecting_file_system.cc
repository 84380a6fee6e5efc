#include "common/fault_injecting_file_system.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace pact {

struct FaultInjectingFileSystem::FileState {
  std::string data;     // what reads see
  std::string durable;  // what survives a crash
};

namespace {

Status StaleHandle(const std::string& path) {
  return Status::FailedPrecondition(
      fmt::format("{}: file handle was opened before a crash", path));
}

}  // namespace

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectingFileSystem* fs, std::string path,
                    std::shared_ptr<FaultInjectingFileSystem::FileState> file, uint64_t generation)
      : fs_(fs), path_(std::move(path)), file_(std::move(file)), generation_(generation) {}

  Status Append(std::string_view data) override {
    std::lock_guard lock(fs_->mutex_);
    if (generation_ != fs_->generation_) return StaleHandle(path_);
    PACT_CHECK(!closed_, "append to closed file {}", path_);
    file_->data.append(data);
    return Status::Ok();
  }

  Status Sync() override {
    std::lock_guard lock(fs_->mutex_);
    if (generation_ != fs_->generation_) return StaleHandle(path_);
    PACT_CHECK(!closed_, "sync of closed file {}", path_);
    PACT_RETURN_IF_ERROR(fs_->ConsumeSyncFailure().WithContext(path_));
    file_->durable = file_->data;
    return Status::Ok();
  }

  Status Close() override {
    closed_ = true;
    return Status::Ok();
  }

  uint64_t Size() const override {
    std::lock_guard lock(fs_->mutex_);
    return file_->data.size();
  }

 private:
  FaultInjectingFileSystem* const fs_;
  const std::string path_;
  const std::shared_ptr<FaultInjectingFileSystem::FileState> file_;
  const uint64_t generation_;
  bool closed_ = false;
};

class FaultReadableFile final : public ReadableFile {
 public:
  FaultReadableFile(FaultInjectingFileSystem* fs, std::string path,
                    std::shared_ptr<FaultInjectingFileSystem::FileState> file, uint64_t generation)
      : fs_(fs), path_(std::move(path)), file_(std::move(file)), generation_(generation) {}

  Result<size_t> ReadAt(uint64_t offset, std::span<char> buffer) override {
    std::lock_guard lock(fs_->mutex_);
    if (generation_ != fs_->generation_) return StaleHandle(path_);
    if (offset >= file_->data.size()) return size_t{0};
    const size_t count = std::min<uint64_t>(buffer.size(), file_->data.size() - offset);
    std::memcpy(buffer.data(), file_->data.data() + offset, count);
    return count;
  }

  Result<uint64_t> Size() override {
    std::lock_guard lock(fs_->mutex_);
    if (generation_ != fs_->generation_) return StaleHandle(path_);
    return uint64_t{file_->data.size()};
  }

 private:
  FaultInjectingFileSystem* const fs_;
  const std::string path_;
  const std::shared_ptr<FaultInjectingFileSystem::FileState> file_;
  const uint64_t generation_;
};

FaultInjectingFileSystem::FaultInjectingFileSystem(uint64_t seed) : random_(seed) {
  dirs_.insert("/");
  dirs_.insert(".");
}

FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

Status FaultInjectingFileSystem::ConsumeSyncFailure() {
  if (syncs_to_fail_ > 0) {
    --syncs_to_fail_;
    return Status::IoError("injected fsync failure");
  }
  ++sync_count_;
  return Status::Ok();
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::OpenWritable(
    const std::string& path, bool truncate) {
  std::lock_guard lock(mutex_);
  if (!dirs_.contains(ParentDir(path))) {
    return Status::NotFound(fmt::format("open {}: no such directory", path));
  }
  auto& file = files_[path];
  if (file == nullptr) {
    file = std::make_shared<FileState>();
  } else if (truncate) {
    // O_TRUNC is metadata: the old bytes stay durable until the file is synced.
    file->data.clear();
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, path, file, generation_));
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::NewWritableFile(
    const std::string& path) {
  return OpenWritable(path, /*truncate=*/true);
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::OpenAppendableFile(
    const std::string& path) {
  return OpenWritable(path, /*truncate=*/false);
}

Result<std::unique_ptr<ReadableFile>> FaultInjectingFileSystem::OpenReadableFile(
    const std::string& path) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(fmt::format("open {}: no such file", path));
  return std::unique_ptr<ReadableFile>(
      new FaultReadableFile(this, path, it->second, generation_));
}

Status FaultInjectingFileSystem::TruncateFile(const std::string& path, uint64_t size) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(fmt::format("truncate {}: no such file", path));
  PACT_RETURN_IF_ERROR(ConsumeSyncFailure().WithContext(path));
  it->second->data.resize(size, '\0');
  it->second->durable = it->second->data;  // TruncateFile is durable by contract
  return Status::Ok();
}

Status FaultInjectingFileSystem::RemoveFile(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (files_.erase(path) == 0) {
    return Status::NotFound(fmt::format("remove {}: no such file", path));
  }
  return Status::Ok();
}

Status FaultInjectingFileSystem::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(from);
  if (it == files_.end()) {
    return Status::NotFound(fmt::format("rename {} -> {}: no such file", from, to));
  }
  if (!dirs_.contains(ParentDir(to))) {
    return Status::NotFound(fmt::format("rename {} -> {}: no such directory", from, to));
  }
  std::shared_ptr<FileState> file = it->second;
  files_.erase(it);
  files_[to] = std::move(file);
  return Status::Ok();
}

Status FaultInjectingFileSystem::CreateDirs(const std::string& path) {
  std::lock_guard lock(mutex_);
  // Directories are durable at once: Pact creates them only at start-up, before any log.
  for (std::string dir = path; !dirs_.contains(dir); dir = ParentDir(dir)) dirs_.insert(dir);
  return Status::Ok();
}

Status FaultInjectingFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard lock(mutex_);
  if (!dirs_.contains(dir)) return Status::NotFound(fmt::format("sync {}: no such directory", dir));
  PACT_RETURN_IF_ERROR(ConsumeSyncFailure().WithContext(dir));
  // The durable entries of `dir` become its current entries; other directories are untouched.
  std::erase_if(durable_files_, [&](const auto& entry) { return ParentDir(entry.first) == dir; });
  for (const auto& [path, file] : files_) {
    if (ParentDir(path) == dir) durable_files_[path] = file;
  }
  return Status::Ok();
}

bool FaultInjectingFileSystem::FileExists(const std::string& path) {
  std::lock_guard lock(mutex_);
  return files_.contains(path) || dirs_.contains(path);
}

Result<uint64_t> FaultInjectingFileSystem::FileSize(const std::string& path) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(fmt::format("stat {}: no such file", path));
  return uint64_t{it->second->data.size()};
}

Result<std::vector<std::string>> FaultInjectingFileSystem::ListDir(const std::string& dir) {
  std::lock_guard lock(mutex_);
  if (!dirs_.contains(dir)) return Status::NotFound(fmt::format("list {}: no such directory", dir));
  std::vector<std::string> names;
  for (const auto& [path, file] : files_) {
    if (ParentDir(path) == dir) names.push_back(path.substr(path.rfind('/') + 1));
  }
  for (const std::string& sub : dirs_) {
    if (sub != dir && ParentDir(sub) == dir) names.push_back(sub.substr(sub.rfind('/') + 1));
  }
  std::sort(names.begin(), names.end());
  return names;
}

void FaultInjectingFileSystem::Crash(UnsyncedOnCrash mode) {
  std::lock_guard lock(mutex_);
  ++generation_;
  files_ = durable_files_;
  // A file may be reachable under several durable names only through rename races we do not
  // model; each FileState is reset once.
  std::set<FileState*> reset;
  for (auto& [path, file] : files_) {
    if (!reset.insert(file.get()).second) continue;
    // Bytes after the durable prefix that are still in the page cache may have reached the
    // disk in part. Only a prefix survives: disks write sectors in order in our model.
    std::string survivor = file->durable;
    const bool extends_durable =
        file->data.size() > file->durable.size() &&
        std::equal(file->durable.begin(), file->durable.end(), file->data.begin());
    if (mode == UnsyncedOnCrash::kTearUnsynced && extends_durable) {
      const uint64_t unsynced = file->data.size() - file->durable.size();
      survivor.append(file->data, file->durable.size(), random_.Uniform(unsynced + 1));
    }
    file->data = survivor;
    file->durable = std::move(survivor);
  }
}

Status FaultInjectingFileSystem::FlipBits(const std::string& path, uint64_t offset,
                                          uint8_t mask) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(path);
  if (it == files_.end()) return Status::NotFound(fmt::format("flip {}: no such file", path));
  FileState& file = *it->second;
  if (offset >= file.data.size()) {
    return Status::InvalidArgument(fmt::format("flip {}: offset {} past end", path, offset));
  }
  file.data[offset] = static_cast<char>(file.data[offset] ^ mask);
  if (offset < file.durable.size()) {
    file.durable[offset] = static_cast<char>(file.durable[offset] ^ mask);
  }
  return Status::Ok();
}

void FaultInjectingFileSystem::FailSyncs(int count) {
  std::lock_guard lock(mutex_);
  syncs_to_fail_ = count;
}

uint64_t FaultInjectingFileSystem::sync_count() const {
  std::lock_guard lock(mutex_);
  return sync_count_;
}

Result<uint64_t> FaultInjectingFileSystem::DurableSize(const std::string& path) {
  std::lock_guard lock(mutex_);
  auto it = durable_files_.find(path);
  if (it == durable_files_.end()) return uint64_t{0};
  return uint64_t{it->second->durable.size()};
}

}  // namespace pact
