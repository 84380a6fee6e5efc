#include "participant/postgres/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>

#include <charconv>
#include <string>

#include "common/check.h"

namespace pact {
namespace {

constexpr size_t kSqlInMessageBytesMax = 120;
// The protocol's limit on the parameters of one statement (a 16-bit count).
constexpr size_t kParamsMax = 65535;

// SQLSTATEs by which a cached statement tells that it is unusable (see SqlStatement::cacheable).
constexpr std::string_view kSqlStateUndefinedPreparedStatement = "26000";
constexpr std::string_view kSqlStateFeatureNotSupported = "0A000";  // plan changed result type

using PgResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// libpq messages end in a newline; Status messages do not.
std::string Trimmed(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string SqlForMessage(std::string_view sql) {
  if (sql.size() <= kSqlInMessageBytesMax) return std::string(sql);
  return fmt::format("{}...", sql.substr(0, kSqlInMessageBytesMax));
}

// Errors by which the server tells us it is closing the session: admin_shutdown,
// crash_shutdown, cannot_connect_now, and the whole connection_exception class.
bool SqlStateMeansConnectionLost(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

bool Succeeded(ExecStatusType status) {
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

// Text parameters with types left to the server (paramTypes null), as libpq takes them.
std::vector<const char*> ParamValues(std::span<const SqlParam> params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const SqlParam& param : params) values.push_back(param ? param->c_str() : nullptr);
  return values;
}

SqlResult ToSqlResult(const PGresult* result) {
  SqlResult out;
  const int columns = PQnfields(result);
  const int rows = PQntuples(result);
  for (int c = 0; c < columns; ++c) out.columns.emplace_back(PQfname(result, c));
  out.rows.resize(rows);
  for (int r = 0; r < rows; ++r) {
    out.rows[r].reserve(columns);
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result, r, c)) {
        out.rows[r].emplace_back(std::nullopt);
      } else {
        out.rows[r].emplace_back(std::string(PQgetvalue(result, r, c), PQgetlength(result, r, c)));
      }
    }
  }
  const std::string_view affected = PQcmdTuples(const_cast<PGresult*>(result));
  if (!affected.empty()) {
    std::from_chars(affected.data(), affected.data() + affected.size(), out.rows_affected);
  }
  out.command_tag = PQcmdStatus(const_cast<PGresult*>(result));
  return out;
}

}  // namespace

