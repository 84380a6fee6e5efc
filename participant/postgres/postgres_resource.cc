#include "participant/postgres/postgres_resource.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <utility>

#include "common/logging.h"

namespace pact {
namespace {

// pg_current_xact_id_if_assigned() arrived in PostgreSQL 13.
constexpr int kServerVersionMin = 130000;
constexpr int kServerVersionMinMajor = 13;
constexpr char kLikeEscape = '!';
constexpr int kBackoffDoublingsMax = 20;
constexpr uint64_t kMicrosPerMilli = 1'000;
// Server-side statements per connection: each holds a plan in the memory of its backend.
constexpr size_t kStatementCacheSizeMax = 10'000;

Status ValidateOptions(const PostgresResourceOptions& options) {
  if (options.active_branches_max < 1 || options.connect_timeout_seconds < 1 ||
      options.statement_timeout_ms < 0 || options.reconnect_attempts_max < 1 ||
      options.reconnect_backoff_initial_ms > options.reconnect_backoff_max_ms ||
      options.statement_cache_size > kStatementCacheSizeMax) {
    return Status::InvalidArgument(fmt::format(
        "PostgresResourceOptions: active_branches_max ({}), connect_timeout_seconds ({}) and "
        "reconnect_attempts_max ({}) must be >= 1, statement_timeout_ms ({}) >= 0, "
        "reconnect_backoff_initial_ms ({}) <= reconnect_backoff_max_ms ({}), and "
        "statement_cache_size ({}) <= {}",
        options.active_branches_max, options.connect_timeout_seconds,
        options.reconnect_attempts_max, options.statement_timeout_ms,
        options.reconnect_backoff_initial_ms, options.reconnect_backoff_max_ms,
        options.statement_cache_size, kStatementCacheSizeMax));
  }
  return Status::Ok();
}

PgConnectOptions ConnectOptionsFor(const PostgresResourceOptions& options,
                                   std::atomic<uint64_t>* round_trips) {
  PgConnectOptions connect;
  connect.connect_timeout_seconds = options.connect_timeout_seconds;
  connect.statement_timeout_ms = options.statement_timeout_ms;
  connect.application_name = "pact-participant";
  connect.round_trips = round_trips;
  connect.statement_cache_size = options.statement_cache_size;
  return connect;
}

// The answer of kWroteNothingSql: true when the transaction has no transaction id, which
// PostgreSQL assigns at the first write - so it wrote nothing. Planned, and sent with every
// PREPARE TRANSACTION: it runs from the statement cache.
constexpr std::string_view kWroteNothingSql = "SELECT pg_current_xact_id_if_assigned() IS NULL";
constexpr SqlStatement kWroteNothing = {kWroteNothingSql, {}, /*cacheable=*/true};

// A client's statement; queries and DML run from the statement cache.
SqlStatement ClientStatement(std::string_view sql, std::span<const SqlParam> params) {
  return SqlStatement{sql, params, /*cacheable=*/IsPlannedStatement(sql)};
}

bool WroteNothing(const SqlResult& answer) {
  return answer.rows.size() == 1 && answer.rows[0].size() == 1 && answer.rows[0][0] == "t";
}

// Ends whatever transaction the session has. If ROLLBACK fails the connection is left
// non-idle, so ReleaseConnection closes it - and closing rolls back on the server too.
void RollbackQuietly(PgConnection& conn) {
  if (conn.in_transaction() || conn.in_failed_transaction()) {
    (void)conn.Exec("ROLLBACK");
  }
}

Status MaxPreparedTransactionsIsZero(const PgConnection& conn) {
  return Status::FailedPrecondition(fmt::format(
      "{}: max_prepared_transactions is 0, so PREPARE TRANSACTION is disabled and this database "
      "cannot take part in two-phase commit. Set max_prepared_transactions in postgresql.conf "
      "(or ALTER SYSTEM SET max_prepared_transactions = 64) to at least the number of branches "
      "that may be prepared at once, and restart the server",
      conn.description()));
}

}  // namespace

std::string EscapeLikePattern(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    if (c == kLikeEscape || c == '%' || c == '_') escaped += kLikeEscape;
    escaped += c;
  }
  return escaped;
}

