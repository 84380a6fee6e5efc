#include "coordinator/server/participant_sender.h"

#include <algorithm>

#include "common/check.h"
#include "common/logging.h"
#include "participant/sdk/rpc_convert.h"

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
                                     ReplyHandler on_reply)
    : options_(WithIdleForEveryThread(options)), on_reply_(std::move(on_reply)) {
  PACT_CHECK(options_.sender_threads > 0);
  for (size_t i = 0; i < options_.sender_threads; ++i) threads_.emplace_back([this] { Work(); });
}

ParticipantSender::~ParticipantSender() { Stop(); }

void ParticipantSender::Send(const std::string& address, protocol::Message message) {
  std::lock_guard lock(mutex_);
  if (stopping_ || jobs_.size() >= options_.queued_sends_max) {
    ++dropped_;
    return;
  }
  jobs_.push_back(Job{address, std::move(message)});
  changed_.notify_one();
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

void ParticipantSender::Work() {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Execute(job);
  }
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

void ParticipantSender::Execute(const Job& job) {
  rpc::ClientPool<rpc::ParticipantClient>* pool = PoolFor(job.address);
  if (pool == nullptr) {
    // Enlistment checks addresses, so this is a participant name that is not an address.
    PACT_LOG_ERROR("cannot send {} to '{}': not a host:port address",
                   protocol::MessageName(job.message), job.address);
    return;
  }
  std::optional<protocol::Message> reply;
  Status status = pool->Call([&](rpc::ParticipantClient& client) {
    if (const auto* m = std::get_if<protocol::PrepareRequest>(&job.message)) {
      rpc::PrepareRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      rpc::PrepareReply answer;
      client.prepare(answer, request);
      reply = protocol::VoteReply{m->epoch, m->branch, sdk::FromRpc(answer.vote)};
    } else if (const auto* m = std::get_if<protocol::BranchCommitRequest>(&job.message)) {
      rpc::CommitBranchRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      request.__set_one_phase(m->one_phase);
      rpc::BranchAckReply answer;
      client.commit_branch(answer, request);
      reply = protocol::AckReply{m->epoch, m->branch, sdk::FromRpc(answer.outcome)};
    } else if (const auto* m = std::get_if<protocol::BranchAbortRequest>(&job.message)) {
      rpc::AbortBranchRequest request;
      request.branch = sdk::ToRpc(m->branch);
      request.coordinator_epoch = static_cast<int64_t>(m->epoch);
      rpc::BranchAckReply answer;
      client.abort_branch(answer, request);
      reply = protocol::AckReply{m->epoch, m->branch, sdk::FromRpc(answer.outcome)};
    } else {
      PACT_UNREACHABLE("the core sent {} to a participant", protocol::MessageName(job.message));
    }
  });
  if (!status.ok()) {
    PACT_LOG_DEBUG("{} to {} failed: {}", protocol::MessageName(job.message), job.address,
                   status.ToString());
    return;
  }
  PACT_CHECK(reply.has_value());
  on_reply_(job.address, std::move(*reply));
}

}  // namespace pact::coordinator
