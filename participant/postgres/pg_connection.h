// PgConnection: one libpq connection, with every libpq failure turned into a Status. The
// PostgreSQL resource builds on it; nothing here knows about branches or gids.
//
// Ownership: a PgConnection owns its PGconn and closes it when destroyed (the server then rolls
// back any open transaction of the session; prepared transactions stay).
// Thread-safety: none. libpq allows one thread at a time per connection; different
// connections may be used from different threads at once.
#ifndef PACT_PARTICIPANT_POSTGRES_PG_CONNECTION_H_
#define PACT_PARTICIPANT_POSTGRES_PG_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "participant/postgres/statement_cache.h"

// libpq's connection and result types, declared here so that users of this header need no
// libpq headers.
struct pg_conn;
struct pg_result;

namespace pact {

// The rows of one statement, as text (PostgreSQL's text format).
struct SqlResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt is SQL NULL
  uint64_t rows_affected = 0;  // INSERT/UPDATE/DELETE/...; 0 for statements without a count
  std::string command_tag;     // "INSERT 0 1", "PREPARE TRANSACTION", "ROLLBACK"
};

// A statement parameter in text form; nullopt is SQL NULL.
using SqlParam = std::optional<std::string>;

// What went wrong with a statement, beyond its Status: what the caller branches on.
struct SqlError {
  std::string sqlstate;  // e.g. "42704"; empty when libpq itself failed
  // The connection is unusable: the server rolled back its session, or does so when the
  // connection is closed.
  bool connection_lost = false;
};

// One statement of a pipeline (PgConnection::ExecPipeline).
struct SqlStatement {
  std::string_view sql;
  std::span<const SqlParam> params;  // $1..$n, as for Exec
  // Run it as a named statement from the connection's statement cache, when the connection has
  // one (PgConnectOptions::statement_cache_size). Only for statements the server plans
  // (IsPlannedStatement), never for utility statements such as BEGIN or PREPARE TRANSACTION.
  // Results and errors are those of the unnamed statement, with two exceptions the cache
  // recovers from by itself: SQLSTATE 26000 when someone deallocated our statements, and 0A000
  // when a table changed under a query so that its result has other columns now. Either error
  // fails the statement (and the transaction) once; the next use prepares the text again.
  bool cacheable = false;
};

// Where a pipeline stopped. The server runs a pipeline's statements in order and skips every
// statement after the first that fails.
struct PipelineError {
  size_t statement = 0;  // index of the statement that failed; its SQLSTATE is in `error`
  // When error.connection_lost, `statement` is the first one whose result did not arrive: it and
  // the statements after it may or may not have run.
  SqlError error;
  std::vector<SqlResult> results;  // of the statements before `statement`, which all succeeded
};

// SQLSTATEs the resource reacts to.
inline constexpr std::string_view kSqlStateUndefinedObject = "42704";  // no such prepared gid

// The Status code for a server error. Only classes that a caller treats differently get their
// own code (STYLE 6): lost connections and servers going away -> kUnavailable; serialization
// failures and deadlocks (class 40), statement and lock timeouts (57014, 55P03) -> kAborted
// (the transaction is lost, but running it again may succeed); insufficient
// resources (class 53) -> kOverloaded; system errors (class 58) -> kIoError; anything else
// (syntax, constraints, missing objects) -> kInvalidArgument, since retrying it unchanged does
// not help.
StatusCode StatusCodeForSqlState(std::string_view sqlstate, bool connection_lost);

struct PgConnectOptions {
  int connect_timeout_seconds = 10;  // libpq's connect_timeout (libpq treats 1 as 2)
  // The server cancels a statement that runs longer (SQLSTATE 57014) - e.g. one waiting for a
  // row lock that an in-doubt prepared transaction holds. 0 means no limit.
  int statement_timeout_ms = 30'000;
  // TCP keepalive, so that a server machine that vanished is noticed in about
  // idle + interval * count seconds rather than the OS default of hours.
  int keepalive_idle_seconds = 10;
  int keepalive_interval_seconds = 5;
  int keepalive_count_max = 3;
  std::string application_name = "pact";  // used unless the DSN names one
  // Cacheable statements (SqlStatement::cacheable) kept prepared on the server, per connection
  // (StatementCache); 0 runs every statement unnamed. A first use sends Parse in the same round
  // trip as the execution; evicted statements are closed (DEALLOCATE) in the connection's next
  // round trip that starts outside a transaction, never in one of their own.
  size_t statement_cache_size = 0;
  // When set, counts the round trips of Exec and ExecPipeline (not those of connecting); for
  // tests and metrics. Not owned; must outlive the connection.
  std::atomic<uint64_t>* round_trips = nullptr;
};

