#include "participant/agent/agent_service.h"

#include <fmt/format.h>

#include "participant/sdk/rpc_convert.h"

namespace pact::agent {
namespace {

[[noreturn]] void ThrowInvalid(std::string message) {
  rpc::InvalidArgument error;
  error.message = std::move(message);
  throw error;
}

[[noreturn]] void ThrowOverloaded(std::string message) {
  rpc::Overloaded error;
  error.message = std::move(message);
  error.retry_after_ms = 100;
  throw error;
}

// The SQLSTATE that pg_connection.cc writes into its messages ("... SQLSTATE 23505: ...").
std::string SqlStateOf(const Status& status) {
  constexpr std::string_view kMarker = "SQLSTATE ";
  const std::string& message = status.message();
  const size_t at = message.find(kMarker);
  if (at == std::string::npos || at + kMarker.size() + 5 > message.size()) return "";
  return message.substr(at + kMarker.size(), 5);
}

[[noreturn]] void ThrowStoreError(const Status& status, bool branch_usable) {
  rpc::StoreError error;
  error.message = status.ToString();
  if (std::string sqlstate = SqlStateOf(status); !sqlstate.empty()) error.__set_sqlstate(sqlstate);
  error.branch_usable = branch_usable;
  throw error;
}

}  // namespace

BranchId AgentService::JoinOrThrow(const rpc::TxnId& txid) {
  Result<TxnId> parsed = sdk::ParseRpc(txid);
  if (!parsed.ok()) ThrowInvalid(parsed.status().message());
  Participant* participant = participant_.load();
  if (participant == nullptr) ThrowOverloaded("the agent is still recovering");
  Result<BranchId> branch = participant->Join(*parsed);
  if (branch.ok()) return *branch;
  switch (branch.status().code()) {
    case StatusCode::kFailedPrecondition: {
      rpc::TransactionNotActive error;
      error.message = branch.status().message();
      error.txid = txid;
      error.outcome = rpc::Outcome::UNKNOWN;
      throw error;
    }
    case StatusCode::kInvalidArgument:
      ThrowInvalid(branch.status().message());
    default:
      // The coordinator could not be reached, or the store is at its branch limit.
      ThrowOverloaded(branch.status().ToString());
  }
}

void AgentService::execute_sql(rpc::SqlReply& reply, const rpc::SqlRequest& request) {
  if (postgres_ == nullptr) ThrowInvalid("this agent fronts a KV store; use execute_kv");
  if (request.sql.empty()) ThrowInvalid("empty SQL");
  std::vector<SqlParam> params;
  params.reserve(request.params.size());
  for (const rpc::SqlValue& value : request.params) {
    params.push_back(value.__isset.value ? SqlParam(value.value) : std::nullopt);
  }
  const BranchId branch = JoinOrThrow(request.txid);
  Result<SqlResult> result = postgres_->Exec(branch, request.sql, params);
  // PostgreSQL aborts a transaction on any error, so the branch cannot commit any more.
  if (!result.ok()) ThrowStoreError(result.status(), /*branch_usable=*/false);
  reply.columns = result->columns;
  reply.rows.reserve(result->rows.size());
  for (const auto& row : result->rows) {
    std::vector<rpc::SqlValue> values;
    values.reserve(row.size());
    for (const std::optional<std::string>& cell : row) {
      rpc::SqlValue value;
      if (cell.has_value()) value.__set_value(*cell);
      values.push_back(std::move(value));
    }
    reply.rows.push_back(std::move(values));
  }
  reply.affected_rows = static_cast<int64_t>(result->rows_affected);
}

void AgentService::execute_kv(rpc::KvReply& reply, const rpc::KvRequest& request) {
  if (kv_ == nullptr) ThrowInvalid("this agent fronts PostgreSQL; use execute_sql");
  if (request.op == rpc::KvOp::PUT && !request.__isset.value) ThrowInvalid("PUT needs a value");
  if (request.op == rpc::KvOp::SCAN && (!request.__isset.end_key || request.limit <= 0)) {
    ThrowInvalid("SCAN needs end_key and a positive limit");
  }
  const BranchId branch = JoinOrThrow(request.txid);
  // Bad arguments leave a KV branch usable; anything else (lock timeout, conflict) dooms it.
  auto fail = [](const Status& status) {
    ThrowStoreError(status, status.code() == StatusCode::kInvalidArgument);
  };
  reply.found = false;
  switch (request.op) {
    case rpc::KvOp::GET: {
      Result<std::optional<std::string>> value = kv_->Get(branch, request.key);
      if (!value.ok()) fail(value.status());
      if (value->has_value()) {
        reply.found = true;
        rpc::KvEntry entry;
        entry.key = request.key;
        entry.value = **value;
        reply.entries.push_back(std::move(entry));
      }
      return;
    }
    case rpc::KvOp::PUT:
      if (Status s = kv_->Put(branch, request.key, request.value); !s.ok()) fail(s);
      return;
    case rpc::KvOp::DELETE:
      if (Status s = kv_->Delete(branch, request.key); !s.ok()) fail(s);
      return;
    case rpc::KvOp::SCAN: {
      Result<std::vector<KvEntry>> entries =
          kv_->Scan(branch, request.key, request.end_key, static_cast<uint64_t>(request.limit));
      if (!entries.ok()) fail(entries.status());
      reply.found = !entries->empty();
      for (KvEntry& found : *entries) {
        rpc::KvEntry entry;
        entry.key = std::move(found.key);
        entry.value = std::move(found.value);
        reply.entries.push_back(std::move(entry));
      }
      return;
    }
  }
  ThrowInvalid(fmt::format("unknown KV operation {}", static_cast<int>(request.op)));
}

}  // namespace pact::agent