Result<std::unique_ptr<PostgresResource>> PostgresResource::Open(const std::string& dsn,
                                                                 std::string_view cluster,
                                                                 PostgresResourceOptions options) {
  PACT_RETURN_IF_ERROR(ValidateClusterName(cluster));
  PACT_RETURN_IF_ERROR(ValidateOptions(options));
  // Counts the round trips of every connection of the resource, this first one included.
  auto round_trips = std::make_unique<std::atomic<uint64_t>>(0);
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
                        PgConnection::Connect(dsn, ConnectOptionsFor(options, round_trips.get())));
  if (conn->server_version() < kServerVersionMin) {
    return Status::FailedPrecondition(
        fmt::format("{}: server version {} is too old; Pact needs PostgreSQL {} or later",
                    conn->description(), conn->server_version(), kServerVersionMinMajor));
  }
  PACT_ASSIGN_OR_RETURN(SqlResult setting,
                        conn->Exec("SELECT current_setting('max_prepared_transactions')"));
  int max_prepared = -1;
  if (setting.rows.size() == 1 && setting.rows[0].size() == 1 && setting.rows[0][0]) {
    const std::string& text = *setting.rows[0][0];
    std::from_chars(text.data(), text.data() + text.size(), max_prepared);
  }
  if (max_prepared < 0) {
    return Status::FailedPrecondition(
        fmt::format("{}: cannot read max_prepared_transactions", conn->description()));
  }
  if (max_prepared == 0) return MaxPreparedTransactionsIsZero(*conn);

  std::unique_ptr<PostgresResource> resource(new PostgresResource(
      std::string(cluster), dsn, options, conn->database(), std::move(round_trips)));
  resource->ReleaseConnection(std::move(conn));
  return resource;
}

PostgresResource::PostgresResource(std::string cluster, std::string dsn,
                                   PostgresResourceOptions options, std::string database,
                                   std::unique_ptr<std::atomic<uint64_t>> round_trips)
    : cluster_(std::move(cluster)),
      dsn_(std::move(dsn)),
      options_(options),
      name_("postgres:" + database),
      clock_(options.clock != nullptr ? options.clock : SystemClock::Default()),
      round_trips_(std::move(round_trips)) {}

PostgresResource::~PostgresResource() {
  std::lock_guard lock(mutex_);
  for (const auto& [id, branch] : branches_) {
    PACT_CHECK(!branch.busy, "{} destroyed while a call for branch {} runs", name_, id);
  }
}

size_t PostgresResource::active_branches() const {
  std::lock_guard lock(mutex_);
  return branches_.size();
}

size_t PostgresResource::idle_connections() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

uint64_t PostgresResource::round_trips() const {
  return round_trips_->load(std::memory_order_relaxed);
}