StatusCode StatusCodeForSqlState(std::string_view sqlstate, bool connection_lost) {
  if (connection_lost || SqlStateMeansConnectionLost(sqlstate)) return StatusCode::kUnavailable;
  if (sqlstate.starts_with("40") || sqlstate == "57014" || sqlstate == "55P03") {
    return StatusCode::kAborted;
  }
  if (sqlstate.starts_with("53")) return StatusCode::kOverloaded;
  if (sqlstate.starts_with("58")) return StatusCode::kIoError;
  return StatusCode::kInvalidArgument;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& dsn,
                                                            const PgConnectOptions& options) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    const std::string reason = parse_error != nullptr ? Trimmed(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return Status::InvalidArgument(fmt::format("PostgreSQL DSN does not parse: {}", reason));
  }
  PQconninfoFree(parsed);

  // Keywords are applied in order and a later one wins; the DSN comes last (expanded from
  // "dbname"), so what it says overrides our defaults.
  const std::string timeout = std::to_string(options.connect_timeout_seconds);
  const std::string server_options =
      fmt::format("-c statement_timeout={}", options.statement_timeout_ms);
  const std::string idle = std::to_string(options.keepalive_idle_seconds);
  const std::string interval = std::to_string(options.keepalive_interval_seconds);
  const std::string count = std::to_string(options.keepalive_count_max);
  const char* keywords[] = {"connect_timeout",
                            "options",
                            "keepalives",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "fallback_application_name",
                            "dbname",
                            nullptr};
  const char* values[] = {timeout.c_str(),
                          server_options.c_str(),
                          "1",
                          idle.c_str(),
                          interval.c_str(),
                          count.c_str(),
                          options.application_name.c_str(),
                          dsn.c_str(),
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("libpq could not allocate a connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string reason = Trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return Status::Unavailable(fmt::format("cannot connect to PostgreSQL: {}", reason));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn, options));
}

PgConnection::PgConnection(pg_conn* conn, const PgConnectOptions& options)
    : conn_(conn),
      round_trips_(options.round_trips),
      statement_cache_(options.statement_cache_size) {
  database_ = PQdb(conn_);
  const char* host = PQhost(conn_);
  description_ = fmt::format("postgres {}@{}:{}", database_, host != nullptr ? host : "?",
                             PQport(conn_) != nullptr ? PQport(conn_) : "?");
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::lost() const { return PQstatus(conn_) != CONNECTION_OK; }

// Outside ExecPipeline a connection is in pipeline mode only when a pipeline went wrong; what
// the server still has queued for it is unknown, so it is not used again.
bool PgConnection::broken() const { return lost() || PQpipelineStatus(conn_) != PQ_PIPELINE_OFF; }

void PgConnection::CountRoundTrip() {
  if (round_trips_ != nullptr) round_trips_->fetch_add(1, std::memory_order_relaxed);
}

bool PgConnection::idle() const { return !broken() && PQtransactionStatus(conn_) == PQTRANS_IDLE; }

bool PgConnection::in_transaction() const {
  return !broken() && PQtransactionStatus(conn_) == PQTRANS_INTRANS;
}

bool PgConnection::in_failed_transaction() const {
  return !broken() && PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

int PgConnection::server_version() const { return PQserverVersion(conn_); }

Status PgConnection::ErrorStatus(std::string_view sql, const pg_result* result, SqlError* error) {
  SqlError local;
  if (result != nullptr) {
    const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    local.sqlstate = sqlstate != nullptr ? sqlstate : "";
  }
  local.connection_lost = lost() || SqlStateMeansConnectionLost(local.sqlstate);

  std::string message;
  if (result != nullptr && PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) != nullptr) {
    message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    if (const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL)) {
      message += fmt::format(" (detail: {})", detail);
    }
    if (const char* hint = PQresultErrorField(result, PG_DIAG_MESSAGE_HINT)) {
      message += fmt::format(" (hint: {})", hint);
    }
  } else {
    message = Trimmed(result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn_));
    if (message.empty()) message = Trimmed(PQerrorMessage(conn_));
    if (message.empty()) {
      message = fmt::format("unexpected {} from libpq",
                            result != nullptr ? PQresStatus(PQresultStatus(result)) : "no result");
    }
  }
  if (local.connection_lost) message += " (connection lost; the server rolls back its session)";

  const StatusCode code = StatusCodeForSqlState(local.sqlstate, local.connection_lost);
  if (error != nullptr) *error = local;
  return Status(code, fmt::format("{}: {}: SQLSTATE {}: {}", description_, SqlForMessage(sql),
                                  local.sqlstate.empty() ? "none" : local.sqlstate, message));
}

Result<SqlResult> PgConnection::Exec(std::string_view sql, const std::vector<SqlParam>& params,
                                     SqlError* error) {
  return ExecUnnamed(sql, params, error);
}

Result<SqlResult> PgConnection::Exec(const SqlStatement& statement, SqlError* error) {
  if (!statement.cacheable || !statement_cache_.enabled()) {
    return ExecUnnamed(statement.sql, statement.params, error);
  }
  // Parse and execution must travel together, which only pipeline mode allows.
  PipelineError failed;
  Result<std::vector<SqlResult>> results = ExecPipeline(std::span(&statement, 1), &failed);
  if (!results.ok()) {
    if (error != nullptr) *error = failed.error;
    return results.status();
  }
  PACT_CHECK(results->size() == 1, "{} results of one statement", results->size());
  return std::move(results->front());
}

Result<SqlResult> PgConnection::ExecUnnamed(std::string_view sql, std::span<const SqlParam> params,
                                            SqlError* error) {
  const std::string statement(sql);
  const std::vector<const char*> values = ParamValues(params);
  CountRoundTrip();
  PgResultPtr result(PQexecParams(conn_, statement.c_str(), static_cast<int>(params.size()),
                                  /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                                  /*paramFormats=*/nullptr, /*resultFormat=*/0),
                     &PQclear);
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (!Succeeded(status)) return ErrorStatus(sql, result.get(), error);
  return ToSqlResult(result.get());
}

