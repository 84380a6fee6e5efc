#include "examples/transfer/bank_service.h"

#include <fmt/format.h>

#include "participant/postgres/pg_connection.h"

namespace pact::examples {
namespace {

constexpr std::string_view kSqlStateCheckViolation = "23514";       // balance < 0
constexpr std::string_view kSqlStateForeignKeyViolation = "23503";  // no such account

[[noreturn]] void Throw(bank::ErrorKind kind, std::string message) {
  bank::BankError error;
  error.kind = kind;
  error.message = std::move(message);
  throw error;
}

// The SQLSTATE that pg_connection.cc writes into its messages ("... SQLSTATE 23514: ...").
std::string_view SqlStateOf(const Status& status) {
  constexpr std::string_view kMarker = "SQLSTATE ";
  std::string_view message = status.message();
  const size_t at = message.find(kMarker);
  if (at == std::string_view::npos || at + kMarker.size() + 5 > message.size()) return "";
  return message.substr(at + kMarker.size(), 5);
}

}  // namespace

Status CreateBankSchema(const std::string& dsn, int accounts, int64_t initial_balance) {
  if (accounts <= 0 || initial_balance < 0) {
    return Status::InvalidArgument("accounts must be > 0 and the initial balance >= 0");
  }
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn, PgConnection::Connect(dsn, {}));
  // A restarted bank must not write here: its branches that were prepared before the restart
  // still hold their row locks, and only this bank, once running, can get them resolved. So
  // when the tables exist, it only reads (which never waits for a lock).
  PACT_ASSIGN_OR_RETURN(
      SqlResult exists,
      conn->Exec(
          "SELECT to_regclass('accounts') IS NOT NULL AND to_regclass('ledger') IS NOT NULL"));
  if (exists.rows.size() == 1 && exists.rows[0][0] == "t") return Status::Ok();
  // `initial` lets the checker prove that every balance is its initial value plus its ledger.
  const std::vector<std::string> statements = {
      "BEGIN",
      "CREATE TABLE IF NOT EXISTS accounts ("
      "  id integer PRIMARY KEY,"
      "  balance bigint NOT NULL CHECK (balance >= 0),"
      "  initial bigint NOT NULL)",
      "CREATE TABLE IF NOT EXISTS ledger ("
      "  txid text PRIMARY KEY,"
      "  account integer NOT NULL REFERENCES accounts (id),"
      "  amount bigint NOT NULL CHECK (amount <> 0))",
      "INSERT INTO accounts (id, balance, initial) "
      "SELECT g, $2::bigint, $2::bigint FROM generate_series(1, $1::integer) AS g "
      "ON CONFLICT (id) DO NOTHING",
      "COMMIT",
  };
  for (const std::string& sql : statements) {
    std::vector<SqlParam> params;
    if (sql.find("$1") != std::string::npos) {
      params = {std::to_string(accounts), std::to_string(initial_balance)};
    }
    Result<SqlResult> done = conn->Exec(sql, params);
    if (!done.ok()) return done.status().WithContext("creating the bank's tables");
  }
  return Status::Ok();
}

void BankService::debit(const std::string& txid, int32_t account, int64_t amount) {
  Move(txid, account, amount, -amount);
}

void BankService::credit(const std::string& txid, int32_t account, int64_t amount) {
  Move(txid, account, amount, amount);
}

void BankService::Move(const std::string& txid, int32_t account, int64_t amount, int64_t delta) {
  Result<TxnId> parsed = TxnId::Parse(txid);
  if (!parsed.ok()) Throw(bank::ErrorKind::INVALID_ARGUMENT, parsed.status().message());
  if (amount <= 0) Throw(bank::ErrorKind::INVALID_ARGUMENT, "the amount must be positive");
  Participant* participant = participant_.load();
  if (participant == nullptr) Throw(bank::ErrorKind::STARTING, "the bank is still recovering");

  // Enlists this bank in the transaction (once per txid) and opens the branch in PostgreSQL.
  Result<BranchId> branch = participant->Join(*parsed);
  if (!branch.ok()) {
    const bool not_joined = branch.status().code() == StatusCode::kFailedPrecondition ||
                            branch.status().code() == StatusCode::kUnavailable;
    Throw(not_joined ? bank::ErrorKind::NOT_JOINED : bank::ErrorKind::STORE,
          branch.status().ToString());
  }
  // SET LOCAL: the setting ends with the branch's transaction, whatever its outcome.
  Result<SqlResult> done =
      store_->Exec(*branch, fmt::format("SET LOCAL lock_timeout = {}", options_.lock_timeout_ms));
  if (done.ok()) {
    // The ledger row first: its foreign key refuses an unknown account and its primary key a
    // second debit or credit for one txid, each dooming the branch like any other error.
    done = store_->Exec(*branch, "INSERT INTO ledger (txid, account, amount) VALUES ($1, $2, $3)",
                        {txid, std::to_string(account), std::to_string(delta)});
  }
  if (done.ok()) {
    done = store_->Exec(*branch, "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                        {std::to_string(account), std::to_string(delta)});
  }
  if (!done.ok()) {
    if (SqlStateOf(done.status()) == kSqlStateCheckViolation) {
      Throw(bank::ErrorKind::INSUFFICIENT_FUNDS,
            fmt::format("account {} cannot pay {}", account, amount));
    }
    if (SqlStateOf(done.status()) == kSqlStateForeignKeyViolation) {
      Throw(bank::ErrorKind::NO_SUCH_ACCOUNT, fmt::format("no account {}", account));
    }
    Throw(bank::ErrorKind::STORE, done.status().ToString());
  }
  // The foreign key guarantees the row exists; anything else is a broken bank, not a client error.
  if (done->rows_affected != 1) {
    Throw(bank::ErrorKind::STORE,
          fmt::format("account {}: UPDATE touched {} rows", account, done->rows_affected));
  }
}

}  // namespace pact::examples
