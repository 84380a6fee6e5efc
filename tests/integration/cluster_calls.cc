#include "tests/integration/cluster_calls.h"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "participant/sdk/rpc_convert.h"
#include "thrift/endpoint.h"
#include "thrift/rpc_client.h"

namespace pact::integration {
namespace {

// One call on a fresh pool (and so a fresh connection) to `address`'s `service`.
template <typename Client, typename Fn>
Status CallOnce(const std::string& address, const std::string& service, Fn&& call) {
  Result<rpc::Endpoint> peer = rpc::Endpoint::Parse(address);
  if (!peer.ok()) return peer.status();
  rpc::ClientOptions options;
  options.call_timeout_ms = kTestCallTimeoutMs;
  rpc::ClientPool<Client> pool(*peer, service, options);
  return pool.Call(std::forward<Fn>(call));
}

}  // namespace

Result<rpc::SqlReply> AgentSql(const std::string& agent, const TxnId& txid, const std::string& sql,
                               const std::vector<std::string>& params) {
  rpc::SqlRequest request;
  request.txid = sdk::ToRpc(txid);
  request.sql = sql;
  for (const std::string& param : params) {
    rpc::SqlValue value;
    value.__set_value(param);
    request.params.push_back(value);
  }
  rpc::SqlReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::AgentClient>(
      agent, "Agent", [&](rpc::AgentClient& client) { client.execute_sql(reply, request); }));
  return reply;
}

Result<rpc::KvReply> AgentKv(const std::string& agent, const TxnId& txid, rpc::KvOp op,
                             const std::string& key, const std::string& value) {
  rpc::KvRequest request;
  request.txid = sdk::ToRpc(txid);
  request.op = op;
  request.key = key;
  if (op == rpc::KvOp::PUT) request.__set_value(value);
  rpc::KvReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::AgentClient>(
      agent, "Agent", [&](rpc::AgentClient& client) { client.execute_kv(reply, request); }));
  return reply;
}

Result<std::optional<std::string>> ReadKv(Client& client, const std::string& agent,
                                          const std::string& key) {
  PACT_ASSIGN_OR_RETURN(Transaction txn, client.Begin());
  Result<rpc::KvReply> read = AgentKv(agent, txn.id(), rpc::KvOp::GET, key);
  if (!read.ok()) {
    txn.Abort();
    return read.status();
  }
  const Outcome outcome = txn.Commit();
  if (!outcome.committed()) {
    return Status::Aborted(
        fmt::format("read of {} ended {}: {}", key, Name(outcome.kind), outcome.reason));
  }
  if (!read->found) return std::optional<std::string>();
  return std::optional<std::string>(read->entries.at(0).value);
}

Status WriteKv(Client& client, const std::string& agent, const std::string& key,
               const std::string& value) {
  PACT_ASSIGN_OR_RETURN(Transaction txn, client.Begin());
  Result<rpc::KvReply> written = AgentKv(agent, txn.id(), rpc::KvOp::PUT, key, value);
  if (!written.ok()) {
    txn.Abort();
    return written.status();
  }
  const Outcome outcome = txn.Commit();
  if (!outcome.committed()) {
    return Status::Aborted(
        fmt::format("write of {} ended {}: {}", key, Name(outcome.kind), outcome.reason));
  }
  return Status::Ok();
}

Status StartPgKvCluster(const ClusterOptions& options, const PgKvSetup& setup,
                        std::unique_ptr<PactCluster>* cluster, std::unique_ptr<Client>* client) {
  PACT_ASSIGN_OR_RETURN(*cluster, PactCluster::Start(options));
  const std::string check = setup.balance_check ? " CHECK (balance >= 0)" : "";
  PACT_RETURN_IF_ERROR(
      (*cluster)
          ->postgres()
          .Query(setup.db, fmt::format("CREATE TABLE accounts (id int PRIMARY KEY, balance int "
                                       "NOT NULL{}); INSERT INTO accounts VALUES (1, {})",
                                       check, setup.start))
          .status());
  PACT_RETURN_IF_ERROR((*cluster)->StartCoordinator());
  PACT_RETURN_IF_ERROR((*cluster)->StartAgent(setup.pg_agent, setup.db));
  PACT_RETURN_IF_ERROR((*cluster)->StartAgent(setup.kv_agent, ""));
  ClientOptions client_options;
  client_options.coordinators = {(*cluster)->coordinator_address()};
  client_options.commit_deadline_ms = setup.commit_deadline_ms;
  PACT_ASSIGN_OR_RETURN(*client, Client::Create(client_options));
  return WriteKv(**client, (*cluster)->address(setup.kv_agent), setup.key,
                 std::to_string(setup.start));
}

rpc::BranchRef Branch(const TxnId& txid, int32_t branch) {
  rpc::BranchRef ref;
  ref.txid = sdk::ToRpc(txid);
  ref.branch = branch;
  return ref;
}

Result<rpc::PrepareReply> Prepare(const std::string& agent, const rpc::BranchRef& branch,
                                  int64_t epoch) {
  rpc::PrepareRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  rpc::PrepareReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::ParticipantClient>(
      agent, "Participant",
      [&](rpc::ParticipantClient& client) { client.prepare(reply, request); }));
  return reply;
}

