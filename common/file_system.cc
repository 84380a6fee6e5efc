#include "common/file_system.h"

#include <fmt/format.h>

namespace pact {

Result<std::string> FileSystem::ReadFileToString(const std::string& path) {
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, OpenReadableFile(path));
  PACT_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string data(size, '\0');
  PACT_ASSIGN_OR_RETURN(size_t read, file->ReadAt(0, std::span<char>(data.data(), data.size())));
  data.resize(read);
  return data;
}

Status FileSystem::WriteFileAtomically(const std::string& path, std::string_view data) {
  const std::string temp_path = path + ".tmp";
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, NewWritableFile(temp_path));
  PACT_RETURN_IF_ERROR(file->Append(data));
  PACT_RETURN_IF_ERROR(file->Sync());
  PACT_RETURN_IF_ERROR(file->Close());
  PACT_RETURN_IF_ERROR(RenameFile(temp_path, path));
  return SyncDir(ParentDir(path));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return fmt::format("{}{}", dir, name);
  return fmt::format("{}/{}", dir, name);
}

std::string ParentDir(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace pact
