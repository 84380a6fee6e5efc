#include "coordinator/server/coordinator_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "common/check.h"
#include "participant/sdk/rpc_convert.h"
#include "thrift/endpoint.h"

namespace pact::coordinator {
namespace {

// The most txids a client may ask to lease at once (pact.thrift BeginRequest.lease_txids); the
// core grants at most its lease_txids_max of them.
constexpr int32_t kLeaseTxidsMax = 1024;

[[noreturn]] void ThrowInvalid(const Status& status) {
  rpc::InvalidArgument error;
  error.message = status.message();
  throw error;
}

[[noreturn]] void ThrowOverloaded(std::string message) {
  rpc::Overloaded error;
  error.message = std::move(message);
  error.retry_after_ms = 50;
  throw error;
}

[[noreturn]] void ThrowNotLeader(std::string message) {
  rpc::NotLeader error;
  error.message = std::move(message);
  throw error;
}

TxnId ParsedTxn(const rpc::TxnId& txid) {
  Result<TxnId> parsed = sdk::ParseRpc(txid);
  if (!parsed.ok()) ThrowInvalid(parsed.status());
  return *parsed;
}

template <typename Reply>
const Reply& As(const protocol::Message& message) {
  const Reply* reply = std::get_if<Reply>(&message);
  PACT_CHECK(reply != nullptr, "the core answered {}", protocol::MessageName(message));
  return *reply;
}

}  // namespace

std::optional<protocol::Message> CoordinatorService::CallDriver(const protocol::Message& request,
                                                                int wait_ms, bool unknown_ok) {
  Result<protocol::Message> reply = driver_->Call(request, wait_ms);
  if (reply.ok()) return std::move(reply).value();
  switch (reply.status().code()) {
    case StatusCode::kOverloaded:
      ThrowOverloaded(reply.status().message());
    case StatusCode::kOutcomeUnknown:
      if (unknown_ok) return std::nullopt;
      ThrowOverloaded(reply.status().message());
    default:
      // Stopping: another replica (or this one restarted) must take the request.
      ThrowNotLeader(reply.status().message());
  }
}

void CoordinatorService::begin_transaction(rpc::BeginReply& reply,
                                           const rpc::BeginRequest& request) {
  if (request.client_name.size() > 256) {
    ThrowInvalid(Status::InvalidArgument("client_name longer than 256 bytes"));
  }
  if (request.lease_txids < 0 || request.lease_txids > kLeaseTxidsMax) {
    ThrowInvalid(Status::InvalidArgument(
        fmt::format("lease_txids {} is not within 0..{}", request.lease_txids, kLeaseTxidsMax)));
  }
  if (request.timeout_ms < 0 || request.timeout_ms > options_.txn_timeout_max_ms) {
    ThrowInvalid(Status::InvalidArgument(
        fmt::format("timeout_ms {} is not within 0..{} (0: the coordinator's default)",
                    request.timeout_ms, options_.txn_timeout_max_ms)));
  }
  // Rounded up to whole ticks, of which the core counts from the one the transaction began in.
  const uint64_t timeout_ticks =
      (static_cast<uint64_t>(request.timeout_ms) + options_.tick_ms - 1) / options_.tick_ms;
  protocol::BeginRequest begin{
      next_request_id_++, static_cast<uint32_t>(std::max(1, request.lease_txids)), timeout_ticks};
  std::optional<protocol::Message> answer =
      CallDriver(begin, options_.request_wait_ms, /*unknown_ok=*/false);
  const auto& began = As<protocol::BeginReply>(*answer);
  switch (began.status) {
    case protocol::BeginStatus::kOk:
      reply.txid = sdk::ToRpc(began.txn);
      if (began.leased > 1) {
        reply.__set_leased(static_cast<int32_t>(began.leased));
        reply.__set_lease_ms(static_cast<int32_t>(
            std::min<uint64_t>(began.lease_ticks * static_cast<uint64_t>(options_.tick_ms),
                               std::numeric_limits<int32_t>::max())));
      }
      return;
    case protocol::BeginStatus::kOverloaded:
      ThrowOverloaded("too many transactions in flight");
    case protocol::BeginStatus::kNotLeader:
      ThrowNotLeader("this replica does not lead");
  }
}

void CoordinatorService::enlist(rpc::EnlistReply& reply, const rpc::EnlistRequest& request) {
  const TxnId txn = ParsedTxn(request.txid);
  Result<rpc::Endpoint> address = rpc::Endpoint::Parse(request.participant_address);
  if (!address.ok()) ThrowInvalid(address.status());
  if (address->port == 0) ThrowInvalid(Status::InvalidArgument("participant_address has port 0"));
  if (request.incarnation < 0) ThrowInvalid(Status::InvalidArgument("negative incarnation"));
  if (txn.epoch != driver_->epoch()) {
    // Only the leader that began a transaction may take part in deciding it.
    rpc::StaleEpoch error;
    error.message = fmt::format("transaction {} belongs to epoch {}, this leader's is {}",
                                txn.ToString(), txn.epoch, driver_->epoch());
    error.current_epoch = static_cast<int64_t>(driver_->epoch());
    throw error;
  }
  // Participants are named by their address: it is how the coordinator (and a successor
  // replaying the decision log) reaches them.
  protocol::EnlistRequest enlist{driver_->epoch(), txn, address->ToString(),
                                 static_cast<uint64_t>(request.incarnation)};
  std::optional<protocol::Message> answer =
      CallDriver(enlist, options_.request_wait_ms, /*unknown_ok=*/false);
  const auto& enlisted = As<protocol::EnlistReply>(*answer);
  switch (enlisted.status) {
    case protocol::EnlistStatus::kEnlisted:
      reply.branch = sdk::ToRpc(BranchId{txn, enlisted.branch});
      return;
    case protocol::EnlistStatus::kOverloaded:
      ThrowOverloaded("the transaction has too many branches");
    case protocol::EnlistStatus::kRefused: {
      rpc::TransactionNotActive error;
      error.message = fmt::format(
          "transaction {} takes no new branches (commit started, it ended, or this participant "
          "restarted since it enlisted)",
          txn.ToString());
      error.txid = request.txid;
      error.outcome = rpc::Outcome::UNKNOWN;
      throw error;
    }
  }
}

void CoordinatorService::commit_transaction(rpc::CommitReply& reply,
                                            const rpc::CommitRequest& request) {
  const TxnId txn = ParsedTxn(request.txid);
  std::optional<protocol::Message> answer =
      CallDriver(protocol::CommitRequest{txn}, options_.commit_wait_ms, /*unknown_ok=*/true);
  if (!answer.has_value()) {
    reply.outcome = rpc::Outcome::UNKNOWN;
    return;
  }
  const auto& decided = As<protocol::CommitReply>(*answer);
  reply.outcome = sdk::ToRpc(decided.outcome);
  if (decided.outcome == protocol::Outcome::kAborted) {
    reply.__set_abort_reason("a branch voted NO, did not vote in time, or the transaction timed out");
  }
}

void CoordinatorService::abort_transaction(rpc::AbortReply& reply,
                                           const rpc::AbortRequest& request) {
  const TxnId txn = ParsedTxn(request.txid);
  std::optional<protocol::Message> answer =
      CallDriver(protocol::AbortRequest{txn}, options_.request_wait_ms, /*unknown_ok=*/true);
  reply.outcome = answer.has_value() ? sdk::ToRpc(As<protocol::AbortReply>(*answer).outcome)
                                     : rpc::Outcome::UNKNOWN;
}

void CoordinatorService::outcome(rpc::OutcomeReply& reply, const rpc::OutcomeRequest& request) {
  const TxnId txn = ParsedTxn(request.txid);
  if (request.epoch < 0) ThrowInvalid(Status::InvalidArgument("negative epoch"));
  std::optional<protocol::Message> answer =
      CallDriver(protocol::OutcomeRequest{static_cast<uint64_t>(request.epoch), txn},
                 options_.request_wait_ms, /*unknown_ok=*/true);
  reply.outcome = answer.has_value() ? sdk::ToRpc(As<protocol::OutcomeReply>(*answer).outcome)
                                     : rpc::Outcome::UNKNOWN;
}

}  // namespace pact::coordinator
