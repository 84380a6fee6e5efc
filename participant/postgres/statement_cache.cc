#include "participant/postgres/statement_cache.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <utility>

#include "common/check.h"

namespace pact {
namespace {

bool IsIdentifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

bool IsSpaceOrParenthesis(char c) {
  return c == '(' || std::isspace(static_cast<unsigned char>(c)) != 0;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

}  // namespace

bool IsPlannedStatement(std::string_view sql) {
  static constexpr std::array<std::string_view, 8> kPlannedKeywords = {
      "select", "insert", "update", "delete", "merge", "with", "values", "table"};
  size_t start = 0;
  while (start < sql.size() && IsSpaceOrParenthesis(sql[start])) ++start;
  size_t end = start;
  while (end < sql.size() && IsIdentifierChar(sql[end])) ++end;
  const std::string_view keyword = sql.substr(start, end - start);
  for (std::string_view planned : kPlannedKeywords) {
    if (EqualsIgnoringCase(keyword, planned)) return true;
  }
  return false;
}

StatementCache::StatementCache(size_t entries_max) : entries_max_(entries_max) {}

std::optional<StatementCache::Use> StatementCache::Lookup(std::string_view sql) {
  if (!enabled() || sql.size() > kCachedSqlBytesMax) return std::nullopt;
  if (auto found = by_sql_.find(sql); found != by_sql_.end()) {
    entries_.splice(entries_.begin(), entries_, found->second);
    return Use{found->second->name, /*parse=*/false};
  }
  // Every cached or queued name may be held by the server: at most 2 * entries_max of them.
  if (entries_.size() + closes_.size() >= 2 * entries_max_) return std::nullopt;
  if (entries_.size() == entries_max_) {
    closes_.push_back(entries_.back().name);
    Erase(std::prev(entries_.end()));
  }
  ++names_made_;
  entries_.push_front(
      Entry{std::string(sql), fmt::format("{}{}", kCachedStatementNamePrefix, names_made_)});
  by_sql_.emplace(entries_.front().sql, entries_.begin());
  CheckInvariants();
  return Use{entries_.front().name, /*parse=*/true};
}

void StatementCache::ParseFailed(std::string_view sql, std::string_view name) {
  auto found = by_sql_.find(sql);
  if (found == by_sql_.end() || found->second->name != name) return;
  Erase(found->second);
  CheckInvariants();
}

void StatementCache::Drop(std::string_view sql, std::string_view name) {
  auto found = by_sql_.find(sql);
  if (found == by_sql_.end() || found->second->name != name) return;
  closes_.push_back(found->second->name);
  Erase(found->second);
  CheckInvariants();
}

void StatementCache::DropAll() {
  for (Entry& entry : entries_) closes_.push_back(std::move(entry.name));
  by_sql_.clear();
  entries_.clear();
  CheckInvariants();
}

std::vector<std::string> StatementCache::TakeCloses() { return std::exchange(closes_, {}); }

void StatementCache::Erase(Entries::iterator entry) {
  const size_t erased = by_sql_.erase(entry->sql);
  PACT_CHECK(erased == 1, "statement cache: {} is not indexed", entry->name);
  entries_.erase(entry);
}

void StatementCache::CheckInvariants() const {
  PACT_CHECK(entries_.size() <= entries_max_ && by_sql_.size() == entries_.size(),
             "statement cache: {} entries, {} indexed, at most {}", entries_.size(), by_sql_.size(),
             entries_max_);
  PACT_CHECK(entries_.size() + closes_.size() <= 2 * entries_max_,
             "statement cache: {} entries and {} closes queued, at most {} together",
             entries_.size(), closes_.size(), 2 * entries_max_);
}

}  // namespace pact
