// The simulator's nodes: the real cores, driven the way production drives them, on the real
// WAL over a FaultInjectingFileSystem (one per node, so that a crash of one node loses only
// that node's unsynced bytes).
//
// Each driver carries out a core's effects in the order the cores demand - persist (append
// and force), then send, then apply - and checks persist-before-send on every message: a
// message that names a record (participant) or a decision (coordinator) leaves only once that
// record is durable or that decision chosen, and a few messages are checked by meaning too
// (a YES vote needs a durable PREPARED, a phase-2 COMMIT a chosen decision). Between every two
// steps of a batch the driver asks CrashPoints whether to crash right there, which is how
// crashes land at random points: after an append but before the fsync (a torn tail), after
// the fsync but before the send, between a store operation and the record that follows it.
//
// Single-threaded, deterministic.
#ifndef PACT_TESTS_SIM_NODES_H_
#define PACT_TESTS_SIM_NODES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fault_injecting_file_system.h"
#include "common/random.h"
#include "coordinator/core/coordinator_core.h"
#include "coordinator/single_replica_decision_log.h"
#include "participant/core/participant_core.h"
#include "tests/sim/checker.h"
#include "tests/sim/memory_resource.h"
#include "tests/sim/sim_message.h"
#include "wal/log.h"

namespace pact::sim {

// How a node goes down. A power loss also loses what its disk had not synced (or keeps a torn
// prefix of it); a process crash (kill -9) keeps the page cache, so that a restart reads the
// unsynced bytes back - and a later power loss may still take them away.
enum class CrashKind : uint8_t { kPowerLoseUnsynced, kPowerTearUnsynced, kProcess };
std::string_view Name(CrashKind kind);

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(const std::string& from, const std::string& to, SimMessage message) = 0;
};

class CrashPoints {
 public:
  virtual ~CrashPoints() = default;
  // Asked at every interesting point of a driver; a value means "crash now, in this mode".
  virtual std::optional<CrashKind> CrashHere(const std::string& node, std::string_view where) = 0;
};

// Collects (and optionally echoes) trace lines. Disabled tracing costs one branch per event.
class Tracer {
 public:
  Tracer(bool enabled, bool echo) : enabled_(enabled), echo_(echo) {}
  bool enabled() const { return enabled_; }
  void set_now(uint64_t now) { now_ = now; }
  void Line(std::string_view text);
  const std::string& text() const { return text_; }

 private:
  const bool enabled_;
  const bool echo_;
  uint64_t now_ = 0;
  std::string text_;
};

struct Services {
  Transport* transport = nullptr;
  CrashPoints* crash_points = nullptr;  // nullptr: never crash in the middle of a batch
  Checker* checker = nullptr;
  Tracer* tracer = nullptr;
  // Store operations take 1..store_delay_ticks_max ticks of simulated time (a real store
  // answers later, and messages arrive meanwhile); 0 runs them at once. Needs `random` and
  // `now` when not 0.
  uint64_t store_delay_ticks_max = 0;
  Random* random = nullptr;
  const uint64_t* now = nullptr;
  // False: every crash is a power loss, and a node that fails (fail-stop) or cannot start is
  // power-cycled. True: those are process crashes, and CrashPoints may also pick kProcess.
  bool process_crashes = false;
};

class CoordinatorNode {
 public:
  CoordinatorNode(std::string name, uint64_t fs_seed,
                  const coordinator::CoordinatorOptions& options, Services services);

  const std::string& name() const { return name_; }
  bool up() const { return core_ != nullptr; }
  // Opens the decision log (replay, durable epoch bump) and starts a core of the new epoch.
  // An IO error leaves the node down (start it again later); anything else is a violation.
  void Start();
  void Crash(CrashKind kind);
  void Deliver(const std::string& from, const protocol::Message& message);
  void Tick();

  coordinator::CoordinatorCore* core() { return core_.get(); }
  coordinator::SingleReplicaDecisionLog* decision_log() { return log_.get(); }
  FaultInjectingFileSystem& fs() { return fs_; }

 private:
  void Run(coordinator::CoordinatorEffects fx);
  bool CrashPoint(std::string_view where);
  // A failed write or fsync is fatal (DESIGN §4): the node stops as if it crashed. True if so.
  bool FailStop(const Status& status);
  void CheckSend(const coordinator::CoordinatorOutbound& out);

  const std::string name_;
  const coordinator::CoordinatorOptions options_;
  const Services s_;
  FaultInjectingFileSystem fs_;
  std::unique_ptr<coordinator::SingleReplicaDecisionLog> log_;
  std::unique_ptr<coordinator::CoordinatorCore> core_;
};

class ParticipantNode {
 public:
  ParticipantNode(const participant::ParticipantOptions& options, uint64_t fs_seed,
                  Services services);

  const std::string& name() const { return options_.name; }
  bool up() const { return core_ != nullptr; }
  // Opens the WAL (replay), lists the store's prepared branches and recovers the core.
  // An IO error leaves the node down (start it again later); anything else is a violation.
  void Start();
  void Crash(CrashKind kind);
  // Protocol messages go to the core; a WorkRequest starts (or joins) the transaction's branch.
  void Deliver(const std::string& from, const SimMessage& message);
  void Tick();
  // Completes the store operations due by now (see Services::store_delay_ticks_max).
  void CompleteStoreOps();
  size_t store_ops_in_flight() const { return store_ops_.size(); }

  participant::ParticipantCore* core() { return core_.get(); }
  MemoryResource& resource() { return resource_; }
  FaultInjectingFileSystem& fs() { return fs_; }

 private:
  struct PendingWork {
    std::string client;
    WorkKind kind;
  };

  void Run(participant::ParticipantEffects fx);
  bool CrashPoint(std::string_view where);
  bool FailStop(const Status& status);
  participant::StoreResult Apply(const participant::StoreRequest& request);
  void OnEvent(const participant::ParticipantEvent& event);
  void CheckSend(const participant::ParticipantOutbound& out);
  bool Durable(const participant::RecordKey& key) const;

  const participant::ParticipantOptions options_;
  const Services s_;
  FaultInjectingFileSystem fs_;
  MemoryResource resource_;  // the store outlives crashes of the participant
  std::unique_ptr<wal::Log> log_;
  std::unique_ptr<participant::ParticipantCore> core_;
  std::map<participant::RecordKey, wal::Lsn> lsn_of_;
  std::map<TxnId, std::vector<PendingWork>> pending_work_;
  std::map<std::pair<uint64_t, uint64_t>, participant::StoreRequest> store_ops_;  // (due, seq)
  uint64_t store_op_seq_ = 0;
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_NODES_H_