Result<std::vector<SqlResult>> PgConnection::ExecPipeline(std::span<const SqlStatement> statements,
                                                          PipelineError* error) {
  PACT_RETURN_IF_ERROR(SendPipeline(statements, error));
  return ReceivePipeline(statements, error);
}

Status PgConnection::SendPipeline(std::span<const SqlStatement> statements, PipelineError* error) {
  PACT_CHECK(!statements.empty(), "{}: an empty pipeline", description_);
  PipelineError failure;
  auto fail = [&](size_t index, Status status) {
    failure.statement = index;
    // A connection left in pipeline mode is as good as lost: its state on the server is unknown.
    failure.error.connection_lost = failure.error.connection_lost || broken();
    if (error != nullptr) *error = std::move(failure);
    return status;
  };
  // What libpq would refuse to queue is refused here, before anything is sent.
  for (size_t i = 0; i < statements.size(); ++i) {
    if (statements[i].params.size() > kParamsMax) {
      return fail(i, Status::InvalidArgument(fmt::format(
                         "{}: {}: SQLSTATE none: {} parameters; at most {} are possible",
                         description_, SqlForMessage(statements[i].sql),
                         statements[i].params.size(), kParamsMax)));
    }
  }
  // Asked before pipeline mode, which broken() and so idle() count as a failed pipeline.
  const bool idle_before = idle();
  CountRoundTrip();
  if (PQenterPipelineMode(conn_) != 1) {
    return fail(0, ErrorStatus(statements[0].sql, nullptr, &failure.error));
  }
  closes_in_flight_.clear();
  uses_in_flight_.clear();
  // Whatever libpq refuses to send below leaves the connection in pipeline mode, broken(): what
  // went out before (libpq flushes a large pipeline early) may run and cannot be taken back.
  if (!SendCloses(idle_before)) {
    return fail(0, ErrorStatus(statements[0].sql, nullptr, &failure.error));
  }
  for (size_t i = 0; i < statements.size(); ++i) {
    if (!SendStatement(statements[i])) {
      return fail(i, ErrorStatus(statements[i].sql, nullptr, &failure.error));
    }
  }
  if (PQpipelineSync(conn_) != 1) {
    return fail(0, ErrorStatus(statements[0].sql, nullptr, &failure.error));
  }
  return Status::Ok();
}

bool PgConnection::SendStatement(const SqlStatement& statement) {
  const std::string sql(statement.sql);
  const std::vector<const char*> values = ParamValues(statement.params);
  const int count = static_cast<int>(values.size());
  std::optional<StatementCache::Use> use;
  if (statement.cacheable) use = statement_cache_.Lookup(statement.sql);
  uses_in_flight_.push_back(use);
  if (!use) {
    return PQsendQueryParams(conn_, sql.c_str(), count, /*paramTypes=*/nullptr, values.data(),
                             /*paramLengths=*/nullptr, /*paramFormats=*/nullptr,
                             /*resultFormat=*/0) == 1;
  }
  // No parameter types, as for the unnamed statement: the server infers them the same way.
  if (use->parse && PQsendPrepare(conn_, use->name.c_str(), sql.c_str(), /*nParams=*/0,
                                  /*paramTypes=*/nullptr) != 1) {
    return false;
  }
  return PQsendQueryPrepared(conn_, use->name.c_str(), count, values.data(),
                             /*paramLengths=*/nullptr, /*paramFormats=*/nullptr,
                             /*resultFormat=*/0) == 1;
}

