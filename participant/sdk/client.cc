#include "pact/client.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "participant/sdk/coordinator_channel.h"
#include "participant/sdk/rpc_convert.h"

namespace pact {

std::string_view Name(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kCommitted: return "COMMITTED";
    case OutcomeKind::kAborted: return "ABORTED";
    case OutcomeKind::kUnknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

namespace {

constexpr int kRetryBackoffMinMs = 10;
constexpr size_t kIdleConnectionsMax = 128;
constexpr int kRetryBackoffMaxMs = 500;

Outcome Unknown(std::string reason) { return Outcome{OutcomeKind::kUnknown, std::move(reason)}; }

// Errors after which asking again may give an answer (the leader moved, was busy, or the
// reply was lost); every other error is final for this call.
bool WorthAskingAgain(const Status& status) {
  switch (status.code()) {
    case StatusCode::kNotLeader:
    case StatusCode::kUnavailable:
    case StatusCode::kOutcomeUnknown:
    case StatusCode::kOverloaded:
      return true;
    default:
      return false;
  }
}

}  // namespace

class Client::Impl {
 public:
  Impl(ClientOptions options, std::unique_ptr<sdk::CoordinatorChannel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}

  Result<TxnId> Begin() {
    const std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
    if (options_.txid_lease > 1) {
      std::lock_guard lock(leased_mutex_);
      // Half the lease is left for the txid to reach the coordinator in its first use.
      while (!leased_.empty() && leased_.front().use_before <= now) leased_.pop_front();
      if (!leased_.empty()) {
        const TxnId txid = leased_.front().txid;
        leased_.pop_front();
        return txid;
      }
    }
    rpc::BeginRequest request;
    request.__set_timeout_ms(options_.transaction_timeout_ms);
    request.__set_client_name(options_.client_name);
    if (options_.txid_lease > 1) request.__set_lease_txids(options_.txid_lease);
    rpc::BeginReply reply;
    PACT_RETURN_IF_ERROR(channel_->CallLeader(
        [&](rpc::CoordinatorClient& client) { client.begin_transaction(reply, request); }));
    const TxnId first = sdk::FromRpc(reply.txid);
    if (reply.leased > 1 && reply.lease_ms > 0) {
      const auto use_before = now + std::chrono::milliseconds(reply.lease_ms / 2);
      std::lock_guard lock(leased_mutex_);
      for (int32_t i = 1; i < reply.leased; ++i) {
        leased_.push_back(
            {TxnId{first.epoch, first.sequence + static_cast<uint64_t>(i)}, use_before});
      }
    }
    return first;
  }

  // Asks commit (or abort) until the coordinator gives a decision or the deadline passes.
  // Both calls are idempotent at the coordinator, so asking again is always safe.
  Outcome Decide(const TxnId& txid, bool commit) {
    const uint64_t deadline_us =
        clock_->NowMicros() + static_cast<uint64_t>(options_.commit_deadline_ms) * 1000;
    int backoff_ms = kRetryBackoffMinMs;
    std::string last_reason = "no answer yet";
    while (true) {
      rpc::Outcome answer = rpc::Outcome::UNKNOWN;
      std::string abort_reason;
      Status status = channel_->CallLeader([&](rpc::CoordinatorClient& client) {
        if (commit) {
          rpc::CommitRequest request;
          request.txid = sdk::ToRpc(txid);
          rpc::CommitReply reply;
          client.commit_transaction(reply, request);
          answer = reply.outcome;
          abort_reason = reply.__isset.abort_reason ? reply.abort_reason : "";
        } else {
          rpc::AbortRequest request;
          request.txid = sdk::ToRpc(txid);
          rpc::AbortReply reply;
          client.abort_transaction(reply, request);
          answer = reply.outcome;
        }
      });
      if (status.ok()) {
        if (answer == rpc::Outcome::COMMITTED) return Outcome{OutcomeKind::kCommitted, ""};
        if (answer == rpc::Outcome::ABORTED) {
          return Outcome{OutcomeKind::kAborted,
                         abort_reason.empty() ? "aborted by the coordinator" : abort_reason};
        }
        last_reason = "the coordinator has not decided yet";
      } else if (!WorthAskingAgain(status)) {
        return Unknown(status.ToString());
      } else {
        last_reason = status.ToString();
      }
      if (clock_->NowMicros() >= deadline_us) {
        return Unknown(fmt::format("no decision within {} ms: {}", options_.commit_deadline_ms,
                                   last_reason));
      }
      clock_->SleepForMicros(static_cast<uint64_t>(backoff_ms) * 1000);
      backoff_ms = std::min(backoff_ms * 2, kRetryBackoffMaxMs);
    }
  }

 private:
  struct LeasedTxid {
    TxnId txid;
    std::chrono::steady_clock::time_point use_before;
  };

  const ClientOptions options_;
  std::unique_ptr<sdk::CoordinatorChannel> channel_;
  Clock* const clock_ = SystemClock::Default();
  std::mutex leased_mutex_;
  std::deque<LeasedTxid> leased_;  // guarded by leased_mutex_; oldest first
};

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.txid_lease < 0 || options.txid_lease > 1024) {
    return Status::InvalidArgument(
        fmt::format("txid_lease {} is not within 0..1024", options.txid_lease));
  }
  if (options.transaction_timeout_ms < 0) {
    return Status::InvalidArgument(
        fmt::format("transaction_timeout_ms {} is negative", options.transaction_timeout_ms));
  }
  rpc::ClientOptions rpc_options;
  rpc_options.call_timeout_ms = options.call_timeout_ms;
  // One Client serves all of an application's threads; a pool that keeps fewer idle connections
  // than threads call at once closes and reopens connections (each a thread on the
  // coordinator) all the time. Connections are only ever opened on demand, so this is a cap.
  rpc_options.idle_connections_max = kIdleConnectionsMax;
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<sdk::CoordinatorChannel> channel,
                        sdk::CoordinatorChannel::Create(options.coordinators, rpc_options));
  return std::unique_ptr<Client>(
      new Client(std::make_unique<Impl>(options, std::move(channel))));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<Transaction> Client::Begin() {
  PACT_ASSIGN_OR_RETURN(TxnId txid, impl_->Begin());
  return Transaction(this, txid);
}

Outcome Client::Commit(const TxnId& txid) { return impl_->Decide(txid, /*commit=*/true); }
Outcome Client::Abort(const TxnId& txid) { return impl_->Decide(txid, /*commit=*/false); }

Outcome Transaction::Commit() { return client_->Commit(id_); }
Outcome Transaction::Abort() { return client_->Abort(id_); }

}  // namespace pact