rpc::ParticipantRequest PrepareEntry(const rpc::BranchRef& branch, int64_t epoch) {
  rpc::PrepareRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  rpc::ParticipantRequest entry;
  entry.__set_prepare(request);
  return entry;
}

rpc::ParticipantRequest CommitEntry(const rpc::BranchRef& branch, int64_t epoch) {
  rpc::CommitBranchRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  rpc::ParticipantRequest entry;
  entry.__set_commit(request);
  return entry;
}

rpc::ParticipantRequest AbortEntry(const rpc::BranchRef& branch, int64_t epoch) {
  rpc::AbortBranchRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  rpc::ParticipantRequest entry;
  entry.__set_abort(request);
  return entry;
}

Result<std::vector<rpc::ParticipantAnswer>> Exchange(
    const std::string& agent, const std::vector<rpc::ParticipantRequest>& requests) {
  std::vector<rpc::ParticipantAnswer> answers;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::ParticipantClient>(
      agent, "Participant",
      [&](rpc::ParticipantClient& client) { client.exchange(answers, requests); }));
  return answers;
}

Result<rpc::Outcome> CommitBranch(const std::string& agent, const rpc::BranchRef& branch,
                                  int64_t epoch, bool one_phase) {
  rpc::CommitBranchRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  request.__set_one_phase(one_phase);
  rpc::BranchAckReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::ParticipantClient>(
      agent, "Participant",
      [&](rpc::ParticipantClient& client) { client.commit_branch(reply, request); }));
  return reply.outcome;
}

Result<rpc::Outcome> AbortBranch(const std::string& agent, const rpc::BranchRef& branch,
                                 int64_t epoch) {
  rpc::AbortBranchRequest request;
  request.branch = branch;
  request.coordinator_epoch = epoch;
  rpc::BranchAckReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::ParticipantClient>(
      agent, "Participant",
      [&](rpc::ParticipantClient& client) { client.abort_branch(reply, request); }));
  return reply.outcome;
}

Result<rpc::BeginReply> BeginTxn(const std::string& coordinator, int32_t lease_txids,
                                 int32_t timeout_ms) {
  rpc::BeginRequest request;
  request.__set_lease_txids(lease_txids);
  request.__set_timeout_ms(timeout_ms);
  rpc::BeginReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::CoordinatorClient>(
      coordinator, "Coordinator",
      [&](rpc::CoordinatorClient& client) { client.begin_transaction(reply, request); }));
  return reply;
}

Result<rpc::Outcome> CommitTxn(const std::string& coordinator, const rpc::TxnId& txid) {
  rpc::CommitRequest request;
  request.txid = txid;
  rpc::CommitReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::CoordinatorClient>(
      coordinator, "Coordinator",
      [&](rpc::CoordinatorClient& client) { client.commit_transaction(reply, request); }));
  return reply.outcome;
}

Result<rpc::Outcome> AbortTxn(const std::string& coordinator, const rpc::TxnId& txid) {
  rpc::AbortRequest request;
  request.txid = txid;
  rpc::AbortReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::CoordinatorClient>(
      coordinator, "Coordinator",
      [&](rpc::CoordinatorClient& client) { client.abort_transaction(reply, request); }));
  return reply.outcome;
}

Result<rpc::Outcome> OutcomeOf(const std::string& coordinator, const rpc::TxnId& txid,
                               int64_t epoch) {
  rpc::OutcomeRequest request;
  request.txid = txid;
  request.__set_epoch(epoch);
  rpc::OutcomeReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::CoordinatorClient>(
      coordinator, "Coordinator",
      [&](rpc::CoordinatorClient& client) { client.outcome(reply, request); }));
  return reply.outcome;
}

Result<rpc::BranchRef> Enlist(const std::string& coordinator, const rpc::TxnId& txid,
                              const std::string& participant_address, int64_t incarnation) {
  rpc::EnlistRequest request;
  request.txid = txid;
  request.participant_id = participant_address;
  request.participant_address = participant_address;
  request.incarnation = incarnation;
  rpc::EnlistReply reply;
  PACT_RETURN_IF_ERROR(CallOnce<rpc::CoordinatorClient>(
      coordinator, "Coordinator",
      [&](rpc::CoordinatorClient& client) { client.enlist(reply, request); }));
  return reply.branch;
}

rpc::TxnId RpcTxn(int64_t epoch, int64_t sequence) {
  rpc::TxnId txid;
  txid.epoch = epoch;
  txid.sequence = sequence;
  return txid;
}

int QueryInt(PostgresServer& postgres, const std::string& db, const std::string& sql) {
  auto rows = postgres.Query(db, sql);
  if (!rows.ok() || rows->empty() || (*rows)[0].empty()) return -1;
  return std::stoi((*rows)[0][0]);
}

int PreparedCount(PostgresServer& postgres, const std::string& db) {
  return QueryInt(postgres, db, "SELECT count(*) FROM pg_prepared_xacts");
}

int OpenTransactionCount(PostgresServer& postgres, const std::string& db) {
  return QueryInt(postgres, db,
                  fmt::format("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND "
                              "xact_start IS NOT NULL AND pid <> pg_backend_pid()",
                              db));
}

bool Eventually(const std::function<bool()>& done, int timeout_ms, int poll_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

int64_t ResidentKiB(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    int64_t kib = -1;
    fields >> kib;
    return kib;
  }
  return -1;
}

}  // namespace pact::integration
