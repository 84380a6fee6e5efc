// ParticipantDriver: runs the pure ParticipantCore against the participant's WAL, its store
// and the coordinator (DESIGN §3). One driver thread owns the core and the WAL and carries out
// the core's effects in order:
//   1. persist: append every record, then one WaitDurable for the whole batch (group commit
//      across branches);
//   2. send: replies go to the waiting Thrift handler (ReplyRouter); enlistments and outcome
//      inquiries become calls on the coordinator's leader, run on a worker pool, whose answers
//      come back as inputs;
//   3. apply: store operations run on a worker pool (a PREPARE TRANSACTION must not stall the
//      other branches); their results come back as inputs;
//   4. events: Join() waiters learn of enlistment or refusal; inconsistencies are logged.
// A WAL error is fatal (fail-stop): nothing after it may be acknowledged.
//
// Thread-safe: Call(), StartWork() and the accessors may be used from any thread.
#ifndef PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_
#define PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_

#include <atomic>
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

#include "common/clock.h"
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
      std::shared_ptr<Resource> resource, std::unique_ptr<CoordinatorChannel> coordinator,
      Clock* clock);

  // Recovers the core from `records` (the WAL's, decoded) and `store_prepared`, carries out
  // the recovery's effects, and starts the driver thread. `advertise` ("host:port") names this
  // participant to the coordinator. Corruption when the records contradict each other.
  Status Start(const std::vector<participant::ParticipantRecord>& records,
               const std::vector<BranchId>& store_prepared, const std::string& advertise);
  ~ParticipantDriver();  // Stop()s

  // Delivers a coordinator's request (PREPARE, COMMIT, ABORT) and waits up to `wait_ms` for
  // the core's answer. nullopt when none came in time (dropped as stale, or still working).
  std::optional<protocol::Message> Call(const protocol::Message& request, int wait_ms);

  // The application's first work for `txn`: enlists (once) and waits for the branch number.
  // FailedPrecondition when refused; Unavailable when not enlisted within `wait_ms`.
  Result<BranchId> StartWork(const TxnId& txn, int wait_ms);

  uint64_t epoch_fence() const { return epoch_fence_.load(); }
  void Stop();

 private:
  struct MessageInput {
    std::string from;
    protocol::Message message;
  };
  using Input = std::variant<MessageInput, TxnId, participant::StoreResult>;
  // Each waiter has its own condition variable so that an enlistment wakes only the Join()s of
  // its transaction, not every Join() in flight.
  struct JoinWaiter {
    std::optional<Result<BranchId>> result;
    std::condition_variable decided;
  };

  ParticipantDriver(const ParticipantDriverOptions& options, std::unique_ptr<wal::Log> log,
                    std::shared_ptr<Resource> resource,
                    std::unique_ptr<CoordinatorChannel> coordinator, Clock* clock);
  void Post(Input input);
  void Run();
  void Carry(participant::ParticipantEffects effects);
  void Persist(const std::vector<participant::ParticipantRecord>& records);
  void Send(participant::ParticipantOutbound outbound);
  void CallCoordinator(protocol::Message message);
  void Apply(const participant::StoreRequest& request);
  void Notify(const participant::ParticipantEvent& event);
  [[noreturn]] void FailStop(const Status& status);

  ParticipantDriverOptions options_;  // core.name is set once, by Start()
  std::string advertise_;             // set once, by Start()
  Clock* const clock_;
  std::unique_ptr<wal::Log> log_;
  std::shared_ptr<Resource> resource_;
  std::unique_ptr<CoordinatorChannel> coordinator_;
  std::optional<participant::ParticipantCore> core_;  // built by Start(); driver thread only
  std::atomic<uint64_t> epoch_fence_{0};

  std::mutex mutex_;
  std::condition_variable inputs_changed_;
  std::deque<Input> inputs_;
  std::multimap<TxnId, std::shared_ptr<JoinWaiter>> joins_;
  bool stopping_ = false;
  ReplyRouter replies_;

  WorkerPool store_pool_;
  WorkerPool coordinator_pool_;
  std::thread thread_;
};

}  // namespace pact::sdk

#endif  // PACT_PARTICIPANT_SDK_PARTICIPANT_DRIVER_H_
