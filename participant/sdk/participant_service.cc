#include "participant/sdk/participant_service.h"

#include <fmt/format.h>

#include "common/check.h"
#include "participant/sdk/rpc_convert.h"

namespace pact::sdk {
namespace {

[[noreturn]] void ThrowInvalid(const Status& status) {
  rpc::InvalidArgument error;
  error.message = status.message();
  throw error;
}

[[noreturn]] void ThrowStale(uint64_t epoch, uint64_t fence) {
  rpc::StaleEpoch error;
  error.message = fmt::format("epoch {} is older than this participant's fence {}", epoch, fence);
  error.current_epoch = static_cast<int64_t>(fence);
  throw error;
}

BranchId ParsedBranch(const rpc::BranchRef& ref) {
  Result<BranchId> branch = ParseRpc(ref);
  if (!branch.ok()) ThrowInvalid(branch.status());
  return *branch;
}

uint64_t ParsedEpoch(int64_t epoch) {
  Result<uint64_t> parsed = ParseEpoch(epoch);
  if (!parsed.ok()) ThrowInvalid(parsed.status());
  return *parsed;
}

const protocol::AckReply& AsAck(const protocol::Message& message) {
  const auto* ack = std::get_if<protocol::AckReply>(&message);
  PACT_CHECK(ack != nullptr, "the core answered {}", protocol::MessageName(message));
  return *ack;
}

}  // namespace

protocol::Message ParticipantService::Ask(const protocol::Message& request, uint64_t epoch) {
  if (epoch < driver_->epoch_fence()) ThrowStale(epoch, driver_->epoch_fence());
  std::optional<protocol::Message> reply = driver_->Call(request, request_wait_ms_);
  if (reply.has_value()) return std::move(*reply);
  // The core drops stale messages without answering; the fence may have moved meanwhile.
  if (epoch < driver_->epoch_fence()) ThrowStale(epoch, driver_->epoch_fence());
  // Still working (a slow store) or stopping: the coordinator asks again.
  rpc::Overloaded busy;
  busy.message = fmt::format("no answer to {} within {} ms", protocol::MessageName(request),
                             request_wait_ms_);
  busy.retry_after_ms = 100;
  throw busy;
}

void ParticipantService::prepare(rpc::PrepareReply& reply, const rpc::PrepareRequest& request) {
  const uint64_t epoch = ParsedEpoch(request.coordinator_epoch);
  protocol::Message answer =
      Ask(protocol::PrepareRequest{epoch, ParsedBranch(request.branch)}, epoch);
  const auto* vote = std::get_if<protocol::VoteReply>(&answer);
  PACT_CHECK(vote != nullptr, "the core answered {}", protocol::MessageName(answer));
  reply.vote = ToRpc(vote->vote);
}

void ParticipantService::commit_branch(rpc::BranchAckReply& reply,
                                       const rpc::CommitBranchRequest& request) {
  const uint64_t epoch = ParsedEpoch(request.coordinator_epoch);
  protocol::Message answer = Ask(
      protocol::BranchCommitRequest{epoch, ParsedBranch(request.branch), request.one_phase},
      epoch);
  const protocol::AckReply& ack = AsAck(answer);
  if (ack.outcome == protocol::Outcome::kUnknown) {
    // The core does not know the branch (pact.thrift: UnknownTransaction, nothing changed).
    rpc::UnknownTransaction error;
    error.message = fmt::format(
        "branch {} is not known here and its log does not show it committed", ack.branch);
    error.txid = request.branch.txid;
    throw error;
  }
  reply.outcome = ToRpc(ack.outcome);
}

void ParticipantService::abort_branch(rpc::BranchAckReply& reply,
                                      const rpc::AbortBranchRequest& request) {
  const uint64_t epoch = ParsedEpoch(request.coordinator_epoch);
  protocol::Message answer =
      Ask(protocol::BranchAbortRequest{epoch, ParsedBranch(request.branch)}, epoch);
  reply.outcome = ToRpc(AsAck(answer).outcome);
}

}  // namespace pact::sdk
