// Conversions between Pact's own types and the generated Thrift types, in one place so that
// every edge checks incoming ids the same way.
#ifndef PACT_PARTICIPANT_SDK_RPC_CONVERT_H_
#define PACT_PARTICIPANT_SDK_RPC_CONVERT_H_

#include "common/branch_id.h"
#include "common/protocol.h"
#include "common/txn_id.h"
#include "pact/rpc/pact_types.h"

namespace pact::sdk {

rpc::TxnId ToRpc(const TxnId& txid);
rpc::BranchRef ToRpc(const BranchId& branch);
rpc::Outcome ToRpc(protocol::Outcome outcome);
rpc::Vote ToRpc(protocol::Vote vote);

// Unchecked: use only on values a Pact process produced (replies to our own requests).
TxnId FromRpc(const rpc::TxnId& txid);
// Unknown enum values (a newer or broken peer) map to the safe side: NO, UNKNOWN.
protocol::Vote FromRpc(rpc::Vote vote);
protocol::Outcome FromRpc(rpc::Outcome outcome);
// Checked: ids from a request must be positive; anything else is InvalidArgument.
Result<TxnId> ParseRpc(const rpc::TxnId& txid);
Result<BranchId> ParseRpc(const rpc::BranchRef& branch);
Result<uint64_t> ParseEpoch(int64_t epoch);

}  // namespace pact::sdk

#endif  // PACT_PARTICIPANT_SDK_RPC_CONVERT_H_
