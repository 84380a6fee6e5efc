// Checker: the simulator's oracle. It hears what happens - decisions chosen in the coordinator's
// decision log, what clients are told, every change in every store - and checks, as soon as a
// fact arrives:
//   - atomicity: no transaction has one branch committed and another (that did work) rolled
//     back or lost;
//   - a client told COMMITTED implies every branch commits (none is rolled back or lost);
//     a client told ABORTED implies no branch commits and no COMMIT is chosen;
//   - a decision never changes: a chosen COMMIT is never followed by a rolled-back branch and
//     survives every restart of the coordinator (until its END);
// and at the end of a run (CheckFinal) that every decision reached every branch. Persist-
// before-send violations and inconsistencies are reported to it by the node drivers.
#ifndef PACT_TESTS_SIM_CHECKER_H_
#define PACT_TESTS_SIM_CHECKER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/protocol.h"
#include "coordinator/core/decision.h"
#include "tests/sim/memory_resource.h"

namespace pact::sim {

class Checker final : public FateObserver {
 public:
  void Violation(std::string what);
  const std::vector<std::string>& violations() const { return violations_; }
  void set_now(uint64_t now) { now_ = now; }

  // The coordinator's decision log chose COMMIT for `txn` (it is durable).
  void OnChosen(const TxnId& txn);
  bool EverChosen(const TxnId& txn) const;
  void OnEndAppended(const TxnId& txn);
  // A coordinator restarted and its decision log handed it `unended`.
  void OnCoordinatorRecovered(const std::vector<coordinator::CommitDecision>& unended);

  // A client heard that its work in `branch` at `participant` is done.
  void OnWorkDone(const TxnId& txn, const std::string& participant, const BranchId& branch,
                  WorkKind kind);
  // A client accepted `outcome` as the answer to its commit or abort request.
  void OnClientTold(const std::string& client, const TxnId& txn, protocol::Outcome outcome);

  void OnFate(const std::string& participant, const BranchId& branch,
              const BranchHistory& history) override;

  // A participant sent a vote, or acknowledged an ABORT. Once it said NO or ABORTED about a
  // branch it must never vote YES for it: that would leave a prepared branch behind that the
  // coordinator has already aborted and forgotten (the tombstone's job).
  void OnVote(const std::string& participant, const BranchId& branch, protocol::Vote vote);
  void OnAbortAcknowledged(const std::string& participant, const BranchId& branch);

  // After the quiet period: every chosen or told-committed transaction committed everywhere.
  void CheckFinal();

  uint64_t txns_seen() const { return txns_.size(); }
  uint64_t told_committed() const { return told_committed_; }
  uint64_t told_aborted() const { return told_aborted_; }

 private:
  using BranchKey = std::pair<std::string, uint32_t>;  // (participant, branch number)
  struct TxnFacts {
    bool chosen = false;
    bool end_appended = false;
    std::optional<protocol::Outcome> told;
    std::map<BranchKey, BranchHistory> branches;
    std::vector<BranchKey> client_writes;
  };
  void CheckTxn(const TxnId& txn, const TxnFacts& facts);

  uint64_t now_ = 0;
  std::map<TxnId, TxnFacts> txns_;
  std::map<std::pair<std::string, BranchId>, std::string> refused_;  // what it said
  std::vector<std::string> violations_;
  uint64_t told_committed_ = 0;
  uint64_t told_aborted_ = 0;
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_CHECKER_H_
