// ParticipantSender: carries the coordinator core's messages to participants (PREPARE, COMMIT,
// ABORT) and hands each reply (a VoteReply or AckReply) back through a callback. Messages are
// batched per participant: what queues up for a participant while its calls are in flight
// leaves together in one Participant.exchange call, which the participant handles together (one
// fsync of its log, one PostgreSQL round trip for all the COMMIT PREPAREDs). Under load that
// turns a dozen calls - each a thread wake-up on both sides - into one. Votes (PREPARE, ABORT,
// one-phase COMMIT) and phase-2 COMMITs travel in separate lanes, each with at most
// `calls_in_flight_per_participant` calls in flight; one connection pool per participant
// address.
//
// Sends are fire-and-forget from the core's point of view: a message that cannot be sent, or
// whose call fails or is refused, is dropped (and logged at debug level), because the core
// resends on its ticks until it hears back. The queue is bounded (`queued_sends_max` in all);
// past it new sends are dropped the same way, so a slow participant cannot grow the
// coordinator's memory.
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
#include <utility>
#include <vector>

#include "common/protocol.h"
#include "pact/rpc/Participant.h"
#include "thrift/rpc_client.h"

namespace pact::coordinator {

struct ParticipantSenderOptions {
  // Calls in flight at once, over all participants. A call holds its thread until the
  // participant answers, and a PREPARE waits there for the store and the participant's log.
  size_t sender_threads = 16;
  // Calls in flight to one participant, per lane (votes; phase 2). More calls means smaller
  // batches - more CPU per message on both sides - but less waiting behind a batch in flight.
  size_t calls_in_flight_per_participant = 1;
  size_t queued_sends_max = 65536;
  rpc::ClientOptions rpc;
};

class ParticipantSender {
 public:
  struct Reply {
    std::string from;  // the participant's address
    protocol::Message message;
  };
  // `on_replies` runs on a sender thread with the replies of one call.
  using ReplyHandler = std::function<void(std::vector<Reply>)>;

  ParticipantSender(const ParticipantSenderOptions& options, ReplyHandler on_replies);
  ~ParticipantSender();  // Stop()s

  struct Outgoing {
    std::string to;             // the participant's address ("host:port")
    protocol::Message message;  // PrepareRequest, BranchCommitRequest or BranchAbortRequest
  };
  // Queues `messages` under one lock: messages produced together leave together, even when a
  // loaded machine would let a call start and finish between one message and the next.
  void Send(std::vector<Outgoing> messages);
  void Stop();

  uint64_t dropped() const;
  uint64_t calls() const;  // Participant.exchange calls made

 private:
  // Each participant has two outboxes, so that a PREPARE (on which a client waits) never
  // queues behind a batch of phase-2 COMMITs (on which nobody waits: the client has its
  // answer), nor the other way round.
  enum class Lane : uint8_t { kVotes, kPhaseTwo };
  using OutboxKey = std::pair<std::string, Lane>;  // (participant address, lane)
  struct Outbox {
    std::deque<protocol::Message> queued;
    size_t calls_in_flight = 0;
  };
  static Lane LaneOf(const protocol::Message& message);
  // Queues one message; true if its outbox needs a call started.
  bool QueueLocked(Outgoing outgoing);
  void Work();
  // Sends `batch` to `address` in one call and hands on the replies.
  void Exchange(const std::string& address, const std::vector<protocol::Message>& batch);
  rpc::ClientPool<rpc::ParticipantClient>* PoolFor(const std::string& address);

  const ParticipantSenderOptions options_;
  const ReplyHandler on_replies_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<OutboxKey, Outbox> outboxes_;
  std::deque<OutboxKey> ready_;  // one entry per call to start
  size_t queued_ = 0;              // messages in all outboxes
  std::map<std::string, std::unique_ptr<rpc::ClientPool<rpc::ParticipantClient>>> pools_;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  uint64_t calls_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SERVER_PARTICIPANT_SENDER_H_
