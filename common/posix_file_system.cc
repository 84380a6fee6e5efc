#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "common/file_system.h"

namespace pact {
namespace {

Status ErrnoStatus(std::string_view what, const std::string& path, int error) {
  std::string message = fmt::format("{} {}: {}", what, path, std::strerror(error));
  if (error == ENOENT) return Status::NotFound(std::move(message));
  return Status::IoError(std::move(message));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    PACT_CHECK(fd_ >= 0, "append to closed file {}", path_);
    while (!data.empty()) {
      const ssize_t written = ::write(fd_, data.data(), data.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(written));
      size_ += static_cast<uint64_t>(written);
    }
    return Status::Ok();
  }

  Status Sync() override {
    PACT_CHECK(fd_ >= 0, "sync of closed file {}", path_);
    if (::fdatasync(fd_) != 0) return ErrnoStatus("fdatasync", path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus("close", path_, errno);
    return Status::Ok();
  }

  uint64_t Size() const override { return size_; }

 private:
  const std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixReadableFile() override { ::close(fd_); }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> buffer) override {
    size_t total = 0;
    while (total < buffer.size()) {
      const ssize_t read = ::pread(fd_, buffer.data() + total, buffer.size() - total,
                                   static_cast<off_t>(offset + total));
      if (read < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read", path_, errno);
      }
      if (read == 0) break;
      total += static_cast<size_t>(read);
    }
    return total;
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  const std::string path_;
  const int fd_;
};

Result<std::unique_ptr<WritableFile>> OpenForWriting(const std::string& path, int extra_flags) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | extra_flags, 0644);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoStatus("stat", path, error);
  }
  return std::unique_ptr<WritableFile>(
      new PosixWritableFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

}  // namespace

Result<std::unique_ptr<WritableFile>> PosixFileSystem::NewWritableFile(const std::string& path) {
  return OpenForWriting(path, O_TRUNC);
}

Result<std::unique_ptr<WritableFile>> PosixFileSystem::OpenAppendableFile(
    const std::string& path) {
  return OpenForWriting(path, O_APPEND);
}

Result<std::unique_ptr<ReadableFile>> PosixFileSystem::OpenReadableFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  return std::unique_ptr<ReadableFile>(new PosixReadableFile(path, fd));
}

Status PosixFileSystem::TruncateFile(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  Status status;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    status = ErrnoStatus("truncate", path, errno);
  } else if (::fsync(fd) != 0) {
    status = ErrnoStatus("fsync", path, errno);
  }
  ::close(fd);
  return status;
}

Status PosixFileSystem::RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus("remove", path, errno);
  return Status::Ok();
}

Status PosixFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus("rename", fmt::format("{} -> {}", from, to), errno);
  }
  return Status::Ok();
}

Status PosixFileSystem::CreateDirs(const std::string& path) {
  // The directories that do not exist yet, outermost first.
  std::vector<std::string> missing;
  for (std::string dir = path; !dir.empty() && dir != "/" && dir != "." && !FileExists(dir);
       dir = ParentDir(dir)) {
    missing.insert(missing.begin(), dir);
  }
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return Status::IoError(fmt::format("create directory {}: {}", path, error.message()));
  // A new directory entry is durable only once its parent is synced; without this a log
  // created in a fresh directory could vanish with the directory after a power loss.
  for (const std::string& dir : missing) PACT_RETURN_IF_ERROR(SyncDir(ParentDir(dir)));
  return Status::Ok();
}

Status PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  Status status;
  if (::fsync(fd) != 0) status = ErrnoStatus("fsync directory", dir, errno);
  ::close(fd);
  return status;
}

bool PosixFileSystem::FileExists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

Result<uint64_t> PosixFileSystem::FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return ErrnoStatus("list directory", dir, errno);
  std::vector<std::string> names;
  while (const struct dirent* entry = ::readdir(handle)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

PosixFileSystem* PosixFileSystem::Default() {
  static PosixFileSystem* file_system = new PosixFileSystem();
  return file_system;
}

}  // namespace pact