bool PgConnection::SendCloses(bool idle) {
  // Inside a transaction a DEALLOCATE is refused when the transaction failed, and fails it when
  // the server forgot the statement already; outside, with a Sync of its own, it harms nothing.
  if (!idle) return true;
  closes_in_flight_ = statement_cache_.TakeCloses();
  for (const std::string& name : closes_in_flight_) {
    const std::string deallocate = "DEALLOCATE " + name;
    if (PQsendQueryParams(conn_, deallocate.c_str(), /*nParams=*/0, /*paramTypes=*/nullptr,
                          /*paramValues=*/nullptr, /*paramLengths=*/nullptr,
                          /*paramFormats=*/nullptr, /*resultFormat=*/0) != 1 ||
        PQpipelineSync(conn_) != 1) {
      return false;
    }
  }
  return true;
}

bool PgConnection::ReceiveCloses() {
  // Per close: its result (an error only when the server had forgotten the statement), a null,
  // then its Sync's PGRES_PIPELINE_SYNC.
  for (size_t i = 0; i < closes_in_flight_.size(); ++i) {
    PgResultPtr result(PQgetResult(conn_), &PQclear);
    PgResultPtr end(PQgetResult(conn_), &PQclear);
    PgResultPtr sync(PQgetResult(conn_), &PQclear);
    if (result == nullptr || end != nullptr || sync == nullptr ||
        PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      return false;
    }
  }
  closes_in_flight_.clear();
  return true;
}

void PgConnection::ForgetAfterFailure(const SqlStatement& statement, const StatementCache::Use& use,
                                      const pg_result* result) {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (sqlstate == nullptr) return;
  // The session lost our statements (DEALLOCATE ALL): which ones is unknown, so all go.
  if (sqlstate == kSqlStateUndefinedPreparedStatement) statement_cache_.DropAll();
  // Its plan would now give other columns than it was parsed with; a new Parse gives the new ones.
  if (sqlstate == kSqlStateFeatureNotSupported) statement_cache_.Drop(statement.sql, use.name);
}

Result<std::vector<SqlResult>> PgConnection::ReceivePipeline(
    std::span<const SqlStatement> statements, PipelineError* error) {
  PACT_CHECK(uses_in_flight_.size() == statements.size(),
             "{}: ReceivePipeline of {} statements after sending {}", description_,
             statements.size(), uses_in_flight_.size());
  PipelineError failure;
  Status status;
  // Only the first failure counts: the server skips every statement after it.
  auto fail = [&](size_t index, const PGresult* result) {
    if (!status.ok()) return;
    failure.statement = index;
    status = ErrorStatus(statements[index].sql, result, &failure.error);
    PACT_CHECK(!status.ok());
  };
  // The closes first, each with its Sync. Then one result per statement (two for a statement
  // parsed on the way: the Parse's first), each followed by a null; then the Sync's. Bounded
  // reads: a lost connection or a result we do not expect (COPY is not allowed here) ends them.
  bool confused = false;
  if (!ReceiveCloses()) {
    fail(0, nullptr);
    confused = true;
  }
  for (size_t i = 0; i < statements.size() && !confused && !lost(); ++i) {
    const std::optional<StatementCache::Use>& use = uses_in_flight_[i];
    if (use && use->parse) {
      PgResultPtr parsed(PQgetResult(conn_), &PQclear);
      if (parsed == nullptr) {
        fail(i, nullptr);
        confused = true;
        break;
      }
      if (PQresultStatus(parsed.get()) != PGRES_COMMAND_OK) {
        // A failed Parse fails the statement as the unnamed one's would, with the same error;
        // skipped after an earlier failure, it was not parsed either.
        statement_cache_.ParseFailed(statements[i].sql, use->name);
        fail(i, parsed.get());
      }
      PgResultPtr end(PQgetResult(conn_), &PQclear);
      if (end != nullptr) {
        fail(i, end.get());
        confused = true;
        break;
      }
    }
    PgResultPtr result(PQgetResult(conn_), &PQclear);
    if (result == nullptr) {
      fail(i, nullptr);
      confused = true;
      break;
    }
    if (Succeeded(PQresultStatus(result.get()))) {
      if (status.ok()) failure.results.push_back(ToSqlResult(result.get()));
    } else {
      if (use) ForgetAfterFailure(statements[i], *use, result.get());
      fail(i, result.get());  // PGRES_PIPELINE_ABORTED after the failure is no news
    }
    PgResultPtr end(PQgetResult(conn_), &PQclear);
    if (end != nullptr) {
      fail(i, end.get());
      confused = true;
    }
  }
  if (!confused && !lost()) {
    PgResultPtr sync(PQgetResult(conn_), &PQclear);
    if (sync != nullptr && PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC) {
      (void)PQexitPipelineMode(conn_);  // fails only with results pending; then broken()
    }
  }
  // Every result arrived: each statement succeeded, whatever happened to the connection after.
  if (status.ok() && failure.results.size() < statements.size()) {
    fail(failure.results.size(), nullptr);
  }
  uses_in_flight_.clear();
  if (status.ok()) return std::move(failure.results);
  // A connection left in pipeline mode is as good as lost: its state on the server is unknown.
  failure.error.connection_lost = failure.error.connection_lost || broken();
  if (error != nullptr) *error = std::move(failure);
  return status;
}

