// ParticipantDriver: runs the pure ParticipantCore against the participant's WAL, its store
// and the coordinator (DESIGN §3). It is a monitor, not a thread: the core lives under a mutex,
// and whichever thread brings an input (a Thrift handler with a coordinator's request, a Join()
// of the application, a store or coordinator worker, the ticker) steps the core and carries the
// effects out itself, in order:
//   1. persist: the step's records are appended under the mutex (so the log's order is the
//      core's order); then, outside it, the thread waits until its own records and those its
//      messages depend on (ParticipantOutbound::requires_durable, perhaps appended by another
//      thread's step) are durable. Concurrent waiters share one fsync (the WAL's group commit);
//   2. send: replies go to their Thrift handler (ReplyRouter; a handler's own reply is simply
//      there when it looks); enlistments and outcome inquiries become calls on the
//      coordinator's leader, whose answers are stepped next;
//   3. apply: store operations run, and their results are stepped next;
//   4. events: Join() waiters learn of enlistment or refusal; inconsistencies are logged.
// Handlers and Join()s do their calls and store operations themselves: with a driver thread
// and worker pools in between, each coordinator request cost about eight thread wake-ups, and
// a transfer in pact-bench cost 45 context switches in the agents (70% of their CPU was the
// kernel's). The ticker hands its calls and store operations to worker pools instead, so that a
// slow store never delays the timers. The mutex is never held across I/O or an fsync.
// A WAL error is fatal (fail-stop): nothing after it may be acknowledged.
//
// Thread-safe: Call(), StartWork() and the accessors may be used from any thread.
#ifndef PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_
#define PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/protocol.h"
#include "common/reply_router.h"
#include "common/worker_pool.h"
#include "participant/core/participant_core.h"
#include "participant/sdk/coordinator_channel.h"
#include "pact/resource.h"
#include "wal/log.h"

namespace pact::sdk {

struct ParticipantDriverOptions {
  participant::ParticipantOptions core;  // name and advertise are set by Start()
  int tick_ms = 10;
  // The core's whole-state invariant check runs once per this many ticks. It walks every
  // branch the core remembers, and the core remembers every branch it ever finished, so the
  // check grows with the transactions served (the simulator checks after every step).
  uint64_t invariant_check_interval_ticks = 100;
  size_t store_threads = 8;
  size_t coordinator_threads = 4;
  size_t queued_tasks_max = 65536;
};

class ParticipantDriver {
 public:
  // A driver that queues requests but does not run them until Start().
  static Result<std::unique_ptr<ParticipantDriver>> Create(
      const ParticipantDriverOptions& options, std::unique_ptr<wal::Log> log,
      std::shared_ptr<Resource> resource, std::unique_ptr<CoordinatorChannel> coordinator);

  // Recovers the core from `records` (the WAL's, decoded) and `store_prepared`, starts
  // carrying out the recovery's effects, and starts the ticker. `advertise` ("host:port")
  // names this participant to the coordinator. Corruption when the records contradict each other.
  Status Start(const std::vector<participant::ParticipantRecord>& records,
               const std::vector<BranchId>& store_prepared, const std::string& advertise);
  ~ParticipantDriver();  // Stop()s

  // Steps a coordinator's request (PREPARE, COMMIT, ABORT) and the work it leads to, and waits
  // up to `wait_ms` for the core's answer (a store operation run by this call may take longer).
  // nullopt when none came in time (dropped as stale, or another caller's operation still
  // runs). Requests that arrive before Start() wait for it.
  std::optional<protocol::Message> Call(const protocol::Message& request, int wait_ms);

  // Call() for many requests at once (Participant.exchange): they are stepped together, their
  // records share one wait for durability, and their store operations run together (every
  // COMMIT PREPARED in one round trip: Resource::CommitPreparedMany). Answers in request order.
  std::vector<std::optional<protocol::Message>> CallMany(
      const std::vector<protocol::Message>& requests, int wait_ms);

  // The application's first work for `txn`: enlists (once) and waits for the branch number.
  // FailedPrecondition when refused; Unavailable when not enlisted within `wait_ms`.
  Result<BranchId> StartWork(const TxnId& txn, int wait_ms);

  // True when `branch` is aborted (or aborting) here: work begun in the store for it since
  // must be rolled back by whoever began it, since the abort's rollback may have run first.
  bool Aborted(const BranchId& branch);

  uint64_t epoch_fence() const { return epoch_fence_.load(); }
  void Stop();

 private:
  struct MessageInput {
    std::string from;
    protocol::Message message;
  };
  struct TickInput {};
  using Input = std::variant<MessageInput, TxnId, participant::StoreResult, TickInput>;
  // How a thread carries out the effects of what it steps.
  enum class Carrier {
    kThisThread,   // calls and store operations run here, their results are stepped here
    kWorkerPools,  // they go to the worker pools (the ticker: timers must not wait on I/O)
  };
  // Each waiter has its own condition variable so that an enlistment wakes only the Join()s of
  // its transaction, not every Join() in flight.
  struct JoinWaiter {
    std::optional<Result<BranchId>> result;
    std::condition_variable decided;
  };

  ParticipantDriver(const ParticipantDriverOptions& options, std::unique_ptr<wal::Log> log,
                    std::shared_ptr<Resource> resource,
                    std::unique_ptr<CoordinatorChannel> coordinator);
  // Steps `inputs`, then every result of the work they lead to, on this thread, a round at a
  // time: a round steps everything pending under one lock, waits for durability once, and runs
  // its store operations together.
  void Process(std::deque<Input> inputs, Carrier carrier);
  void Process(Input input, Carrier carrier);
  // Runs store operations on this thread; results in the order of `requests`.
  std::vector<participant::StoreResult> RunStoreOps(
      const std::vector<participant::StoreRequest>& requests);
  // Under core_mutex_: steps one input and appends its records. Returns the LSN that must be
  // durable before any of the effects is carried out.
  wal::Lsn StepLocked(Input& input, participant::ParticipantEffects& effects);
  void RunTicker();
  // Waits until Start() ran; false if stopping (or `deadline` passed) first.
  bool WaitStarted(std::chrono::steady_clock::time_point deadline);
  std::optional<protocol::Message> CallCoordinator(const protocol::Message& message);
  void Notify(const participant::ParticipantEvent& event);
  [[noreturn]] void FailStop(const Status& status);

  ParticipantDriverOptions options_;  // core.name is set once, by Start()
  std::string advertise_;             // set once, by Start()
  std::unique_ptr<wal::Log> log_;
  std::shared_ptr<Resource> resource_;
  std::unique_ptr<CoordinatorChannel> coordinator_;
  std::atomic<uint64_t> epoch_fence_{0};
  std::atomic<bool> stopping_{false};

  std::mutex core_mutex_;  // guards core_, lsn_of_ and ticks_since_check_
  std::optional<participant::ParticipantCore> core_;  // built by Start()
  // Where each record appended by this incarnation went, until a tick finds it durable.
  std::map<participant::RecordKey, wal::Lsn> lsn_of_;
  uint64_t ticks_since_check_ = 0;

  std::mutex mutex_;  // guards started_, joins_; stopping_ is also set under it
  std::condition_variable state_changed_;  // started_ or stopping_
  bool started_ = false;
  std::multimap<TxnId, std::shared_ptr<JoinWaiter>> joins_;
  ReplyRouter replies_;

  WorkerPool store_pool_;
  WorkerPool coordinator_pool_;
  std::thread ticker_;
};

}  // namespace pact::sdk

#endif  // PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_
