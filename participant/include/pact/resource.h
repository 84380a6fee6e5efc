// Resource: a local store as the participant drives it - the branch operations of two-phase
// commit, keyed by BranchId. Implemented by the PostgreSQL resource (libpq), the embedded KV
// store, and the simulator's in-memory store. Protocol cores never call a Resource; the
// participant's driver does, in the order the branch machine asks (persist, send, apply).
//
// Work inside a branch (SQL, KV puts) is resource-specific and lives on the concrete class;
// this interface holds only what the protocol needs.
//
// Every method may fail with a Status (kUnavailable when the store cannot be reached; the
// caller retries). Implementations are thread-safe across different branches; calls for one
// branch come from one thread at a time.
#ifndef PACT_PARTICIPANT_INCLUDE_PACT_RESOURCE_H_
#define PACT_PARTICIPANT_INCLUDE_PACT_RESOURCE_H_

#include <string_view>
#include <vector>

#include "common/branch_id.h"
#include "common/status.h"

namespace pact {

enum class PrepareResult {
  kPrepared,  // the branch's work is durable in the store and can still go either way
  kReadOnly,  // the branch wrote nothing; it is already finished and needs no second phase
};

class Resource {
 public:
  virtual ~Resource() = default;

  // Short, stable name for logs and errors ("postgres:bank_a", "kv:/var/lib/pact/kv").
  virtual std::string_view name() const = 0;

  // Opens the branch in the store. AlreadyExists-like repeats return FailedPrecondition.
  virtual Status BeginBranch(const BranchId& branch) = 0;

  // Makes the branch's work durable in the store (PostgreSQL: PREPARE TRANSACTION). Returns
  // only after the store has made it durable. An error means the branch could not be
  // prepared and the participant must vote NO; the store has rolled the branch back - except
  // for OutcomeUnknown: the store may hold the branch prepared after all (the connection broke
  // during PREPARE TRANSACTION and the store could not be reached again to roll it back). The
  // participant still votes NO and keeps calling Rollback() until the store confirms (after a
  // restart, ListPrepared() shows the branch and recovery rolls it back: no PREPARED record).
  virtual Result<PrepareResult> Prepare(const BranchId& branch) = 0;

  // Prepare() for many branches at once, answered in order. A store that can overlap them
  // (PostgreSQL: every PREPARE sent before any answer is read) overrides this.
  virtual std::vector<Result<PrepareResult>> PrepareMany(const std::vector<BranchId>& branches) {
    std::vector<Result<PrepareResult>> results;
    results.reserve(branches.size());
    for (const BranchId& branch : branches) results.push_back(Prepare(branch));
    return results;
  }

  // Commits a prepared branch. NotFound when the store holds no prepared branch of that id
  // (already committed, or never prepared: only the participant's log can tell which).
  virtual Status CommitPrepared(const BranchId& branch) = 0;

  // CommitPrepared() for many branches at once, each answered as CommitPrepared() would answer
  // it, in order. A store that can commit several in one round trip (PostgreSQL: a pipeline
  // with one WAL flush) overrides this.
  virtual std::vector<Status> CommitPreparedMany(const std::vector<BranchId>& branches) {
    std::vector<Status> results;
    results.reserve(branches.size());
    for (const BranchId& branch : branches) results.push_back(CommitPrepared(branch));
    return results;
  }

  // Rolls back the branch, active or prepared. OK when the store holds nothing of it.
  virtual Status Rollback(const BranchId& branch) = 0;

  // Every branch of this cluster that the store holds prepared (after a restart, too).
  virtual Result<std::vector<BranchId>> ListPrepared() = 0;
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_INCLUDE_PACT_RESOURCE_H_
