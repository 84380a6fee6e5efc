// Direct Thrift calls on the services of a PactCluster's processes, for the real-process tests
// that act as an application (Agent service), as a coordinator (Participant service) or as a
// participant (Coordinator service), and the few polling and /proc helpers they share.
//
// Every call opens its own connection (loopback is cheap, and a test must never see a stale
// pooled connection to a process it has just restarted). Errors come back as Status through
// rpc::ClientPool: a declared exception keeps its code (UnknownTransaction -> kNotFound,
// StaleEpoch -> kStaleEpoch, TransactionNotActive -> kFailedPrecondition, StoreError ->
// kAborted, InvalidArgument -> kInvalidArgument), a transport failure is kOutcomeUnknown or
// kUnavailable.
//
// Thread-safe: the functions share no state.
#ifndef PACT_TESTS_INTEGRATION_CLUSTER_CALLS_H_
#define PACT_TESTS_INTEGRATION_CLUSTER_CALLS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"
#include "pact/client.h"
#include "pact/rpc/Agent.h"
#include "pact/rpc/Coordinator.h"
#include "pact/rpc/Participant.h"
#include "tests/integration/pact_cluster.h"
#include "tests/integration/postgres_server.h"

namespace pact::integration {

// Call timeout of the helpers: long enough for a lock wait in a store, short enough that a
// hung process fails the test quickly.
inline constexpr int kTestCallTimeoutMs = 8000;

// ---- Agent service (as an application) -----------------------------------------------------

Result<rpc::SqlReply> AgentSql(const std::string& agent, const TxnId& txid, const std::string& sql,
                               const std::vector<std::string>& params = {});
Result<rpc::KvReply> AgentKv(const std::string& agent, const TxnId& txid, rpc::KvOp op,
                             const std::string& key, const std::string& value = "");

// What the KV store behind `agent` has committed for `key` (nullopt: absent), read in a
// transaction of its own that only reads (its branch votes READ_ONLY and commits in one phase).
// Fails while a prepared branch holds the key (the read waits for its lock, then gives up),
// which is how a test sees that a KV branch is still prepared.
Result<std::optional<std::string>> ReadKv(Client& client, const std::string& agent,
                                          const std::string& key);
// Writes `key` in a transaction of its own; OK once it committed.
Status WriteKv(Client& client, const std::string& agent, const std::string& key,
               const std::string& value);

// What the PostgreSQL + KV tests start from: `options`' cluster with a coordinator, one
// PostgreSQL agent fronting `db` (table accounts(id, balance) holding row (1, start), with
// CHECK (balance >= 0) when `balance_check`), one KV agent holding `key` = start, and a client.
struct PgKvSetup {
  std::string db;
  std::string pg_agent;
  std::string kv_agent;
  std::string key;
  int start = 0;
  bool balance_check = false;
  int commit_deadline_ms = 10000;
};
Status StartPgKvCluster(const ClusterOptions& options, const PgKvSetup& setup,
                        std::unique_ptr<PactCluster>* cluster, std::unique_ptr<Client>* client);

// ---- Participant service (as a coordinator) --------------------------------------------------

rpc::BranchRef Branch(const TxnId& txid, int32_t branch);
Result<rpc::PrepareReply> Prepare(const std::string& agent, const rpc::BranchRef& branch,
                                  int64_t epoch);
Result<rpc::Outcome> CommitBranch(const std::string& agent, const rpc::BranchRef& branch,
                                  int64_t epoch, bool one_phase = false);
Result<rpc::Outcome> AbortBranch(const std::string& agent, const rpc::BranchRef& branch,
                                 int64_t epoch);
// Participant.exchange: several of the calls above in one round trip.
rpc::ParticipantRequest PrepareEntry(const rpc::BranchRef& branch, int64_t epoch);
rpc::ParticipantRequest CommitEntry(const rpc::BranchRef& branch, int64_t epoch);
rpc::ParticipantRequest AbortEntry(const rpc::BranchRef& branch, int64_t epoch);
Result<std::vector<rpc::ParticipantAnswer>> Exchange(
    const std::string& agent, const std::vector<rpc::ParticipantRequest>& requests);

// ---- Coordinator service (as a client or a participant) -------------------------------------

// Coordinator.begin_transaction with `lease_txids` (0: one transaction begun now) and
// `timeout_ms` (0: the coordinator's default).
Result<rpc::BeginReply> BeginTxn(const std::string& coordinator, int32_t lease_txids = 0,
                                 int32_t timeout_ms = 0);
Result<rpc::Outcome> CommitTxn(const std::string& coordinator, const rpc::TxnId& txid);
Result<rpc::Outcome> AbortTxn(const std::string& coordinator, const rpc::TxnId& txid);
Result<rpc::Outcome> OutcomeOf(const std::string& coordinator, const rpc::TxnId& txid,
                               int64_t epoch = 0);
Result<rpc::BranchRef> Enlist(const std::string& coordinator, const rpc::TxnId& txid,
                              const std::string& participant_address, int64_t incarnation = 1);
rpc::TxnId RpcTxn(int64_t epoch, int64_t sequence);

// ---- Stores, processes, time ----------------------------------------------------------------

// The first column of the first row of `sql` in `db` as an int; -1 when the query fails.
int QueryInt(PostgresServer& postgres, const std::string& db, const std::string& sql);
// Prepared transactions PostgreSQL holds in `db` (any gid); -1 when the query fails.
int PreparedCount(PostgresServer& postgres, const std::string& db);
// Other sessions of `db` inside an open transaction (idle in it, or running a statement): a
// branch whose work was neither prepared nor rolled back still holds its locks there. -1 on
// failure.
int OpenTransactionCount(PostgresServer& postgres, const std::string& db);

// Polls `done` every `poll_ms` until it returns true (then true) or `timeout_ms` passed (false).
bool Eventually(const std::function<bool()>& done, int timeout_ms, int poll_ms = 50);

// VmRSS of `pid` in KiB, from /proc/<pid>/status; -1 when it cannot be read.
int64_t ResidentKiB(pid_t pid);

}  // namespace pact::integration

#endif  // PACT_TESTS_INTEGRATION_CLUSTER_CALLS_H_