Result<std::unique_ptr<PgConnection>> PostgresResource::AcquireConnection() {
  while (true) {
    std::unique_ptr<PgConnection> conn;
    {
      std::lock_guard lock(mutex_);
      if (idle_.empty()) break;
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    if (!conn->broken()) return conn;
    // A connection libpq already knows to be dead is closed here, outside the mutex.
  }
  return PgConnection::Connect(dsn_, ConnectOptionsFor(options_, round_trips_.get()));
}

Result<std::unique_ptr<PgConnection>> PostgresResource::ConnectForBranch(bool fresh) {
  Status last;
  for (int attempt = 1; attempt <= options_.reconnect_attempts_max; ++attempt) {
    if (attempt > 1) Backoff(attempt - 1);
    Result<std::unique_ptr<PgConnection>> conn =
        fresh ? PgConnection::Connect(dsn_, ConnectOptionsFor(options_, round_trips_.get()))
              : AcquireConnection();
    // Unavailable: the server is down or still starting; anything else will not get better.
    if (conn.ok() || conn.status().code() != StatusCode::kUnavailable) return conn;
    last = conn.status();
  }
  return Status::Unavailable(fmt::format("{}: connecting failed {} times; last error: {}", name_,
                                         options_.reconnect_attempts_max, last.message()));
}

void PostgresResource::DropIdleConnections() {
  std::vector<std::unique_ptr<PgConnection>> stale;
  {
    std::lock_guard lock(mutex_);
    stale.swap(idle_);
  }
  // Closed here, outside the mutex.
}

void PostgresResource::ReleaseConnection(std::unique_ptr<PgConnection> conn) {
  if (conn == nullptr || !conn->idle()) return;  // closing it ends whatever it still holds
  std::lock_guard lock(mutex_);
  if (idle_.size() < options_.idle_connections_max) idle_.push_back(std::move(conn));
  // Otherwise `conn`, declared before the lock, closes after the mutex is released.
}

void PostgresResource::Backoff(int attempt) {
  const int doublings = std::min(attempt - 1, kBackoffDoublingsMax);
  const uint64_t millis = std::min(options_.reconnect_backoff_initial_ms << doublings,
                                   options_.reconnect_backoff_max_ms);
  clock_->SleepForMicros(millis * kMicrosPerMilli);
}

template <typename T, typename Op>
Result<T> PostgresResource::WithReconnect(std::string_view what, Op op) {
  Status last;
  for (int attempt = 1; attempt <= options_.reconnect_attempts_max; ++attempt) {
    if (attempt > 1) Backoff(attempt - 1);
    Result<std::unique_ptr<PgConnection>> conn = AcquireConnection();
    if (!conn.ok()) {
      last = conn.status();
      // Unavailable: the server is down or still starting; anything else will not get better.
      if (last.code() == StatusCode::kUnavailable) continue;
      return last;
    }
    SqlError error;
    Result<T> result = op(*conn, &error);
    if (result.ok() || !error.connection_lost) {
      ReleaseConnection(std::move(*conn));  // op may have taken it
      return result;
    }
    last = result.status();
    // A lost connection usually means the server restarted, which took every idle connection
    // with it: drop them all rather than spend the remaining attempts on them one by one.
    DropIdleConnections();
  }
  return Status::Unavailable(fmt::format("{}: {} failed {} times; last error: {}", name_, what,
                                         options_.reconnect_attempts_max, last.message()));
}

Status PostgresResource::BeginBranch(const BranchId& branch) {
  if (!branch.valid()) {
    return Status::InvalidArgument(fmt::format("{}: invalid branch id {}", name_, branch));
  }
  {
    std::lock_guard lock(mutex_);
    if (branches_.contains(branch)) {
      return Status::FailedPrecondition(
          fmt::format("{}: branch {} is already open", name_, branch));
    }
    if (branches_.size() >= options_.active_branches_max) {
      return Status::Overloaded(
          fmt::format("{}: {} branches are open (active_branches_max)", name_, branches_.size()));
    }
    branches_[branch].busy = true;  // reserves the id while we connect outside the mutex
  }
  // No BEGIN yet: it travels with the branch's first statement (BeginWithStatement), which saves
  // a round trip. PostgreSQL takes a transaction's snapshot at its first statement, not at
  // BEGIN, so the branch sees the same data either way. A pooled connection may have gone stale
  // since it was used; the first statement finds out, and moves to a new connection.
  Result<std::unique_ptr<PgConnection>> conn = ConnectForBranch(/*fresh=*/false);
  std::lock_guard lock(mutex_);
  auto it = branches_.find(branch);
  PACT_CHECK(it != branches_.end() && it->second.busy && it->second.conn == nullptr,
             "branch {} changed while it was being begun", branch);
  if (!conn.ok()) {
    branches_.erase(it);
    return conn.status().WithContext(fmt::format("beginning branch {}", branch));
  }
  it->second.conn = std::move(conn).value();
  it->second.busy = false;
  return Status::Ok();
}

Result<SqlResult> PostgresResource::Exec(const BranchId& branch, std::string_view sql,
                                         const std::vector<SqlParam>& params) {
  std::unique_ptr<PgConnection> conn;
  bool begun = false;
  {
    std::lock_guard lock(mutex_);
    auto it = branches_.find(branch);
    if (it == branches_.end()) {
      return Status::FailedPrecondition(
          fmt::format("{}: branch {} is not open (never begun, or already prepared or rolled back)",
                      name_, branch));
    }
    if (it->second.busy) {
      return Status::FailedPrecondition(
          fmt::format("{}: branch {} is busy with another call", name_, branch));
    }
    if (!it->second.failure.ok()) {
      return Status::Aborted(
          fmt::format("{}: branch {} failed earlier and can only be rolled back: {}", name_, branch,
                      it->second.failure.message()));
    }
    it->second.busy = true;
    conn = std::move(it->second.conn);
    begun = it->second.begun;
  }

  // The branch's connection is ours alone while busy: run the statement outside the mutex.
  SqlError error;
  Result<SqlResult> result = begun ? conn->Exec(ClientStatement(sql, params), &error)
                                   : BeginWithStatement(conn, sql, params, &error);
  Status failure;
  if (!result.ok() && error.connection_lost) {
    failure = Status::Aborted(fmt::format("branch {}: {}; the branch's transaction is lost", branch,
                                          result.status().message()));
  } else if (!result.ok()) {
    failure = result.status().WithContext(fmt::format("branch {}", branch));
  } else if (conn->broken()) {
    failure = Status::Aborted(
        fmt::format("{}: branch {}: the connection broke after '{}' ran; the branch's transaction "
                    "is lost",
                    name_, branch, sql));
  } else if (!conn->in_transaction()) {
    failure = Status::FailedPrecondition(fmt::format(
        "{}: branch {}: '{}' ended the branch's transaction (command {}); statements of a branch "
        "must not commit, roll back or prepare - the branch can only be rolled back now",
        name_, branch, sql, result->command_tag));
  }

  std::lock_guard lock(mutex_);
  Branch& entry = branches_.at(branch);
  PACT_CHECK(entry.busy && entry.conn == nullptr, "branch {} changed while a statement ran",
             branch);
  entry.busy = false;
  entry.conn = std::move(conn);
  entry.begun = true;  // even if it failed: `failure` then decides what the branch may do
  if (!failure.ok()) {
    entry.failure = failure;
    return failure;
  }
  return result;
}

Result<SqlResult> PostgresResource::BeginWithStatement(std::unique_ptr<PgConnection>& conn,
                                                       std::string_view sql,
                                                       const std::vector<SqlParam>& params,
                                                       SqlError* error) {
  const SqlStatement statements[] = {{"BEGIN", {}}, ClientStatement(sql, params)};
  PipelineError failed;
  Result<std::vector<SqlResult>> results = conn->ExecPipeline(statements, &failed);
  if (!results.ok() && failed.error.connection_lost) {
    // Most likely a pooled connection whose session ended while it sat idle (a server restart,
    // an idle timeout, pg_terminate_backend). Running both again on a new connection is safe:
    // the server rolled back the transaction of the lost session, which it never committed, and
    // the caller has seen nothing of it. Once only, not WithReconnect's attempts: the statement
    // itself may be what breaks the connection. Connecting waits for a restarting server.
    DropIdleConnections();  // as WithReconnect does: they probably went with the same restart
    Result<std::unique_ptr<PgConnection>> fresh = ConnectForBranch(/*fresh=*/true);
    if (!fresh.ok()) {
      *error = failed.error;
      return Status(results.status().code(),
                    fmt::format("{}; and a new connection failed: {}", results.status().message(),
                                fresh.status().message()));
    }
    conn = std::move(fresh).value();  // the lost one closes here
    results = conn->ExecPipeline(statements, &failed);
  }
  if (!results.ok()) {
    *error = failed.error;
    return results.status();
  }
  PACT_CHECK(results->size() == 2, "{} results of BEGIN and a statement", results->size());
  return std::move((*results)[1]);
}

Result<PostgresResource::Branch> PostgresResource::TakeBranch(const BranchId& branch) {
  std::lock_guard lock(mutex_);
  auto it = branches_.find(branch);
  if (it == branches_.end()) {
    return Status::NotFound(fmt::format("{}: branch {} is not open", name_, branch));
  }
  if (it->second.busy) {
    return Status::FailedPrecondition(
        fmt::format("{}: branch {} is busy with another call", name_, branch));
  }
  return std::move(branches_.extract(it).mapped());
}

Result<PrepareResult> PostgresResource::Prepare(const BranchId& branch) {
  Result<Branch> taken = TakeBranch(branch);
  if (std::optional<Result<PrepareResult>> answer = AnswerWithoutPrepare(branch, taken)) {
    return std::move(*answer);
  }
  std::unique_ptr<PgConnection> conn = std::move(taken->conn);
  Result<PrepareResult> result = PrepareOnConnection(branch, *conn);
  ReleaseConnection(std::move(conn));
  return result;
}

std::optional<Result<PrepareResult>> PostgresResource::AnswerWithoutPrepare(
    const BranchId& branch, Result<Branch>& taken) {
  if (!taken.ok()) {
    if (taken.status().code() != StatusCode::kNotFound) return taken.status();
    // A branch whose work was lost (say, by a crash before prepare) must vote NO.
    return Status::FailedPrecondition(fmt::format(
        "{}: branch {} cannot be prepared: it is not open (never begun, its work was lost, or "
        "already prepared or rolled back)",
        name_, branch));
  }
  if (!taken->failure.ok()) {
    RollbackQuietly(*taken->conn);
    ReleaseConnection(std::move(taken->conn));
    return Status::Aborted(
        fmt::format("{}: branch {} cannot be prepared, it failed earlier (rolled back now): {}",
                    name_, branch, taken->failure.message()));
  }
  if (!taken->begun) {
    // No statement ran, so BEGIN was never sent: there is nothing to prepare or commit.
    ReleaseConnection(std::move(taken->conn));
    return PrepareResult::kReadOnly;
  }
  return std::nullopt;
}

Status PostgresResource::RolledBack(const BranchId& branch, PgConnection& conn,
                                    const Status& cause) {
  RollbackQuietly(conn);
  return Status::Aborted(
      fmt::format("{}: preparing branch {} failed, the branch is rolled back: {}", name_, branch,
                  cause.message()));
}

Result<PrepareResult> PostgresResource::PrepareOnConnection(const BranchId& branch,
                                                            PgConnection& conn) {
  if (!conn.in_transaction()) {
    return RolledBack(branch, conn,
                      Status::FailedPrecondition("the branch's transaction is no longer open"));
  }
  Result<std::string> gid = conn.QuoteLiteral(branch.Gid(cluster_));
  if (!gid.ok()) return RolledBack(branch, conn, gid.status());
  const std::string prepare = "PREPARE TRANSACTION " + *gid;

  // One round trip for both: whether the transaction wrote anything, and PREPARE TRANSACTION,
  // which thus runs even when the answer is no (undone in FinishPrepare).
  const SqlStatement statements[] = {kWroteNothing, {prepare, {}}};
  PipelineError failed;
  Result<std::vector<SqlResult>> results = conn.ExecPipeline(statements, &failed);
  return FinishPrepare(branch, conn, *gid, results, failed);
}

Result<PrepareResult> PostgresResource::FinishPrepare(
    const BranchId& branch, PgConnection& conn, const std::string& gid_literal,
    const Result<std::vector<SqlResult>>& results, const PipelineError& failed) {
  if (!results.ok()) {
    // Whatever result did not arrive, the PREPARE went out with the check and may have run.
    if (failed.error.connection_lost) {
      return RollbackPreparedAfterLostPrepare(branch, results.status());
    }
    if (failed.statement == 1 && WroteNothing(failed.results.at(0))) {
      // PREPARE TRANSACTION failed (a gid in use, max_prepared_transactions reached, temporary
      // objects) and the server rolled the transaction back. It wrote nothing, so that is as
      // good as a commit: vote READ_ONLY, as we did before the PREPARE ran with the check.
      RollbackQuietly(conn);
      return PrepareResult::kReadOnly;
    }
    // A failed check means a failed transaction, whose PREPARE the server skipped.
    return RolledBack(branch, conn, results.status());
  }
  if ((*results)[1].command_tag != "PREPARE TRANSACTION") {
    // PostgreSQL answers PREPARE TRANSACTION in a failed transaction with a rollback, not an
    // error. After a check that succeeded the transaction had not failed, but only the command
    // tag says that the PREPARE ran.
    return RolledBack(branch, conn,
                      Status::Aborted(fmt::format(
                          "PostgreSQL rolled the transaction back instead (command {})",
                          (*results)[1].command_tag)));
  }
  if (!WroteNothing((*results)[0])) return PrepareResult::kPrepared;
  return UndoReadOnlyPrepare(branch, conn, gid_literal);
}

std::vector<Result<PrepareResult>> PostgresResource::PrepareMany(
    const std::vector<BranchId>& branches) {
  // A branch whose prepare went out, waiting for its results. Addresses are stable (reserved),
  // so `statements` may point into `prepare`.
  struct InFlight {
    size_t index;
    std::unique_ptr<PgConnection> conn;
    std::string gid_literal;
    std::string prepare;
    SqlStatement statements[2];
    PipelineError failed;
    Status sent;
  };
  std::vector<std::optional<Result<PrepareResult>>> out(branches.size());
  std::vector<InFlight> in_flight;
  in_flight.reserve(branches.size());
  // Every pipeline is sent before any result is read: the round trips and the servers' WAL
  // flushes of the branches overlap instead of queuing one behind another.
  for (size_t i = 0; i < branches.size(); ++i) {
    Result<Branch> taken = TakeBranch(branches[i]);
    if (std::optional<Result<PrepareResult>> answer = AnswerWithoutPrepare(branches[i], taken)) {
      out[i] = std::move(*answer);
      continue;
    }
    std::unique_ptr<PgConnection> conn = std::move(taken->conn);
    Result<std::string> gid = conn->QuoteLiteral(branches[i].Gid(cluster_));
    if (!conn->in_transaction() || !gid.ok()) {
      out[i] = PrepareOnConnection(branches[i], *conn);  // says why, and rolls back
      ReleaseConnection(std::move(conn));
      continue;
    }
    InFlight& flight = in_flight.emplace_back();
    flight.index = i;
    flight.conn = std::move(conn);
    flight.gid_literal = std::move(gid).value();
    flight.prepare = "PREPARE TRANSACTION " + flight.gid_literal;
    flight.statements[0] = kWroteNothing;
    flight.statements[1] = {flight.prepare, {}};
    flight.sent = flight.conn->SendPipeline(flight.statements, &flight.failed);
  }
  for (InFlight& flight : in_flight) {
    Result<std::vector<SqlResult>> results =
        flight.sent.ok() ? flight.conn->ReceivePipeline(flight.statements, &flight.failed)
                         : Result<std::vector<SqlResult>>(flight.sent);
    const BranchId& branch = branches[flight.index];
    out[flight.index] = FinishPrepare(branch, *flight.conn, flight.gid_literal, results,
                                      flight.failed);
    ReleaseConnection(std::move(flight.conn));
  }
  std::vector<Result<PrepareResult>> answers;
  answers.reserve(branches.size());
  for (auto& answer : out) answers.push_back(std::move(*answer));
  return answers;
}

Result<PrepareResult> PostgresResource::UndoReadOnlyPrepare(const BranchId& branch,
                                                            PgConnection& conn,
                                                            const std::string& gid_literal) {
  // A transaction that wrote nothing needs no second phase (DESIGN §2: READ_ONLY vote), so its
  // PREPARE is rolled back; the writes-nothing check came back with it, which is cheaper for the
  // common, writing branch than a round trip of its own. Until the rollback, the database holds
  // a prepared gid that the participant never logged as PREPARED (its log has the branch active,
  // tombstoned or not at all), along with the locks of the tables read. If the participant
  // crashes here, its recovery finds the gid through ListPrepared and rolls it back without
  // asking anyone: the decision table (docs/recovery.md) has kRollbackInStore for store
  // kPrepared with log kNone, kActive or kAbortTombstone unless the decision is commit (rows
  // 50-51, 54-55, 58-59; 26-27, 30-31, 34-35 after an ABORT), and no commit can come, since we
  // voted nothing.
  SqlError error;
  Result<SqlResult> undone = conn.Exec("ROLLBACK PREPARED " + gid_literal, {}, &error);
  if (undone.ok() || error.sqlstate == kSqlStateUndefinedObject) return PrepareResult::kReadOnly;
  // Again on another connection, with reconnects: the server may be restarting.
  const Status rolled = RollbackPrepared(branch);
  if (rolled.ok()) return PrepareResult::kReadOnly;
  // The branch wrote nothing, but READ_ONLY would leave its gid prepared until the participant
  // restarts; NO makes the participant roll it back until that succeeds.
  return Status::OutcomeUnknown(fmt::format(
      "{}: branch {} wrote nothing, but rolling back its PREPARE TRANSACTION failed ({}; then {}), "
      "so it may still be prepared: vote NO, and roll it back once ListPrepared shows it",
      name_, branch, undone.status().message(), rolled.message()));
}

Status PostgresResource::RollbackPreparedAfterLostPrepare(const BranchId& branch,
                                                          const Status& cause) {
  // The server may have prepared the gid just before the connection broke. A prepared branch
  // that its participant voted NO on must not stay, so roll the gid back (OK if absent).
  const Status rolled = RollbackPrepared(branch);
  if (rolled.ok()) {
    return Status::Aborted(
        fmt::format("{}: preparing branch {} failed, the branch is rolled back: {}", name_, branch,
                    cause.message()));
  }
  return Status::OutcomeUnknown(fmt::format(
      "{}: the connection broke during PREPARE TRANSACTION of branch {} ({}) and the server "
      "could not be reached again ({}), so the branch may be prepared: vote NO, and roll it back "
      "once ListPrepared shows it",
      name_, branch, cause.message(), rolled.message()));
}

Status PostgresResource::CommitPrepared(const BranchId& branch) {
  if (!branch.valid()) {
    return Status::InvalidArgument(fmt::format("{}: invalid branch id {}", name_, branch));
  }
  {
    std::lock_guard lock(mutex_);
    if (branches_.contains(branch)) {
      return Status::FailedPrecondition(fmt::format(
          "{}: branch {} is active, not prepared; it must be prepared first", name_, branch));
    }
  }
  const std::string gid = branch.Gid(cluster_);
  // Repeating COMMIT PREPARED after a lost connection is safe: if the first one went through,
  // the repeat finds no such gid and reports NotFound, which the contract allows (the
  // participant's log tells a finished commit from a branch that never was prepared).
  return WithReconnect<bool>(
             "COMMIT PREPARED",
             [&](std::unique_ptr<PgConnection>& conn, SqlError* error) -> Result<bool> {
               PACT_ASSIGN_OR_RETURN(std::string literal, conn->QuoteLiteral(gid));
               Result<SqlResult> done = conn->Exec("COMMIT PREPARED " + literal, {}, error);
               if (done.ok()) return true;
               if (error->sqlstate == kSqlStateUndefinedObject) {
                 return NoPreparedTransaction(branch);
               }
               return done.status();
             })
      .status();
}

std::vector<Status> PostgresResource::CommitPreparedMany(const std::vector<BranchId>& branches) {
  // Which branches go in the pipeline: the others (invalid ids, branches still active) get
  // CommitPrepared's own answer.
  std::vector<size_t> pipelined;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < branches.size(); ++i) {
      if (branches[i].valid() && !branches_.contains(branches[i])) pipelined.push_back(i);
    }
  }
  Result<std::unique_ptr<PgConnection>> conn = Status::FailedPrecondition("no pipeline");
  if (pipelined.size() >= 2) conn = AcquireConnection();
  if (!conn.ok()) {
    // One by one, each with CommitPrepared's own reconnects and errors.
    pipelined.clear();
  }
  std::vector<Status> out(branches.size());
  std::vector<bool> in_pipeline(branches.size(), false);
  for (size_t i : pipelined) in_pipeline[i] = true;
  for (size_t i = 0; i < branches.size(); ++i) {
    if (!in_pipeline[i]) out[i] = CommitPrepared(branches[i]);
  }
  if (pipelined.empty()) return out;

  // SET, the COMMIT PREPAREDs but the last, RESET, the last COMMIT PREPARED.
  std::vector<std::string> sql = {"SET synchronous_commit TO off"};
  std::vector<size_t> statement_of(branches.size());  // index in `sql` of a branch's commit
  for (size_t i : pipelined) {
    Result<std::string> literal = (*conn)->QuoteLiteral(branches[i].Gid(cluster_));
    PACT_CHECK(literal.ok(), "a gid is ASCII: {}", literal.status().ToString());
    if (i == pipelined.back()) sql.push_back("RESET synchronous_commit");
    statement_of[i] = sql.size();
    sql.push_back("COMMIT PREPARED " + *literal);
  }
  const size_t set = 0;
  const size_t reset = sql.size() - 2;
  const size_t last = sql.size() - 1;
  std::vector<SqlStatement> statements;
  for (const std::string& text : sql) statements.push_back(SqlStatement{text, {}});
  std::vector<SqlError> errors;
  std::vector<Result<SqlResult>> results = (*conn)->ExecEach(statements, &errors);

  for (size_t i : pipelined) {
    const size_t statement = statement_of[i];
    if (results[statement].ok()) continue;
    out[i] = errors[statement].sqlstate == kSqlStateUndefinedObject
                 ? NoPreparedTransaction(branches[i])
                 : results[statement].status();
  }
  // The last commit ran with the session's own setting and flushed the WAL past every earlier
  // commit record. If the SET failed, each commit flushed for itself.
  const bool flushed = (results[last].ok() && results[reset].ok()) || !results[set].ok() ||
                       WaitWalFlushed(**conn);
  if (!flushed) {
    for (size_t i : pipelined) {
      if (i == pipelined.back() || !out[i].ok()) continue;
      // Committed, but not known durable: CommitPrepared runs again later and finds the gid
      // (the commit was lost with a crash of the server) or reports NotFound.
      out[i] = Status::Unavailable(fmt::format(
          "{}: COMMIT PREPARED of branch {} ran without waiting for its WAL flush, which could "
          "not be confirmed",
          name_, branches[i]));
    }
  }
  // A session left with synchronous_commit off must not serve another branch.
  if (results[reset].ok()) ReleaseConnection(std::move(*conn));
  return out;
}

