#include "common/txn_id.h"

#include <charconv>

#include <fmt/format.h>

namespace pact {
namespace {

// Strict decimal: digits only, no leading zero, no overflow, not zero.
bool ParsePositiveDecimal(std::string_view text, uint64_t* out) {
  if (text.empty() || text[0] == '0') return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

std::string TxnId::ToString() const { return fmt::format("{}.{}", epoch, sequence); }

Result<TxnId> TxnId::Parse(std::string_view text) {
  const size_t dot = text.find('.');
  TxnId id;
  if (dot == std::string_view::npos || !ParsePositiveDecimal(text.substr(0, dot), &id.epoch) ||
      !ParsePositiveDecimal(text.substr(dot + 1), &id.sequence)) {
    return Status::InvalidArgument(
        fmt::format("malformed txid '{}' (expected <epoch>.<sequence>, e.g. 3.1042)", text));
  }
  return id;
}

}  // namespace pact
