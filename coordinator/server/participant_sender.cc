#include "coordinator/server/participant_sender.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/check.h"
#include "common/logging.h"
#include "participant/sdk/rpc_convert.h"
#include "thrift/rpc_limits.h"

namespace pact::coordinator {

namespace {

// Every sender thread may hold a connection to the same participant; a pool keeping fewer idle
// would close and reopen connections (a thread per connection on the participant) all the time.
ParticipantSenderOptions WithIdleForEveryThread(ParticipantSenderOptions options) {
  options.rpc.idle_connections_max =
      std::max(options.rpc.idle_connections_max, options.sender_threads);
  return options;
}

}  // namespace

ParticipantSender::ParticipantSender(const ParticipantSenderOptions& options,
                                     ReplyHandler on_replies)
    : options_(WithIdleForEveryThread(options)), on_replies_(std::move(on_replies)) {
  PACT_CHECK(options_.sender_threads > 0);
  PACT_CHECK(options_.calls_in_flight_per_participant > 0);
  for (size_t i = 0; i < options_.sender_threads; ++i) threads_.emplace_back([this] { Work(); });
}

ParticipantSender::~ParticipantSender() { Stop(); }

void ParticipantSender::Send(std::vector<Outgoing> messages) {
  size_t calls_to_start = 0;
  {
    std::lock_guard lock(mutex_);
    for (Outgoing& outgoing : messages) {
      if (QueueLocked(std::move(outgoing))) ++calls_to_start;
    }
  }
  for (size_t i = 0; i < calls_to_start; ++i) changed_.notify_one();
}

bool ParticipantSender::QueueLocked(Outgoing outgoing) {
  if (stopping_ || queued_ >= options_.queued_sends_max) {
    ++dropped_;
    return false;
  }
  const OutboxKey key{std::move(outgoing.to), LaneOf(outgoing.message)};
  Outbox& outbox = outboxes_[key];
  outbox.queued.push_back(std::move(outgoing.message));
  ++queued_;
  // A call in flight takes what queued meanwhile when it ends; start another only below the
  // limit, so that messages wait for a batch rather than each getting a call of its own.
  if (outbox.calls_in_flight >= options_.calls_in_flight_per_participant) return false;
  ++outbox.calls_in_flight;
  ready_.push_back(key);
  return true;
}

void ParticipantSender::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    changed_.notify_all();
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

uint64_t ParticipantSender::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

uint64_t ParticipantSender::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

void ParticipantSender::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    const OutboxKey key = std::move(ready_.front());
    ready_.pop_front();
    const std::string& address = key.first;
    // This thread owns one of the participant's calls: it sends batches until the outbox is
    // empty, then gives the call up.
    while (true) {
      Outbox& outbox = outboxes_[key];
      if (outbox.queued.empty()) {
        --outbox.calls_in_flight;
        if (outbox.calls_in_flight == 0) outboxes_.erase(key);
        break;
      }
      std::vector<protocol::Message> batch;
      while (!outbox.queued.empty() && batch.size() < rpc::kExchangeRequestsMax) {
        batch.push_back(std::move(outbox.queued.front()));
        outbox.queued.pop_front();
      }
      queued_ -= batch.size();
      ++calls_;
      lock.unlock();
      Exchange(address, batch);
      lock.lock();
      if (stopping_) return;
    }
  }
}

ParticipantSender::Lane ParticipantSender::LaneOf(const protocol::Message& message) {
  const auto* commit = std::get_if<protocol::BranchCommitRequest>(&message);
  // A one-phase COMMIT is the transaction's only round: a client waits on it.
  return commit != nullptr && !commit->one_phase ? Lane::kPhaseTwo : Lane::kVotes;
}

rpc::ClientPool<rpc::ParticipantClient>* ParticipantSender::PoolFor(const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = pools_.find(address);
  if (it != pools_.end()) return it->second.get();
  Result<rpc::Endpoint> endpoint = rpc::Endpoint::Parse(address);
  if (!endpoint.ok()) return nullptr;
  auto pool = std::make_unique<rpc::ClientPool<rpc::ParticipantClient>>(
      std::move(endpoint).value(), "Participant", options_.rpc);
  return pools_.emplace(address, std::move(pool)).first->second.get();
}

void ParticipantSender::Exchange(const std::string& address,
                                 const std::vector<protocol::Message>& batch) {
  rpc::ClientPool<rpc::ParticipantClient>* pool = PoolFor(address);
  if (pool == nullptr) {
    // Enlistment checks addresses, so this is a participant name that is not an address.
    PACT_LOG_ERROR("cannot send {} messages to '{}': not a host:port address", batch.size(),
                   address);
    return;
  }
  std::vector<rpc::ParticipantRequest> requests;
  requests.reserve(batch.size());
  for (const protocol::Message& message : batch) {
    rpc::ParticipantRequest entry;
    if (const auto* m = std::get_if<protocol::PrepareRequest>(&message)) {
      rpc::PrepareRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      entry.__set_prepare(request);
    } else if (const auto* m = std::get_if<protocol::BranchCommitRequest>(&message)) {
      rpc::CommitBranchRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      request.__set_one_phase(m->one_phase);
      entry.__set_commit(request);
    } else if (const auto* m = std::get_if<protocol::BranchAbortRequest>(&message)) {
      rpc::AbortBranchRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      entry.__set_abort(request);
    } else {
      PACT_UNREACHABLE("the core sent {} to a participant", protocol::MessageName(message));
    }
    requests.push_back(std::move(entry));
  }
  std::vector<rpc::ParticipantAnswer> answers;
  Status status = pool->Call(
      [&](rpc::ParticipantClient& client) { client.exchange(answers, requests); });
  if (status.ok() && answers.size() != batch.size()) {
    status = Status::Corruption(
        fmt::format("{} answers to {} requests", answers.size(), batch.size()));
  }
  if (!status.ok()) {
    PACT_LOG_DEBUG("exchange of {} messages with {} failed: {}", batch.size(), address,
                   status.ToString());
    return;
  }
  std::vector<Reply> replies;
  replies.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const rpc::ParticipantAnswer& answer = answers[i];
    if (answer.__isset.refused) {
      PACT_LOG_DEBUG("{} to {} refused: {}", protocol::MessageName(batch[i]), address,
                     answer.refused);
      continue;
    }
    if (const auto* m = std::get_if<protocol::PrepareRequest>(&batch[i])) {
      if (!answer.__isset.vote) continue;
      replies.push_back({address, protocol::VoteReply{m->epoch, m->branch,
                                                      sdk::FromRpc(answer.vote.vote)}});
    } else if (const auto* m = std::get_if<protocol::BranchCommitRequest>(&batch[i])) {
      if (!answer.__isset.ack) continue;
      replies.push_back(
          {address, protocol::AckReply{m->epoch, m->branch, sdk::FromRpc(answer.ack.outcome)}});
    } else if (const auto* m = std::get_if<protocol::BranchAbortRequest>(&batch[i])) {
      if (!answer.__isset.ack) continue;
      replies.push_back(
          {address, protocol::AckReply{m->epoch, m->branch, sdk::FromRpc(answer.ack.outcome)}});
    }
  }
  if (!replies.empty()) on_replies_(std::move(replies));
}

}  // namespace pact::coordinator