Status PostgresResource::NoPreparedTransaction(const BranchId& branch) const {
  return Status::NotFound(fmt::format("{}: no prepared transaction '{}' (branch {})", name_,
                                      branch.Gid(cluster_), branch));
}

bool PostgresResource::WaitWalFlushed(PgConnection& conn) {
  Result<SqlResult> inserted = conn.Exec("SELECT pg_current_wal_insert_lsn()::text");
  if (!inserted.ok() || inserted->rows.size() != 1 || !inserted->rows[0][0].has_value()) {
    return false;
  }
  const std::vector<SqlParam> params = {*inserted->rows[0][0]};
  // The WAL writer flushes asynchronous commits within three wal_writer_delay (200 ms default).
  constexpr int kAttemptsMax = 100;
  constexpr uint64_t kPauseMicros = 10 * kMicrosPerMilli;
  for (int attempt = 0; attempt < kAttemptsMax; ++attempt) {
    Result<SqlResult> flushed =
        conn.Exec("SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn", params);
    if (!flushed.ok()) return false;
    if (flushed->rows.size() == 1 && flushed->rows[0][0] == "t") return true;
    clock_->SleepForMicros(kPauseMicros);
  }
  return false;
}

Status PostgresResource::RollbackPrepared(const BranchId& branch) {
  const std::string gid = branch.Gid(cluster_);
  return WithReconnect<bool>(
             "ROLLBACK PREPARED",
             [&](std::unique_ptr<PgConnection>& conn, SqlError* error) -> Result<bool> {
               PACT_ASSIGN_OR_RETURN(std::string literal, conn->QuoteLiteral(gid));
               Result<SqlResult> done = conn->Exec("ROLLBACK PREPARED " + literal, {}, error);
               // Nothing prepared under that gid: nothing to roll back.
               if (done.ok() || error->sqlstate == kSqlStateUndefinedObject) {
                 return true;
               }
               return done.status();
             })
      .status();
}

