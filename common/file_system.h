// FileSystem: the narrow interface every Pact log and store writes through, so that tests and
// the simulator can swap in FaultInjectingFileSystem (fault_injecting_file_system.h) and see
// what a crash, a torn write or a failed fsync does to the code above.
//
// Durability contract (POSIX semantics, which both implementations keep):
//  - bytes appended to a file are durable only after WritableFile::Sync() returns OK;
//  - a created, renamed or removed directory entry is durable only after SyncDir() of its
//    directory returns OK;
//  - a failed Sync() leaves it unknown which bytes reached the disk; callers treat it as fatal.
// All methods return Status for expected failures; none throws. Implementations are
// thread-safe; a single file handle is used by one thread at a time.
#ifndef PACT_COMMON_FILE_SYSTEM_H_
#define PACT_COMMON_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pact {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends at the end of the file. Not durable until Sync().
  virtual Status Append(std::string_view data) = 0;
  // Makes every byte appended so far durable (fdatasync).
  virtual Status Sync() = 0;
  // Releases the handle; unsynced bytes stay as they are (not synced by closing).
  virtual Status Close() = 0;
  // Bytes in the file, including those not yet synced.
  virtual uint64_t Size() const = 0;
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to buffer.size() bytes at `offset`; fewer only at the end of the file.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<char> buffer) = 0;
  virtual Result<uint64_t> Size() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates the file, or truncates it to empty if it exists.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file (or creates it) for appending after its current end.
  virtual Result<std::unique_ptr<WritableFile>> OpenAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<ReadableFile>> OpenReadableFile(const std::string& path) = 0;

  // Shortens (or extends with zeros) a file to `size` bytes and makes that durable.
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Creates the directory and its missing parents, durably (each new entry's parent is
  // synced); OK if it exists.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Makes creations, renames and removals of entries in `dir` durable (fsync of the directory).
  virtual Status SyncDir(const std::string& dir) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;

  // Whole-file helpers built on the calls above.
  Result<std::string> ReadFileToString(const std::string& path);
  // Writes `data` to `path` durably and atomically: temp file, sync, rename, sync dir.
  Status WriteFileAtomically(const std::string& path, std::string_view data);
};

// The real file system (POSIX calls). Errors carry the path and strerror.
class PosixFileSystem final : public FileSystem {
 public:
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

  // A process-wide instance; never destroyed.
  static PosixFileSystem* Default();
};

// Path helpers (plain string work, no IO).
std::string JoinPath(std::string_view dir, std::string_view name);
std::string ParentDir(std::string_view path);

}  // namespace pact

#endif  // PACT_COMMON_FILE_SYSTEM_H_
