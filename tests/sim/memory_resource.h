// MemoryResource: the simulator's store behind a participant (pact/resource.h). Like a real
// database, its prepared branches are durable - they survive a crash of the participant - while
// the work of branches not yet prepared is lost in a crash.
//
// It also keeps the store's history for the checkers: the fate of every branch it ever saw
// (which a crash does not erase; it is the simulator's knowledge, not the node's), and
// reports every change of fate to a FateObserver.
#ifndef PACT_TESTS_SIM_MEMORY_RESOURCE_H_
#define PACT_TESTS_SIM_MEMORY_RESOURCE_H_

#include <map>
#include <set>
#include <string>

#include "pact/resource.h"
#include "tests/sim/sim_message.h"

namespace pact::sim {

enum class Fate : uint8_t {
  kActive,  // work under way, not prepared
  kPrepared,
  kCommitted,
  kRolledBack,  // rolled back (before or after prepare), or the store refused to prepare
  kReadOnly,    // prepared with nothing written: finished
  kLost,        // active work lost in a crash of the participant
};
std::string_view Name(Fate fate);

struct BranchHistory {
  Fate fate = Fate::kActive;
  bool wrote = false;     // did write work (or work the store refuses to prepare)
  bool prepared = false;  // was prepared at some point
};

class FateObserver {
 public:
  virtual ~FateObserver() = default;
  virtual void OnFate(const std::string& participant, const BranchId& branch,
                      const BranchHistory& history) = 0;
};

class MemoryResource final : public Resource {
 public:
  MemoryResource(std::string participant, FateObserver* observer)
      : participant_(std::move(participant)), observer_(observer) {}

  std::string_view name() const override { return participant_; }
  Status BeginBranch(const BranchId& branch) override;
  Result<PrepareResult> Prepare(const BranchId& branch) override;
  Status CommitPrepared(const BranchId& branch) override;
  Status Rollback(const BranchId& branch) override;
  Result<std::vector<BranchId>> ListPrepared() override;

  // The application's work in an active branch.
  Status DoWork(const BranchId& branch, WorkKind kind);
  // The participant crashed: active work is gone, prepared branches stay.
  void Crash();

  size_t active() const { return active_.size(); }
  size_t prepared() const { return prepared_.size(); }
  const std::map<BranchId, BranchHistory>& history() const { return history_; }

 private:
  struct Work {
    bool wrote = false;
    bool refuse_prepare = false;
  };
  void SetFate(const BranchId& branch, Fate fate);

  const std::string participant_;
  FateObserver* const observer_;
  std::map<BranchId, Work> active_;            // volatile
  std::set<BranchId> prepared_;                // durable
  std::map<BranchId, BranchHistory> history_;  // the simulator's record
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_MEMORY_RESOURCE_H_
