// CoordinatorDriver: runs the pure CoordinatorCore against the real world (DESIGN §3). It is a
// monitor, not a thread: the core, the decision log and the messages held for a decision are
// guarded by one mutex, and whichever thread brings an input steps the core itself and carries
// out the effects itself, in the order persist, then send, then apply:
//   1. every proposed COMMIT goes to the decision log, which is flushed in three steps: a
//      ticket taken under the mutex, the wait for it (the fsync) without the mutex, and its
//      completion under the mutex. Concurrent callers wait in the WAL's group commit, so one
//      fsync covers every transaction that reached its decision meanwhile;
//   2. chosen decisions are fed back to the core - by whoever takes them from the log, for
//      every transaction chosen, other callers' included;
//   3. messages are sent; one that reveals a commit decision (requires_chosen) leaves only once
//      the log reports that decision chosen (it is held until then).
// The mutex is never held across a network call or an fsync.
//
// Who sends what:
//  - Call() (Thrift handler threads, for client and participant requests) steps the request.
//    Its own reply, when the step produces it (begin, enlist, a repeated commit), is returned
//    directly; replies to other callers go through the ReplyRouter. Messages to participants
//    go to the ParticipantSender, which batches what queues up for each participant into one
//    Participant.exchange call; the call then waits for its reply, which the thread that steps
//    the participants' answers (and flushes the decision) delivers.
//  - The ParticipantSender's threads step the replies of each exchange together (one lock, one
//    flush for every decision they lead to) and hand on what follows: client replies through
//    the router, phase-2 messages to the participants' outboxes.
//  - A small ticker thread steps Tick() (at start, to resume unended decisions at once, then
//    every tick_ms); its messages go to the ParticipantSender as well.
// A lost or failed send is simply dropped: the core resends on its ticks.
//
// A decision-log error is fatal (fail-stop): the driver logs it and the process exits, because
// a leader that cannot make decisions durable must not acknowledge anything more.
//
// Thread-safe: Call(), OpenTxns() and Stats() may be used from any number of threads.
#ifndef PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_
#define PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/protocol.h"
#include "common/reply_router.h"
#include "common/status.h"
#include "coordinator/core/coordinator_core.h"
#include "coordinator/core/decision_log.h"
#include "coordinator/server/participant_sender.h"

namespace pact::coordinator {

struct DriverOptions {
  CoordinatorOptions core;
  int tick_ms = 10;                 // one core tick of real time
  size_t calls_active_max = 65536;  // Call() past this many at once answers Overloaded
  ParticipantSenderOptions sender;
};

class CoordinatorDriver {
 public:
  // Takes ownership of `log` (already open: it granted the epoch) and starts the ticker thread.
  static Result<std::unique_ptr<CoordinatorDriver>> Start(const DriverOptions& options,
                                                          std::string name,
                                                          std::unique_ptr<DecisionLog> log,
                                                          Clock* clock);
  ~CoordinatorDriver();  // Stop()s

  // Delivers `request` (a client or participant request) to the core and carries out what
  // follows (see the file comment) for up to `wait_ms`, returning the reply addressed to it.
  // Unavailable after Stop(); OutcomeUnknown when no reply came in time (the request may still
  // take effect); Overloaded when calls_active_max calls are under way. `wait_ms` bounds the
  // waits for other threads; a decision-log wait (an fsync) that this call joined cannot be
  // cut short, and a reply it yields past the deadline is still returned.
  Result<protocol::Message> Call(const protocol::Message& request, int wait_ms);

  // Stops the ticker and sender threads and waits for calls under way to return. Waiting calls
  // get Unavailable. Idempotent.
  void Stop();

  uint64_t epoch() const { return epoch_; }
  // A snapshot of the open transactions.
  std::vector<TxnView> OpenTxns();
  CoordinatorStats Stats();

 private:
  using Deadline = std::chrono::steady_clock::time_point;

  // What a thread still has to do for the inputs it stepped, once the mutex is released.
  struct Work {
    std::string own_address;  // a Call's reply address; empty on ticker and sender threads
    std::optional<protocol::Message> own_reply{};
    std::vector<CoordinatorOutbound> to_participants{};
    std::vector<CoordinatorOutbound> to_callers{};  // replies for other calls' addresses
  };

  CoordinatorDriver(const DriverOptions& options, std::string name,
                    std::unique_ptr<DecisionLog> log, Clock* clock);
  void RunTicker();
  void OnSenderReplies(std::vector<ParticipantSender::Reply> replies);
  // Both require mutex_ (held by `lock`), which CarryLocked releases only while it waits for a
  // flush.
  void CarryLocked(std::unique_lock<std::mutex>& lock, CoordinatorEffects effects, Work& work);
  void ReleaseHeldLocked(Work& work);
  void Route(CoordinatorOutbound outbound, Work& work);
  // Without mutex_: delivers replies to other calls and hands participant messages to the
  // sender.
  void FinishAsync(Work& work);
  void DeliverToCallers(Work& work);
  void EndCall();
  static void Append(CoordinatorEffects& into, CoordinatorEffects more);
  [[noreturn]] void FailStop(const Status& status);

  const DriverOptions options_;
  const std::string name_;
  Clock* const clock_;
  const uint64_t epoch_;

  std::mutex mutex_;
  // Guarded by mutex_.
  std::unique_ptr<DecisionLog> log_;  // WaitFlush alone is called without mutex_
  CoordinatorCore core_;
  std::vector<CoordinatorOutbound> held_;  // waiting for their decision to be chosen
  bool stopping_ = false;
  size_t calls_active_ = 0;
  std::condition_variable stop_changed_;  // stopping_ set, or calls_active_ fell to 0

  ReplyRouter replies_;
  std::unique_ptr<ParticipantSender> sender_;
  std::thread ticker_;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_
