// AgentService: the Thrift Agent service of pact-agent. Each call names a global transaction;
// the first call for a txid enlists the agent's branch (pact::Participant::Join), then the
// operation runs in that branch of the store the agent fronts: parameterised SQL on
// PostgreSQL, or get/put/delete/scan on the embedded KV store.
//
// A store error is a StoreError saying whether the branch is still usable: PostgreSQL dooms
// its transaction on any error (the branch will vote NO); the KV store keeps the branch on
// bad arguments. Thread-safe.
#ifndef PACT_PARTICIPANT_AGENT_AGENT_SERVICE_H_
#define PACT_PARTICIPANT_AGENT_AGENT_SERVICE_H_

#include <atomic>

#include "pact/participant.h"
#include "pact/rpc/Agent.h"
#include "participant/kv/kv_store.h"
#include "participant/postgres/postgres_resource.h"

namespace pact::agent {

class AgentService final : public rpc::AgentIf {
 public:
  // Exactly one of `postgres` and `kv` is set; it must outlive the service.
  AgentService(PostgresResource* postgres, KvStore* kv) : postgres_(postgres), kv_(kv) {}

  // The service answers Overloaded ("starting") until the participant is set: the Agent
  // service is bound together with the Participant service, before recovery finishes.
  void SetParticipant(Participant* participant) { participant_.store(participant); }

  void execute_sql(rpc::SqlReply& reply, const rpc::SqlRequest& request) override;
  void execute_kv(rpc::KvReply& reply, const rpc::KvRequest& request) override;

 private:
  BranchId JoinOrThrow(const rpc::TxnId& txid);

  PostgresResource* const postgres_;
  KvStore* const kv_;
  std::atomic<Participant*> participant_{nullptr};
};

}  // namespace pact::agent

#endif  // PACT_PARTICIPANT_AGENT_AGENT_SERVICE_H_
