// TxnId: the global transaction id, (leader epoch, sequence). A leader only ever decides
// transactions of its own epoch, so the epoch alone tells which leader owns a transaction.
//
// Text form (stable: it appears in logs, ledgers, pactctl and PostgreSQL gids):
//   "<epoch>.<sequence>", both decimal without leading zeros, e.g. "3.1042".
#ifndef PACT_COMMON_TXN_ID_H_
#define PACT_COMMON_TXN_ID_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pact {

struct TxnId {
  uint64_t epoch = 0;     // the epoch of the leader that began it; 0 is never a real epoch
  uint64_t sequence = 0;  // assigned by that leader, from 1, unique within the epoch

  bool valid() const { return epoch != 0 && sequence != 0; }
  std::string ToString() const;

  // Parses the text form; anything else (signs, spaces, overflow, zero parts) is an error.
  static Result<TxnId> Parse(std::string_view text);

  friend auto operator<=>(const TxnId&, const TxnId&) = default;
};

}  // namespace pact

template <>
struct std::hash<pact::TxnId> {
  size_t operator()(const pact::TxnId& id) const noexcept {
    return std::hash<uint64_t>()(id.epoch * 0x9E3779B97F4A7C15ULL ^ id.sequence);
  }
};

template <>
struct fmt::formatter<pact::TxnId> : fmt::formatter<std::string_view> {
  auto format(const pact::TxnId& id, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(id.ToString(), ctx);
  }
};

#endif  // PACT_COMMON_TXN_ID_H_
