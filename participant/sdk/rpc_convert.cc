#include "participant/sdk/rpc_convert.h"

#include <fmt/format.h>

namespace pact::sdk {

rpc::TxnId ToRpc(const TxnId& txid) {
  rpc::TxnId out;
  out.epoch = static_cast<int64_t>(txid.epoch);
  out.sequence = static_cast<int64_t>(txid.sequence);
  return out;
}

rpc::BranchRef ToRpc(const BranchId& branch) {
  rpc::BranchRef out;
  out.txid = ToRpc(branch.txn);
  out.branch = static_cast<int32_t>(branch.branch);
  return out;
}

rpc::Outcome ToRpc(protocol::Outcome outcome) {
  switch (outcome) {
    case protocol::Outcome::kCommitted: return rpc::Outcome::COMMITTED;
    case protocol::Outcome::kAborted: return rpc::Outcome::ABORTED;
    case protocol::Outcome::kUnknown: return rpc::Outcome::UNKNOWN;
  }
  return rpc::Outcome::UNKNOWN;
}

rpc::Vote ToRpc(protocol::Vote vote) {
  switch (vote) {
    case protocol::Vote::kYes: return rpc::Vote::YES;
    case protocol::Vote::kNo: return rpc::Vote::NO;
    case protocol::Vote::kReadOnly: return rpc::Vote::READ_ONLY;
  }
  return rpc::Vote::NO;
}

TxnId FromRpc(const rpc::TxnId& txid) {
  return TxnId{static_cast<uint64_t>(txid.epoch), static_cast<uint64_t>(txid.sequence)};
}

protocol::Vote FromRpc(rpc::Vote vote) {
  switch (vote) {
    case rpc::Vote::YES: return protocol::Vote::kYes;
    case rpc::Vote::READ_ONLY: return protocol::Vote::kReadOnly;
    default: return protocol::Vote::kNo;
  }
}

protocol::Outcome FromRpc(rpc::Outcome outcome) {
  switch (outcome) {
    case rpc::Outcome::COMMITTED: return protocol::Outcome::kCommitted;
    case rpc::Outcome::ABORTED: return protocol::Outcome::kAborted;
    default: return protocol::Outcome::kUnknown;
  }
}

Result<TxnId> ParseRpc(const rpc::TxnId& txid) {
  if (txid.epoch <= 0 || txid.sequence <= 0) {
    return Status::InvalidArgument(
        fmt::format("txid {}.{}: epoch and sequence must be positive", txid.epoch, txid.sequence));
  }
  return FromRpc(txid);
}

Result<BranchId> ParseRpc(const rpc::BranchRef& branch) {
  PACT_ASSIGN_OR_RETURN(TxnId txid, ParseRpc(branch.txid));
  if (branch.branch <= 0) {
    return Status::InvalidArgument(
        fmt::format("branch {}/{}: branch must be positive", txid.ToString(), branch.branch));
  }
  return BranchId{txid, static_cast<uint32_t>(branch.branch)};
}

Result<uint64_t> ParseEpoch(int64_t epoch) {
  if (epoch <= 0) return Status::InvalidArgument(fmt::format("epoch {} must be positive", epoch));
  return static_cast<uint64_t>(epoch);
}

}  // namespace pact::sdk
