// CoordinatorDriver: runs the pure CoordinatorCore against the real world (DESIGN §3). One
// driver thread owns the core and the decision log and carries out the core's effects in the
// order persist, then send, then apply:
//   1. every proposed COMMIT goes to the decision log, and the log is flushed once per loop
//      (one fsync covers every transaction that reached its decision meanwhile);
//   2. chosen decisions are fed back to the core;
//   3. messages are sent; one that reveals a commit decision (requires_chosen) leaves only once
//      the log reports that decision chosen.
// Client and participant requests arrive from Thrift handler threads through Call(), which
// waits for the core's reply addressed to that call. Messages to participants are sent by a
// bounded pool of sender threads; their replies come back as inputs. A lost or failed send
// is simply dropped: the core resends on its ticks.
//
// A decision-log error is fatal (fail-stop): the driver logs it and the process exits, because
// a leader that cannot make decisions durable must not acknowledge anything more.
//
// Thread-safe: Call() may be used from any number of threads.
#ifndef PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_
#define PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
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
  int tick_ms = 10;                    // one core tick of real time
  size_t inputs_queued_max = 65536;    // Call() past this answers Overloaded
  ParticipantSenderOptions sender;
};

class CoordinatorDriver {
 public:
  // Takes ownership of `log` (already open: it granted the epoch) and starts the driver thread.
  static Result<std::unique_ptr<CoordinatorDriver>> Start(const DriverOptions& options,
                                                          std::string name,
                                                          std::unique_ptr<DecisionLog> log,
                                                          Clock* clock);
  ~CoordinatorDriver();  // Stop()s

  // Delivers `request` (a client or participant request) to the core and waits up to
  // `wait_ms` for the reply addressed to it. Unavailable after Stop(); OutcomeUnknown when
  // no reply came in time (the request may still take effect); Overloaded when the input
  // queue is full.
  Result<protocol::Message> Call(const protocol::Message& request, int wait_ms);

  // Stops the driver and sender threads. Waiting calls get Unavailable. Idempotent.
  void Stop();

  uint64_t epoch() const { return epoch_; }
  // A snapshot of the open transactions (taken on the driver thread).
  std::vector<TxnView> OpenTxns();
  CoordinatorStats Stats();

 private:
  struct Input {
    std::string from;
    protocol::Message message;
  };

  CoordinatorDriver(const DriverOptions& options, std::string name,
                    std::unique_ptr<DecisionLog> log, Clock* clock);
  void Run();
  static void Append(CoordinatorEffects& into, CoordinatorEffects more);
  void Carry(CoordinatorEffects effects);
  void SendOrHold(CoordinatorOutbound outbound);
  void ReleaseHeld();
  void Route(CoordinatorOutbound outbound);
  [[noreturn]] void FailStop(const Status& status);

  const DriverOptions options_;
  const std::string name_;
  Clock* const clock_;
  const uint64_t epoch_;

  // Owned by the driver thread once started.
  std::unique_ptr<DecisionLog> log_;
  CoordinatorCore core_;
  std::vector<CoordinatorOutbound> held_;  // waiting for their decision to be chosen

  std::mutex mutex_;
  std::condition_variable inputs_changed_;
  std::deque<Input> inputs_;
  std::deque<std::function<void()>> inspections_;  // run on the driver thread
  bool stopping_ = false;
  ReplyRouter replies_;

  std::unique_ptr<ParticipantSender> sender_;
  std::thread thread_;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SERVER_COORDINATOR_DRIVER_H_
