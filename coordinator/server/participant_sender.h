// ParticipantSender: carries the coordinator core's messages to participants over the
// Participant Thrift service (PREPARE, COMMIT, ABORT), in parallel, and hands each reply (a
// VoteReply or AckReply) back through a callback. One connection pool per participant address.
//
// Sends are fire-and-forget from the core's point of view: a message that cannot be sent, or
// whose call fails, is dropped (and logged at debug level), because the core resends on its
// ticks until it hears back. The queue is bounded (`queued_sends_max`); past it new sends are
// dropped the same way, so a slow participant cannot grow the coordinator's memory.
//
// Thread-safe.
#ifndef PACT_COORDINATOR_SERVER_PARTICIPANT_SENDER_H_
#define PACT_COORDINATOR_SERVER_PARTICIPANT_SENDER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/protocol.h"
#include "pact/rpc/Participant.h"
#include "thrift/rpc_client.h"

namespace pact::coordinator {

struct ParticipantSenderOptions {
  // Calls in flight at once. A call holds its thread until the participant answers, and a
  // PREPARE or COMMIT waits there for the store and the participant's log to sync, so this is
  // sized for many slow calls: with 16, votes queued behind phase-2 commits under load (the
  // commit step took 40 ms of a 45 ms transfer in pact-bench at 32 clients).
  size_t sender_threads = 64;
  size_t queued_sends_max = 65536;
  rpc::ClientOptions rpc;
};

class ParticipantSender {
 public:
  // `on_reply(from_address, reply)` runs on a sender thread.
  using ReplyHandler = std::function<void(const std::string&, protocol::Message)>;

  ParticipantSender(const ParticipantSenderOptions& options, ReplyHandler on_reply);
  ~ParticipantSender();  // Stop()s

  // Queues `message` (PrepareRequest, BranchCommitRequest or BranchAbortRequest) for the
  // participant at `address` ("host:port").
  void Send(const std::string& address, protocol::Message message);
  void Stop();

  uint64_t dropped() const;

 private:
  struct Job {
    std::string address;
    protocol::Message message;
  };
  void Work();
  void Execute(const Job& job);
  rpc::ClientPool<rpc::ParticipantClient>* PoolFor(const std::string& address);

  const ParticipantSenderOptions options_;
  const ReplyHandler on_reply_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::map<std::string, std::unique_ptr<rpc::ClientPool<rpc::ParticipantClient>>> pools_;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SERVER_PARTICIPANT_SENDER_H_
