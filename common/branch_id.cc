#include "common/branch_id.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace pact {
namespace {

bool ParseDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

Status ValidateClusterName(std::string_view cluster) {
  const bool chars_ok = std::all_of(cluster.begin(), cluster.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
  if (cluster.empty() || cluster.size() > kClusterNameBytesMax || !chars_ok) {
    return Status::InvalidArgument(fmt::format(
        "cluster name '{}' must be 1 to {} characters of letters, digits, '_' and '-'", cluster,
        kClusterNameBytesMax));
  }
  return Status::Ok();
}

std::string BranchId::ToString() const { return fmt::format("{}/{}", txn.ToString(), branch); }

std::string BranchId::GidPrefix(std::string_view cluster) {
  return fmt::format("pact:{}:", cluster);
}

std::string BranchId::Gid(std::string_view cluster) const {
  PACT_DCHECK(ValidateClusterName(cluster).ok(), "cluster '{}'", cluster);
  return fmt::format("pact:{}:{}:{}:{}", cluster, txn.epoch, txn.sequence, branch);
}

Result<BranchId> BranchId::ParseGid(std::string_view cluster, std::string_view gid) {
  const std::string prefix = GidPrefix(cluster);
  auto malformed = [&] {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a gid of cluster '{}' ({}<epoch>:<sequence>:<branch>)", gid,
                    cluster, prefix));
  };
  if (!gid.starts_with(prefix)) return malformed();
  std::string_view rest = gid.substr(prefix.size());
  uint64_t parts[3];
  for (int i = 0; i < 3; ++i) {
    const size_t colon = rest.find(':');
    const std::string_view part = i < 2 ? rest.substr(0, colon) : rest;
    if ((i < 2 && colon == std::string_view::npos) || !ParseDecimal(part, &parts[i])) {
      return malformed();
    }
    if (i < 2) rest.remove_prefix(colon + 1);
  }
  BranchId id{TxnId{parts[0], parts[1]}, 0};
  if (parts[2] > UINT32_MAX) return malformed();
  id.branch = static_cast<uint32_t>(parts[2]);
  if (!id.valid()) return malformed();
  return id;
}

}  // namespace pact
