// Turns Thrift exceptions into Status at the edge (STYLE rule 6), so that no exception crosses
// a module boundary. Declared exceptions of pact.thrift keep their meaning; transport failures
// say whether the request can have reached the peer.
#ifndef PACT_THRIFT_RPC_ERRORS_H_
#define PACT_THRIFT_RPC_ERRORS_H_

#include <exception>
#include <string_view>

#include "common/status.h"

namespace pact::rpc {

// Where the failure happened relative to sending the request.
enum class CallPhase { kConnecting, kInFlight };

// Maps the exception currently being handled (call only inside a catch block) to a Status:
//  - pact.thrift's declared exceptions -> their codes (NotLeader keeps the leader hint as the
//    message's last word "leader=host:port");
//  - a failure while connecting -> kUnavailable (the request was surely not delivered);
//  - any other transport, protocol or application failure -> kOutcomeUnknown (it may have been
//    executed; only idempotent calls may be retried).
Status CurrentExceptionToStatus(std::string_view peer, CallPhase phase);

// The leader hint carried by a kNotLeader Status made above; empty when none.
std::string_view LeaderHint(const Status& status);

}  // namespace pact::rpc

#endif  // PACT_THRIFT_RPC_ERRORS_H_