Status PostgresResource::Rollback(const BranchId& branch) {
  if (!branch.valid()) {
    return Status::InvalidArgument(fmt::format("{}: invalid branch id {}", name_, branch));
  }
  Result<Branch> taken = TakeBranch(branch);
  if (taken.ok()) {
    std::unique_ptr<PgConnection> conn = std::move(taken->conn);
    RollbackQuietly(*conn);
    ReleaseConnection(std::move(conn));
    return Status::Ok();
  }
  if (taken.status().code() != StatusCode::kNotFound) return taken.status();
  return RollbackPrepared(branch);
}

Result<std::vector<BranchId>> PostgresResource::ListPrepared() {
  // '_' in a cluster name is a LIKE wildcard: unescaped, "pact:a_b:" would match "pact:aXb:".
  const std::string pattern = EscapeLikePattern(BranchId::GidPrefix(cluster_)) + "%";
  PACT_ASSIGN_OR_RETURN(SqlResult rows,
                        WithReconnect<SqlResult>(
                            "listing prepared transactions",
                            [&](std::unique_ptr<PgConnection>& conn, SqlError* error) {
                              return conn->Exec(
                                  "SELECT gid FROM pg_prepared_xacts "
                                  "WHERE database = current_database() AND gid LIKE $1 ESCAPE '!'",
                                  {pattern}, error);
                            }));
  std::vector<BranchId> prepared;
  for (const std::vector<SqlParam>& row : rows.rows) {
    const std::string gid = row.at(0).value_or("");
    Result<BranchId> id = BranchId::ParseGid(cluster_, gid);
    if (id.ok()) {
      prepared.push_back(*id);
    } else {
      PACT_LOG_WARN("{}: skipping prepared transaction '{}': {}", name_, gid,
                    id.status().message());
    }
  }
  std::sort(prepared.begin(), prepared.end());
  return prepared;
}

}  // namespace pact
