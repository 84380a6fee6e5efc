// pact::Participant: what a service embeds to take part in Pact's global transactions with
// one local store (a pact::Resource: PostgreSQL, the embedded KV store, or your own).
//
//   auto store = pact::PostgresResource::Open(dsn, "bank", {});
//   auto participant = pact::Participant::Start(config, std::move(store).value());
//   // in a request handler that received a txid from the application:
//   Result<pact::BranchId> branch = (*participant)->Join(txid);   // enlists once per txid
//   postgres->Exec(*branch, "UPDATE accounts SET ...", {...});
//
// Start() recovers first: it replays the participant's WAL in `data_dir`, lists what the store
// holds prepared, and resolves every branch through the recovery decision table (asking the
// coordinator for those in doubt). Then it serves the Participant Thrift service on `listen`,
// through which the coordinator prepares, commits and aborts branches. The participant never
// decides a prepared branch alone.
//
// Thread-safe. Join() may be called from any number of threads.
#ifndef PACT_PARTICIPANT_INCLUDE_PACT_PARTICIPANT_H_
#define PACT_PARTICIPANT_INCLUDE_PACT_PARTICIPANT_H_

#include <memory>
#include <string>
#include <vector>

#include "common/branch_id.h"
#include "common/status.h"
#include "common/txn_id.h"
#include "pact/resource.h"
#include "thrift/rpc_server.h"

namespace pact {

struct ParticipantConfig {
  std::vector<std::string> coordinators;  // "host:port" of every coordinator replica
  std::string listen = "127.0.0.1:0";     // the Participant service (port 0: any free port)
  // The address the coordinator reaches this participant at. It names the participant in the
  // coordinator's decision log, so it must stay the same across restarts. Default: `listen`
  // with the bound port (give a fixed --listen port in production).
  std::string advertise;
  std::string data_dir;  // the participant's WAL
  int tick_ms = 10;
  size_t store_threads = 8;        // concurrent store operations (prepare, commit, rollback)
  int join_wait_ms = 5000;         // Join() gives up after this long without an enlistment
  int request_wait_ms = 5000;      // a coordinator's prepare/commit/abort call
  int coordinator_call_timeout_ms = 2000;
  // Further Thrift services served on the same port (pact-agent adds "Agent").
  std::vector<rpc::ServiceBinding> extra_services;
};

class Participant {
 public:
  static Result<std::unique_ptr<Participant>> Start(const ParticipantConfig& config,
                                                    std::shared_ptr<Resource> resource);
  ~Participant();  // Stop()s

  // Enlists this participant's branch of `txid` with the coordinator (once per txid; later
  // calls return the same branch) and opens it in the store. FailedPrecondition when the
  // transaction takes no new work here (commit started, it ended, or this participant
  // restarted since it enlisted and its earlier work is lost); Unavailable when the
  // coordinator cannot be reached in time.
  Result<BranchId> Join(const TxnId& txid);

  // Where the coordinator reaches this participant ("host:port").
  const std::string& address() const;
  Resource& resource();

  // Stops serving and the driver. Prepared branches stay prepared in the store and the WAL;
  // the next Start() resolves them. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit Participant(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_INCLUDE_PACT_PARTICIPANT_H_
