#include "participant/sdk/participant_service.h"

#include <fmt/format.h>

#include "common/check.h"
#include "participant/sdk/rpc_convert.h"
#include "thrift/rpc_limits.h"

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

void ParticipantService::exchange(std::vector<rpc::ParticipantAnswer>& answers,
                                  const std::vector<rpc::ParticipantRequest>& requests) {
  if (requests.empty() || requests.size() > rpc::kExchangeRequestsMax) {
    ThrowInvalid(Status::InvalidArgument(fmt::format(
        "exchange takes 1 to {} requests, not {}", rpc::kExchangeRequestsMax, requests.size())));
  }
  // Every entry is checked before any is handed on, so that a malformed batch changes nothing.
  std::vector<protocol::Message> messages;
  std::vector<uint64_t> epochs;
  for (const rpc::ParticipantRequest& entry : requests) {
    const int set = int{entry.__isset.prepare} + int{entry.__isset.commit} +
                    int{entry.__isset.abort};
    if (set != 1) {
      ThrowInvalid(Status::InvalidArgument(
          fmt::format("entry {} of exchange holds {} requests, not one", messages.size(), set)));
    }
    if (entry.__isset.prepare) {
      const uint64_t epoch = ParsedEpoch(entry.prepare.coordinator_epoch);
      messages.push_back(protocol::PrepareRequest{epoch, ParsedBranch(entry.prepare.branch)});
      epochs.push_back(epoch);
    } else if (entry.__isset.commit) {
      const uint64_t epoch = ParsedEpoch(entry.commit.coordinator_epoch);
      messages.push_back(protocol::BranchCommitRequest{epoch, ParsedBranch(entry.commit.branch),
                                                       entry.commit.one_phase});
      epochs.push_back(epoch);
    } else {
      const uint64_t epoch = ParsedEpoch(entry.abort.coordinator_epoch);
      messages.push_back(protocol::BranchAbortRequest{epoch, ParsedBranch(entry.abort.branch)});
      epochs.push_back(epoch);
    }
  }
  answers.assign(requests.size(), rpc::ParticipantAnswer{});
  auto refuse_if_stale = [&](size_t i) {
    const uint64_t fence = driver_->epoch_fence();
    if (epochs[i] >= fence) return false;
    answers[i].__set_refused(
        fmt::format("epoch {} is older than this participant's fence {}", epochs[i], fence));
    answers[i].__set_current_epoch(static_cast<int64_t>(fence));
    return true;
  };
  std::vector<protocol::Message> asked;
  std::vector<size_t> asked_index;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (refuse_if_stale(i)) continue;
    asked.push_back(messages[i]);
    asked_index.push_back(i);
  }
  if (asked.empty()) return;
  std::vector<std::optional<protocol::Message>> replies =
      driver_->CallMany(asked, request_wait_ms_);
  for (size_t k = 0; k < asked.size(); ++k) {
    const size_t i = asked_index[k];
    rpc::ParticipantAnswer& answer = answers[i];
    if (!replies[k].has_value()) {
      // Dropped as stale (the fence moved meanwhile), or still working: asked again later.
      if (!refuse_if_stale(i)) {
        answer.__set_refused(fmt::format("no answer to {} within {} ms",
                                         protocol::MessageName(asked[k]), request_wait_ms_));
      }
      continue;
    }
    if (const auto* vote = std::get_if<protocol::VoteReply>(&*replies[k])) {
      rpc::PrepareReply reply;
      reply.vote = ToRpc(vote->vote);
      answer.__set_vote(reply);
      continue;
    }
    const protocol::AckReply& ack = AsAck(*replies[k]);
    if (ack.outcome == protocol::Outcome::kUnknown) {
      answer.__set_refused(fmt::format(
          "branch {} is not known here and its log does not show it committed", ack.branch));
      answer.__set_unknown_branch(true);
      continue;
    }
    rpc::BranchAckReply reply;
    reply.outcome = ToRpc(ack.outcome);
    answer.__set_ack(reply);
  }
}

}  // namespace pact::sdk
