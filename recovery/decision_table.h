// The in-doubt decision table (docs/recovery.md): after a restart, and whenever a branch's fate
// is in question, the participant looks up exactly one action for the combination of what it
// knows. The same table drives the code, the documentation and an exhaustive test; adding a
// state to any dimension forces every new row to be decided.
//
// Pure: no IO. Thread-safe (no state).
#ifndef PACT_RECOVERY_DECISION_TABLE_H_
#define PACT_RECOVERY_DECISION_TABLE_H_

#include <string_view>
#include <vector>

namespace pact::recovery {

// What the participant knows of the global decision (from an outcome reply, a COMMIT or ABORT
// message, or a forced outcome). kNotKnown: nothing yet, or the coordinator answered
// UNKNOWN-YET.
enum class Decision { kCommitted, kAborted, kNotKnown };

// The last record of the branch in the participant's own WAL.
enum class LogState {
  kNone,            // no record: never enlisted here, or enlistment not yet durable
  kActive,          // enlisted, working, no vote cast
  kAbortTombstone,  // ABORT arrived before PREPARE; a late PREPARE must be refused
  kPrepared,        // prepared in the store and voted YES
  kCommitted,       // finished: committed
  kAborted,         // finished: aborted
};

// What the store holds for the branch's gid.
enum class StoreState {
  kNothing,   // no prepared transaction (never prepared, or already committed / rolled back)
  kPrepared,  // a prepared transaction with the branch's gid
};

enum class Reachability { kCoordinatorReachable, kCoordinatorUnreachable };

enum class Action {
  kNothing,             // the branch is finished here; nothing to do
  kCommitInStore,       // COMMIT PREPARED, then log COMMITTED
  kRollbackInStore,     // ROLLBACK (PREPARED), then log ABORTED
  kLogCommitted,        // the store already committed; only the log record is missing
  kLogAborted,          // the store already holds nothing; log ABORTED (presumed abort)
  kAskCoordinator,      // in doubt: ask outcome(txid) and look the row up again
  kWaitForCoordinator,  // in doubt and the coordinator cannot be reached: keep the branch
                        // prepared, retry later with backoff. Never decide alone.
  kReportInconsistent,  // the combination cannot arise if the protocol held (e.g. a commit
                        // decision for a branch that never voted YES): change nothing, log
                        // loudly, leave it to an operator (pactctl)
};

struct Case {
  Decision decision;
  LogState log;
  StoreState store;
  Reachability reachability;
};

struct Row {
  Case when;
  Action action;
  std::string_view why;  // one sentence, rendered into docs/recovery.md
};

// The action for one combination. Every combination of the four dimensions has a row.
Action Decide(const Case& when);
// The row (action and reason) for one combination.
const Row& Lookup(const Case& when);
// Every row, in a fixed order (decision, log, store, reachability).
const std::vector<Row>& AllRows();

std::string_view Name(Decision);
std::string_view Name(LogState);
std::string_view Name(StoreState);
std::string_view Name(Reachability);
std::string_view Name(Action);

}  // namespace pact::recovery

#endif  // PACT_RECOVERY_DECISION_TABLE_H_