class PgConnection {
 public:
  // Connects with `dsn` (a libpq connection string or URI); settings in the DSN win over
  // `options` (a DSN with its own "options" replaces the statement timeout). InvalidArgument when
  // the DSN does not parse; Unavailable when the server cannot be reached, refuses us or does not
  // accept connections yet (the message is libpq's).
  static Result<std::unique_ptr<PgConnection>> Connect(const std::string& dsn,
                                                       const PgConnectOptions& options);
  ~PgConnection();

  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement with text parameters $1..$n (PQexecParams: never more than one
  // statement, so parameters cannot smuggle in another). On failure fills `*error` when given
  // and returns a Status whose message names the database, the SQLSTATE and the server's
  // message, detail and hint.
  Result<SqlResult> Exec(std::string_view sql, const std::vector<SqlParam>& params = {},
                         SqlError* error = nullptr);
  // Exec of one SqlStatement: a cacheable one runs from the statement cache, as a pipeline of
  // one statement (still one round trip).
  Result<SqlResult> Exec(const SqlStatement& statement, SqlError* error = nullptr);

  // Runs `statements` (at least one) in a single round trip: libpq's pipeline mode sends them
  // all with one Sync, then reads every result. The server runs them in order and skips the rest
  // at the first failure. Outside a transaction block, the statements up to the Sync form one
  // implicit transaction; after a BEGIN among them, the transaction stays open.
  // Returns one SqlResult per statement once every result has arrived (the connection may still
  // break just after: see broken()). On failure fills `*error` when given and returns the failed
  // statement's Status, worded as Exec's. A connection left in pipeline mode (libpq could not
  // send, or the results made no sense) is broken(), and its failure has connection_lost.
  Result<std::vector<SqlResult>> ExecPipeline(std::span<const SqlStatement> statements,
                                              PipelineError* error = nullptr);
  // ExecPipeline in two halves, so that one thread can have pipelines in flight on several
  // connections at once: SendPipeline sends (a failure is reported as ExecPipeline would), and
  // ReceivePipeline, given the same statements, reads the results. Nothing else may run on the
  // connection in between.
  // A pipeline that starts outside a transaction first closes the statements evicted from the
  // cache, each followed by a Sync of its own, so that they change nothing for the statements.
  Status SendPipeline(std::span<const SqlStatement> statements, PipelineError* error = nullptr);
  Result<std::vector<SqlResult>> ReceivePipeline(std::span<const SqlStatement> statements,
                                                 PipelineError* error = nullptr);

  // Runs `statements` (at least one) in a single round trip, each on its own: a Sync follows
  // every statement, so outside a transaction block each is its own implicit transaction and
  // one's failure skips none of the others (and statements refused inside a pipeline's implicit
  // transaction, such as COMMIT PREPARED, are allowed). Always unnamed statements: `cacheable`
  // is ignored. One Result per statement, in order;
  // `errors`, when given, gets one SqlError per statement (meaningful where its Result failed).
  // A connection lost midway fails every statement whose result did not arrive, with
  // connection_lost: those may or may not have run.
  std::vector<Result<SqlResult>> ExecEach(std::span<const SqlStatement> statements,
                                          std::vector<SqlError>* errors = nullptr);

  // `text` as a quoted SQL string literal, escaped for this connection's encoding
  // (PQescapeLiteral). InvalidArgument when the text is not valid in that encoding.
  Result<std::string> QuoteLiteral(std::string_view text);

  bool broken() const;                 // the connection is unusable; only destruction helps
  bool idle() const;                   // connected, and no transaction open
  bool in_transaction() const;         // inside a transaction block that has not failed
  bool in_failed_transaction() const;  // inside a transaction block that failed

  // "postgres bank_a@127.0.0.1:5432", for messages.
  const std::string& description() const { return description_; }
  const std::string& database() const { return database_; }
  int server_version() const;  // e.g. 150004 for 15.4
  const StatementCache& statement_cache() const { return statement_cache_; }

 private:
  PgConnection(pg_conn* conn, const PgConnectOptions& options);
  bool lost() const;  // libpq saw the connection end
  Status ErrorStatus(std::string_view sql, const pg_result* result, SqlError* error);
  void CountRoundTrip();
  Result<SqlResult> ExecUnnamed(std::string_view sql, std::span<const SqlParam> params,
                                SqlError* error);
  // Queues one statement of a pipeline (Parse first when it is new to the cache); records in
  // uses_in_flight_ how it went out. False when libpq refused it.
  bool SendStatement(const SqlStatement& statement);
  // Sends the closes the cache has queued when `idle` (the session is outside a transaction),
  // each with its own Sync; records them in closes_in_flight_. False when libpq refused one.
  bool SendCloses(bool idle);
  // Reads the results of closes_in_flight_; their failures (the server had already forgotten a
  // statement) do not matter. False when the results are not the ones expected.
  bool ReceiveCloses();
  // The cache's part in a failed execution of a cached statement.
  void ForgetAfterFailure(const SqlStatement& statement, const StatementCache::Use& use,
                          const pg_result* result);

  pg_conn* conn_;
  std::atomic<uint64_t>* const round_trips_;  // may be null
  StatementCache statement_cache_;
  // Between SendPipeline and ReceivePipeline: the closes sent, and how each statement went out
  // (nullopt: unnamed).
  std::vector<std::string> closes_in_flight_;
  std::vector<std::optional<StatementCache::Use>> uses_in_flight_;
  std::string database_;
  std::string description_;
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_POSTGRES_PG_CONNECTION_H_
