// StatementCache: which SQL texts one PostgreSQL session holds as named prepared statements, so
// that the server parses, analyses and plans a statement once per session instead of at every
// execution (as pgjdbc's and pgx's statement caches do). Pure bookkeeping: PgConnection sends
// the Parse, the executions and the DEALLOCATEs it calls for.
//
// Bounded: at most entries_max texts are cached. A new text evicts the least recently used one,
// whose name waits in a queue (TakeCloses) until the session is outside any transaction, where
// the DEALLOCATE can neither fail a transaction nor be refused by a failed one. Cached and queued
// names together are at most 2 * entries_max (beyond that new texts run unnamed until the queue
// is sent), so the session never holds more of our statements than that, and holds at most
// entries_max once the queue is sent.
//
// Names are "pact_s1", "pact_s2", ...; a cache never reuses one, so a name waiting to be closed
// never refers to a live entry. A new session needs a new cache: the server forgot the old one's.
//
// Thread-safety: none; one per connection.
#ifndef PACT_PARTICIPANT_POSTGRES_STATEMENT_CACHE_H_
#define PACT_PARTICIPANT_POSTGRES_STATEMENT_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pact {

// Longer texts run unnamed: a cache entry keeps its text, and a client that builds long SQL with
// literals in it would fill the memory of every pooled connection for statements rarely reused.
inline constexpr size_t kCachedSqlBytesMax = 16 * 1024;

// The name prefix of the server-side statements of a cache.
inline constexpr std::string_view kCachedStatementNamePrefix = "pact_s";

// Whether PostgreSQL plans `sql`: a query or DML (SELECT, INSERT, UPDATE, DELETE, MERGE, WITH,
// VALUES, TABLE, optionally after '(' and whitespace), the statements worth keeping prepared.
// Anything else is not, in particular utility statements that change what the session holds
// (DEALLOCATE, DISCARD, PREPARE) and anything that starts with a comment.
bool IsPlannedStatement(std::string_view sql);

class StatementCache {
 public:
  // How to run one statement from the cache.
  struct Use {
    std::string name;    // of the server-side statement
    bool parse = false;  // new to the server: send Parse with this name before the execution
  };

  // entries_max 0: the cache is off, and Lookup always answers nullopt.
  explicit StatementCache(size_t entries_max);

  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // The statement to run `sql` with, which is now the most recently used. On a miss a new name
  // is assigned (parse is true) and, when the cache is full, the least recently used entry is
  // evicted and its name queued for closing. nullopt: run `sql` as the unnamed statement (the
  // cache is off, the text is longer than kCachedSqlBytesMax, or so many names wait to be closed
  // that the server might hold more than 2 * entries_max).
  std::optional<Use> Lookup(std::string_view sql);

  // The Parse of `name` for `sql` did not succeed (an error, or skipped after an earlier error),
  // so the server does not hold it: the entry goes, nothing needs closing. Does nothing when
  // `sql` is no longer cached under `name`.
  void ParseFailed(std::string_view sql, std::string_view name);
  // The server holds `name` but it must not be used again (its plan may no longer give the
  // result it was parsed with, SQLSTATE 0A000): the entry goes and `name` is queued for closing.
  void Drop(std::string_view sql, std::string_view name);
  // The server may have forgotten any of our statements (SQLSTATE 26000: someone ran DEALLOCATE
  // ALL): every entry goes, and every name is queued for closing in case it was not forgotten.
  void DropAll();

  // The names to DEALLOCATE, oldest first; they are no longer queued. For a session outside any
  // transaction, in the round trip about to go out.
  std::vector<std::string> TakeCloses();

  bool enabled() const { return entries_max_ > 0; }
  size_t entries_max() const { return entries_max_; }
  size_t size() const { return entries_.size(); }
  size_t closes_pending() const { return closes_.size(); }

 private:
  struct Entry {
    std::string sql;
    std::string name;
  };
  using Entries = std::list<Entry>;

  void Erase(Entries::iterator entry);
  void CheckInvariants() const;

  const size_t entries_max_;
  Entries entries_;  // most recently used first
  // Keys view the texts in entries_, whose nodes never move.
  std::map<std::string_view, Entries::iterator, std::less<>> by_sql_;
  std::vector<std::string> closes_;
  uint64_t names_made_ = 0;
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_POSTGRES_STATEMENT_CACHE_H_
