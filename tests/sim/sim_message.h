// What travels on the simulator's network: the protocol's messages, plus the application's own
// traffic between clients and participants (the work a client asks a participant to do in a
// transaction, and its answer), which is not part of Pact's protocol.
#ifndef PACT_TESTS_SIM_SIM_MESSAGE_H_
#define PACT_TESTS_SIM_SIM_MESSAGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/branch_id.h"
#include "common/protocol.h"

namespace pact::sim {

enum class WorkKind : uint8_t {
  kWrite,        // the branch writes: it prepares and takes part in phase 2
  kRead,         // the branch only reads: it votes READ_ONLY
  kFailPrepare,  // the branch writes, but the store refuses to prepare it: it votes NO
};
std::string_view Name(WorkKind kind);

// Client -> participant: do work of `kind` in transaction `txn`.
struct WorkRequest {
  TxnId txn;
  WorkKind kind = WorkKind::kWrite;
};

// Participant -> client: the work is done in `branch` (enlisted first), or refused.
struct WorkReply {
  TxnId txn;
  bool ok = false;
  BranchId branch{};
  WorkKind kind = WorkKind::kWrite;
};

using SimMessage = std::variant<protocol::Message, WorkRequest, WorkReply>;

std::string ToString(const SimMessage& message);
std::string_view MessageName(const SimMessage& message);

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_SIM_MESSAGE_H_
