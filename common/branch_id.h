// BranchId: one participant's branch of a global transaction, and its PostgreSQL gid.
//
// Gid text form (DESIGN §2): "pact:<cluster>:<epoch>:<sequence>:<branch>", e.g.
// "pact:prod:3:1042:2". The prefix "pact:<cluster>:" tells our prepared transactions apart
// from anyone else's; the whole gid stays under PostgreSQL's 200-byte limit because the
// cluster name is limited to kClusterNameBytesMax bytes of [A-Za-z0-9_-].
#ifndef PACT_COMMON_BRANCH_ID_H_
#define PACT_COMMON_BRANCH_ID_H_

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/txn_id.h"

namespace pact {

inline constexpr size_t kClusterNameBytesMax = 64;

// Checks a cluster name: 1..kClusterNameBytesMax bytes of letters, digits, '_' and '-'.
Status ValidateClusterName(std::string_view cluster);

struct BranchId {
  TxnId txn;
  uint32_t branch = 0;  // assigned at enlistment by the coordinator, from 1, unique in txn

  bool valid() const { return txn.valid() && branch != 0; }
  std::string ToString() const;  // "<epoch>.<sequence>/<branch>", for logs

  // "pact:<cluster>:" - the prefix every gid of the cluster starts with.
  static std::string GidPrefix(std::string_view cluster);
  std::string Gid(std::string_view cluster) const;
  // Parses a gid of `cluster`; a gid of another cluster or any malformed text is an error.
  static Result<BranchId> ParseGid(std::string_view cluster, std::string_view gid);

  friend auto operator<=>(const BranchId&, const BranchId&) = default;
};

}  // namespace pact

template <>
struct std::hash<pact::BranchId> {
  size_t operator()(const pact::BranchId& id) const noexcept {
    return std::hash<pact::TxnId>()(id.txn) * 31 + id.branch;
  }
};

template <>
struct fmt::formatter<pact::BranchId> : fmt::formatter<std::string_view> {
  auto format(const pact::BranchId& id, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(id.ToString(), ctx);
  }
};

#endif  // PACT_COMMON_BRANCH_ID_H_