std::vector<Result<SqlResult>> PgConnection::ExecEach(std::span<const SqlStatement> statements,
                                                      std::vector<SqlError>* errors) {
  PACT_CHECK(!statements.empty(), "{}: an empty pipeline", description_);
  std::vector<Result<SqlResult>> results;
  std::vector<SqlError> failures(statements.size());
  auto fail_rest = [&](const pg_result* result) {
    SqlError error;
    Status status = ErrorStatus(statements[results.size()].sql, result, &error);
    while (results.size() < statements.size()) {
      failures[results.size()] = error;
      results.push_back(status);
    }
  };
  auto finish = [&] {
    if (errors != nullptr) *errors = std::move(failures);
    return std::move(results);
  };
  for (const SqlStatement& statement : statements) {
    if (statement.params.size() > kParamsMax) {
      while (results.size() < statements.size()) {
        results.push_back(Status::InvalidArgument(fmt::format(
            "{}: {}: SQLSTATE none: {} parameters; at most {} are possible", description_,
            SqlForMessage(statement.sql), statement.params.size(), kParamsMax)));
      }
      return finish();
    }
  }

  CountRoundTrip();
  if (PQenterPipelineMode(conn_) != 1) {
    fail_rest(nullptr);
    return finish();
  }
  for (const SqlStatement& statement : statements) {
    const std::string sql(statement.sql);
    const std::vector<const char*> values = ParamValues(statement.params);
    if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                          /*paramTypes=*/nullptr, values.data(), /*paramLengths=*/nullptr,
                          /*paramFormats=*/nullptr, /*resultFormat=*/0) != 1 ||
        PQpipelineSync(conn_) != 1) {
      // What was sent may run; the connection stays in pipeline mode, broken().
      fail_rest(nullptr);
      return finish();
    }
  }
  // Per statement: its result, a null, then its Sync's PGRES_PIPELINE_SYNC.
  while (results.size() < statements.size() && !lost()) {
    const size_t i = results.size();
    PgResultPtr result(PQgetResult(conn_), &PQclear);
    if (result == nullptr) break;
    if (Succeeded(PQresultStatus(result.get()))) {
      results.push_back(ToSqlResult(result.get()));
    } else {
      results.push_back(ErrorStatus(statements[i].sql, result.get(), &failures[i]));
    }
    PgResultPtr end(PQgetResult(conn_), &PQclear);
    PgResultPtr sync(PQgetResult(conn_), &PQclear);
    if (end != nullptr || sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      break;  // out of step: the rest is unknown
    }
  }
  if (results.size() == statements.size()) {
    (void)PQexitPipelineMode(conn_);  // fails only with results pending; then broken()
  } else {
    // Lost, or out of step: either way the connection is not used again.
    const size_t arrived = results.size();
    fail_rest(nullptr);
    for (size_t i = arrived; i < statements.size(); ++i) failures[i].connection_lost = true;
  }
  return finish();
}

Result<std::string> PgConnection::QuoteLiteral(std::string_view text) {
  char* quoted = PQescapeLiteral(conn_, text.data(), text.size());
  if (quoted == nullptr) {
    return Status::InvalidArgument(fmt::format("{}: cannot quote '{}': {}", description_, text,
                                               Trimmed(PQerrorMessage(conn_))));
  }
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

}  // namespace pact
