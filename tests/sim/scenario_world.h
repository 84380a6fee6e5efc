// ScenarioWorld: a small cluster (coordinator c1, participants p1..pN, client k1) driven by hand,
// for tests that read like transcripts:
//
//   ScenarioWorld w;
//   TxnId t = w.Begin();
//   w.Work(t, "p1", WorkKind::kWrite);
//   w.Commit(t);
//   w.Deliver("PrepareRequest");       // every queued PREPARE, in order
//   w.CrashAt("c1", "proposed");       // the next time c1 gets there
//   w.Deliver("VoteReply");
//   w.Restart("c1");
//   w.Settle();
//
// The nodes are the simulator's (the real cores, the real WAL on FaultInjectingFileSystem, the
// in-memory store), so the drivers' persist-before-send checks and the Checker run here too.
// Nothing happens on its own: messages wait in a FIFO queue until delivered, dropped or
// duplicated; time moves only with Tick() and Settle(). The transcript records every step.
#ifndef PACT_TESTS_SIM_SCENARIO_WORLD_H_
#define PACT_TESTS_SIM_SCENARIO_WORLD_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/random.h"
#include "tests/sim/checker.h"
#include "tests/sim/network.h"
#include "tests/sim/nodes.h"

namespace pact::sim {

class ScenarioWorld {
 public:
  explicit ScenarioWorld(int participants = 2);
  ~ScenarioWorld();

  // ---- The client k1 (its requests are queued like every message) ----
  // Begins a transaction and delivers the round trip.
  TxnId Begin();
  // Asks `participant` to work in `txn` and delivers the enlistment round trip and the reply;
  // returns the branch (invalid if the work was refused).
  BranchId Work(const TxnId& txn, const std::string& participant, WorkKind kind);
  void Commit(const TxnId& txn);  // queues CommitRequest
  void Abort(const TxnId& txn);   // queues AbortRequest
  // What k1 was told about `txn` (the first answer), if anything.
  std::optional<protocol::Outcome> Told(const TxnId& txn) const;

  // ---- The network: queued messages whose name is `what` and (if given) whose addressee
  // is `to`. Each returns how many it touched. ----
  size_t Deliver(std::string_view what, std::string_view to = "");
  size_t Drop(std::string_view what, std::string_view to = "");
  size_t Duplicate(std::string_view what, std::string_view to = "");
  // Takes them out of the queue until Release puts them back at its end (late messages).
  size_t Hold(std::string_view what, std::string_view to = "");
  size_t Release(std::string_view what, std::string_view to = "");
  size_t queued(std::string_view what, std::string_view to = "") const;

  // ---- Time ----
  void Tick(uint64_t ticks = 1);
  // Delivers everything and ticks until nothing is queued or open anywhere (or ticks_max).
  // Returns true if everything ended.
  bool Settle(uint64_t ticks_max = 3000);

  // ---- Faults ----
  void Crash(const std::string& node, CrashKind kind = CrashKind::kPowerLoseUnsynced);
  void Restart(const std::string& node);
  // Crashes `node` the next time its driver reaches `where` ("proposed", "flushed", "send",
  // "appended", "persisted", "apply", "applied", ...).
  void CrashAt(const std::string& node, const std::string& where);

  // ---- Observation ----
  std::optional<Fate> StoreFate(const std::string& participant, const BranchId& branch) const;
  CoordinatorNode& c1() { return *coordinator_; }
  ParticipantNode& participant(const std::string& name);
  const Checker& checker() const { return checker_; }
  std::string transcript() const { return tracer_.text(); }
  // The Checker's violations plus the final check; empty when the run was correct.
  std::vector<std::string> Violations();

 private:
  class ManualTransport;
  class ScriptedCrashPoints;

  void DeliverPacket(const Packet& packet);
  bool Matches(const Packet& p, std::string_view what, std::string_view to) const;
  bool AllEnded();
  void Note(std::string_view line) { tracer_.Line(line); }

  uint64_t now_ = 0;
  Random random_{1};
  Tracer tracer_{true, false};
  Checker checker_;
  std::unique_ptr<ManualTransport> transport_;
  std::unique_ptr<ScriptedCrashPoints> crash_points_;
  std::unique_ptr<CoordinatorNode> coordinator_;
  std::vector<std::unique_ptr<ParticipantNode>> participants_;
  std::vector<Packet> held_;
  uint64_t request_id_ = 0;
  std::optional<TxnId> begun_;
  std::map<TxnId, protocol::Outcome> told_;
  std::map<std::pair<TxnId, std::string>, BranchId> work_done_;
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_SCENARIO_WORLD_H_
