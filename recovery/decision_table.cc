#include "recovery/decision_table.h"

#include <array>
#include <cstddef>

#include "common/check.h"

namespace pact::recovery {
namespace {

using A = Action;
using D = Decision;
using L = LogState;
using S = StoreState;
constexpr Reachability kUp = Reachability::kCoordinatorReachable;
constexpr Reachability kDown = Reachability::kCoordinatorUnreachable;

// Sizes of the dimensions. The static_asserts tie each to its last enumerator, and the switches
// in Name() (no default) fail the build for an enumerator added after it, so a new state cannot
// slip in without new rows.
constexpr std::size_t kDecisionCount = 3;
constexpr std::size_t kLogStateCount = 6;
constexpr std::size_t kStoreStateCount = 2;
constexpr std::size_t kReachabilityCount = 2;
constexpr std::size_t kRowCount =
    kDecisionCount * kLogStateCount * kStoreStateCount * kReachabilityCount;
static_assert(static_cast<std::size_t>(D::kNotKnown) + 1 == kDecisionCount);
static_assert(static_cast<std::size_t>(L::kAborted) + 1 == kLogStateCount);
static_assert(static_cast<std::size_t>(S::kPrepared) + 1 == kStoreStateCount);
static_assert(static_cast<std::size_t>(Reachability::kCoordinatorUnreachable) + 1 ==
              kReachabilityCount);

// The reasons, one sentence each, rendered into docs/recovery.md. Named once because several
// rows share one (mostly the two reachability rows of a case whose decision is already known).
// The guiding rule: act when every piece of evidence about the decision agrees (the decision,
// and our own COMMITTED / ABORTED / tombstone record); report when two pieces contradict.

// Decision kCommitted.
constexpr std::string_view kCommitNoTrace =
    "A commit needs this branch's YES vote, yet the participant has no trace of the branch: "
    "its WAL was lost or truncated too early, or the coordinator is wrong.";
constexpr std::string_view kCommitNeverPrepared =
    "No PREPARED record means no YES vote was ever sent (PREPARED is logged before the vote), "
    "so the coordinator cannot have committed: the WAL or the coordinator is wrong.";
constexpr std::string_view kCommitPreparedUnvoted =
    "The store holds the branch prepared but no YES vote was ever sent, so a commit "
    "contradicts the WAL; the branch stays prepared so that an operator can still commit it.";
constexpr std::string_view kCommitTombstoned =
    "PREPARED is never logged after a tombstone, so this branch never voted YES and cannot be "
    "part of a committed transaction.";
constexpr std::string_view kCommitApplied =
    "COMMIT PREPARED ran before the crash and only the COMMITTED record, written after it, is "
    "missing.";
constexpr std::string_view kCommitApply =
    "The branch voted YES and the decision is commit: commit in the store, then log it.";
constexpr std::string_view kCommitDone =
    "The branch is committed in the store and in the WAL; a repeated COMMIT is acknowledged.";
constexpr std::string_view kCommitStoreLost =
    "The decision and our COMMITTED record agree, so the store lost its commit (e.g. restored "
    "from a backup) and committing again is safe and releases the branch.";
constexpr std::string_view kCommitButAborted =
    "The branch is already aborted here and a decision never changes, so a commit decision "
    "(or a forced commit) contradicts the WAL.";

// Decision kAborted.
constexpr std::string_view kAbortUnknown =
    "An ABORT for a branch never seen here is recorded durably, as a tombstone would be, so "
    "that a late PREPARE is refused.";
constexpr std::string_view kAbortUnvoted =
    "The crash came between the store prepare and the PREPARED record, so no YES vote was "
    "sent, and the decision is abort anyway.";
constexpr std::string_view kAbortActive =
    "The branch never prepared, so the store has nothing to undo; the abort is logged so that "
    "a late PREPARE is refused.";
constexpr std::string_view kAbortTombstoned =
    "The tombstone already records the abort durably and must stay to refuse a late PREPARE.";
constexpr std::string_view kTombstonePrepared =
    "PREPARED is never logged after a tombstone, so the store prepare raced the ABORT and never "
    "led to a YES vote; rolling it back completes the abort.";
constexpr std::string_view kAbortApplied =
    "The store rollback ran before the crash and only the ABORTED record, written after it, is "
    "missing.";
constexpr std::string_view kAbortApply =
    "The branch voted YES and the decision is abort: roll back in the store, then log it.";
constexpr std::string_view kAbortButCommitted =
    "The branch is already committed here and a decision never changes, so an abort decision "
    "(or a forced abort) contradicts the WAL.";
constexpr std::string_view kAbortDone =
    "The branch is aborted in the store and in the WAL; a repeated ABORT is acknowledged.";
constexpr std::string_view kAbortStoreLost =
    "The decision and our ABORTED record agree, so the prepared transaction is a leftover "
    "(a lost rollback, or a prepare that raced the abort) and rolling back again is safe.";

// Decision kNotKnown.
constexpr std::string_view kNothingKnown =
    "Nothing is known of the branch and the store holds nothing for it, so there is nothing to "
    "decide.";
constexpr std::string_view kPresumedAbort =
    "The crash came between the store prepare and the PREPARED record, so no YES vote was "
    "sent, the coordinator cannot commit (presumed abort) and the branch must not stay "
    "prepared.";
constexpr std::string_view kWorkLost =
    "The restart lost the branch's unprepared work, so it aborts on its own (allowed before a "
    "YES vote) and a late PREPARE gets NO.";
constexpr std::string_view kTombstoneFinal =
    "The tombstone is itself the durable abort; nothing is left to do.";
constexpr std::string_view kInDoubtAsk =
    "The branch voted YES and never decides alone: ask the coordinator, then look the row up "
    "again with its answer.";
constexpr std::string_view kInDoubtWait =
    "The branch voted YES and never decides alone: keep it prepared and retry with backoff.";
constexpr std::string_view kAppliedAsk =
    "The store already committed or rolled back and only the decision says which record to "
    "write: ask the coordinator.";
constexpr std::string_view kAppliedWait =
    "The store already committed or rolled back and only the decision says which record to "
    "write: retry with backoff.";
constexpr std::string_view kCommittedFinal = "The branch finished committed; nothing to do.";
constexpr std::string_view kCommittedStoreLost =
    "Our COMMITTED record is written only after a commit decision, so the store lost its "
    "commit; asking instead could get a presumed ABORTED once the coordinator forgot the "
    "transaction after END.";
constexpr std::string_view kAbortedFinal = "The branch finished aborted; nothing to do.";
constexpr std::string_view kAbortedStoreLost =
    "Our ABORTED record means the branch can never commit, so the prepared transaction is a "
    "leftover and rolling it back is safe.";

// One row per combination, in Index() order: decision, log, store, reachability (the last
// varies fastest). TableInIndexOrder() below proves the order at compile time.
// clang-format off
constexpr std::array<Row, kRowCount> kTable = {{
    // ---- decision kCommitted ----
    {{D::kCommitted, L::kNone, S::kNothing, kUp}, A::kReportInconsistent, kCommitNoTrace},
    {{D::kCommitted, L::kNone, S::kNothing, kDown}, A::kReportInconsistent, kCommitNoTrace},
    {{D::kCommitted, L::kNone, S::kPrepared, kUp}, A::kReportInconsistent,
     kCommitPreparedUnvoted},
    {{D::kCommitted, L::kNone, S::kPrepared, kDown}, A::kReportInconsistent,
     kCommitPreparedUnvoted},
    {{D::kCommitted, L::kActive, S::kNothing, kUp}, A::kReportInconsistent,
     kCommitNeverPrepared},
    {{D::kCommitted, L::kActive, S::kNothing, kDown}, A::kReportInconsistent,
     kCommitNeverPrepared},
    {{D::kCommitted, L::kActive, S::kPrepared, kUp}, A::kReportInconsistent,
     kCommitPreparedUnvoted},
    {{D::kCommitted, L::kActive, S::kPrepared, kDown}, A::kReportInconsistent,
     kCommitPreparedUnvoted},
    {{D::kCommitted, L::kAbortTombstone, S::kNothing, kUp}, A::kReportInconsistent,
     kCommitTombstoned},
    {{D::kCommitted, L::kAbortTombstone, S::kNothing, kDown}, A::kReportInconsistent,
     kCommitTombstoned},
    {{D::kCommitted, L::kAbortTombstone, S::kPrepared, kUp}, A::kReportInconsistent,
     kCommitTombstoned},
    {{D::kCommitted, L::kAbortTombstone, S::kPrepared, kDown}, A::kReportInconsistent,
     kCommitTombstoned},
    {{D::kCommitted, L::kPrepared, S::kNothing, kUp}, A::kLogCommitted, kCommitApplied},
    {{D::kCommitted, L::kPrepared, S::kNothing, kDown}, A::kLogCommitted, kCommitApplied},
    {{D::kCommitted, L::kPrepared, S::kPrepared, kUp}, A::kCommitInStore, kCommitApply},
    {{D::kCommitted, L::kPrepared, S::kPrepared, kDown}, A::kCommitInStore, kCommitApply},
    {{D::kCommitted, L::kCommitted, S::kNothing, kUp}, A::kNothing, kCommitDone},
    {{D::kCommitted, L::kCommitted, S::kNothing, kDown}, A::kNothing, kCommitDone},
    {{D::kCommitted, L::kCommitted, S::kPrepared, kUp}, A::kCommitInStore, kCommitStoreLost},
    {{D::kCommitted, L::kCommitted, S::kPrepared, kDown}, A::kCommitInStore, kCommitStoreLost},
    {{D::kCommitted, L::kAborted, S::kNothing, kUp}, A::kReportInconsistent, kCommitButAborted},
    {{D::kCommitted, L::kAborted, S::kNothing, kDown}, A::kReportInconsistent,
     kCommitButAborted},
    {{D::kCommitted, L::kAborted, S::kPrepared, kUp}, A::kReportInconsistent,
     kCommitButAborted},
    {{D::kCommitted, L::kAborted, S::kPrepared, kDown}, A::kReportInconsistent,
     kCommitButAborted},

    // ---- decision kAborted ----
    {{D::kAborted, L::kNone, S::kNothing, kUp}, A::kLogAborted, kAbortUnknown},
    {{D::kAborted, L::kNone, S::kNothing, kDown}, A::kLogAborted, kAbortUnknown},
    {{D::kAborted, L::kNone, S::kPrepared, kUp}, A::kRollbackInStore, kAbortUnvoted},
    {{D::kAborted, L::kNone, S::kPrepared, kDown}, A::kRollbackInStore, kAbortUnvoted},
    {{D::kAborted, L::kActive, S::kNothing, kUp}, A::kLogAborted, kAbortActive},
    {{D::kAborted, L::kActive, S::kNothing, kDown}, A::kLogAborted, kAbortActive},
    {{D::kAborted, L::kActive, S::kPrepared, kUp}, A::kRollbackInStore, kAbortUnvoted},
    {{D::kAborted, L::kActive, S::kPrepared, kDown}, A::kRollbackInStore, kAbortUnvoted},
    {{D::kAborted, L::kAbortTombstone, S::kNothing, kUp}, A::kNothing, kAbortTombstoned},
    {{D::kAborted, L::kAbortTombstone, S::kNothing, kDown}, A::kNothing, kAbortTombstoned},
    {{D::kAborted, L::kAbortTombstone, S::kPrepared, kUp}, A::kRollbackInStore,
     kTombstonePrepared},
    {{D::kAborted, L::kAbortTombstone, S::kPrepared, kDown}, A::kRollbackInStore,
     kTombstonePrepared},
    {{D::kAborted, L::kPrepared, S::kNothing, kUp}, A::kLogAborted, kAbortApplied},
    {{D::kAborted, L::kPrepared, S::kNothing, kDown}, A::kLogAborted, kAbortApplied},
    {{D::kAborted, L::kPrepared, S::kPrepared, kUp}, A::kRollbackInStore, kAbortApply},
    {{D::kAborted, L::kPrepared, S::kPrepared, kDown}, A::kRollbackInStore, kAbortApply},
    {{D::kAborted, L::kCommitted, S::kNothing, kUp}, A::kReportInconsistent, kAbortButCommitted},
    {{D::kAborted, L::kCommitted, S::kNothing, kDown}, A::kReportInconsistent,
     kAbortButCommitted},
    {{D::kAborted, L::kCommitted, S::kPrepared, kUp}, A::kReportInconsistent,
     kAbortButCommitted},
    {{D::kAborted, L::kCommitted, S::kPrepared, kDown}, A::kReportInconsistent,
     kAbortButCommitted},
    {{D::kAborted, L::kAborted, S::kNothing, kUp}, A::kNothing, kAbortDone},
    {{D::kAborted, L::kAborted, S::kNothing, kDown}, A::kNothing, kAbortDone},
    {{D::kAborted, L::kAborted, S::kPrepared, kUp}, A::kRollbackInStore, kAbortStoreLost},
    {{D::kAborted, L::kAborted, S::kPrepared, kDown}, A::kRollbackInStore, kAbortStoreLost},

    // ---- decision kNotKnown ----
    {{D::kNotKnown, L::kNone, S::kNothing, kUp}, A::kNothing, kNothingKnown},
    {{D::kNotKnown, L::kNone, S::kNothing, kDown}, A::kNothing, kNothingKnown},
    {{D::kNotKnown, L::kNone, S::kPrepared, kUp}, A::kRollbackInStore, kPresumedAbort},
    {{D::kNotKnown, L::kNone, S::kPrepared, kDown}, A::kRollbackInStore, kPresumedAbort},
    {{D::kNotKnown, L::kActive, S::kNothing, kUp}, A::kLogAborted, kWorkLost},
    {{D::kNotKnown, L::kActive, S::kNothing, kDown}, A::kLogAborted, kWorkLost},
    {{D::kNotKnown, L::kActive, S::kPrepared, kUp}, A::kRollbackInStore, kPresumedAbort},
    {{D::kNotKnown, L::kActive, S::kPrepared, kDown}, A::kRollbackInStore, kPresumedAbort},
    {{D::kNotKnown, L::kAbortTombstone, S::kNothing, kUp}, A::kNothing, kTombstoneFinal},
    {{D::kNotKnown, L::kAbortTombstone, S::kNothing, kDown}, A::kNothing, kTombstoneFinal},
    {{D::kNotKnown, L::kAbortTombstone, S::kPrepared, kUp}, A::kRollbackInStore,
     kTombstonePrepared},
    {{D::kNotKnown, L::kAbortTombstone, S::kPrepared, kDown}, A::kRollbackInStore,
     kTombstonePrepared},
    {{D::kNotKnown, L::kPrepared, S::kNothing, kUp}, A::kAskCoordinator, kAppliedAsk},
    {{D::kNotKnown, L::kPrepared, S::kNothing, kDown}, A::kWaitForCoordinator, kAppliedWait},
    {{D::kNotKnown, L::kPrepared, S::kPrepared, kUp}, A::kAskCoordinator, kInDoubtAsk},
    {{D::kNotKnown, L::kPrepared, S::kPrepared, kDown}, A::kWaitForCoordinator, kInDoubtWait},
    {{D::kNotKnown, L::kCommitted, S::kNothing, kUp}, A::kNothing, kCommittedFinal},
    {{D::kNotKnown, L::kCommitted, S::kNothing, kDown}, A::kNothing, kCommittedFinal},
    {{D::kNotKnown, L::kCommitted, S::kPrepared, kUp}, A::kCommitInStore, kCommittedStoreLost},
    {{D::kNotKnown, L::kCommitted, S::kPrepared, kDown}, A::kCommitInStore,
     kCommittedStoreLost},
    {{D::kNotKnown, L::kAborted, S::kNothing, kUp}, A::kNothing, kAbortedFinal},
    {{D::kNotKnown, L::kAborted, S::kNothing, kDown}, A::kNothing, kAbortedFinal},
    {{D::kNotKnown, L::kAborted, S::kPrepared, kUp}, A::kRollbackInStore, kAbortedStoreLost},
    {{D::kNotKnown, L::kAborted, S::kPrepared, kDown}, A::kRollbackInStore, kAbortedStoreLost},
}};
// clang-format on

constexpr bool InRange(const Case& c) {
  return static_cast<std::size_t>(c.decision) < kDecisionCount &&
         static_cast<std::size_t>(c.log) < kLogStateCount &&
         static_cast<std::size_t>(c.store) < kStoreStateCount &&
         static_cast<std::size_t>(c.reachability) < kReachabilityCount;
}

// Row-major over (decision, log, store, reachability), matching the order of kTable.
constexpr std::size_t Index(const Case& c) {
  std::size_t index = static_cast<std::size_t>(c.decision);
  index = index * kLogStateCount + static_cast<std::size_t>(c.log);
  index = index * kStoreStateCount + static_cast<std::size_t>(c.store);
  index = index * kReachabilityCount + static_cast<std::size_t>(c.reachability);
  return index;
}

constexpr bool TableInIndexOrder() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (!InRange(kTable[i].when) || Index(kTable[i].when) != i || kTable[i].why.empty()) {
      return false;
    }
  }
  return true;
}
// A row typed in the wrong place (or twice, or missing) fails the build, not just the test.
static_assert(TableInIndexOrder(), "kTable must hold exactly one row per case, in Index order");

}  // namespace

Action Decide(const Case& when) { return Lookup(when).action; }

const Row& Lookup(const Case& when) {
  // An enum value out of range (a cast from a corrupt record) would index past the table.
  PACT_CHECK(InRange(when), "case out of range: decision={} log={} store={} reachability={}",
             static_cast<int>(when.decision), static_cast<int>(when.log),
             static_cast<int>(when.store), static_cast<int>(when.reachability));
  return kTable[Index(when)];
}

const std::vector<Row>& AllRows() {
  static const std::vector<Row>* const rows = new std::vector<Row>(kTable.begin(), kTable.end());
  return *rows;
}

std::string_view Name(Decision decision) {
  switch (decision) {
    case D::kCommitted:
      return "kCommitted";
    case D::kAborted:
      return "kAborted";
    case D::kNotKnown:
      return "kNotKnown";
  }
  PACT_UNREACHABLE("Decision {}", static_cast<int>(decision));
}

std::string_view Name(LogState log) {
  switch (log) {
    case L::kNone:
      return "kNone";
    case L::kActive:
      return "kActive";
    case L::kAbortTombstone:
      return "kAbortTombstone";
    case L::kPrepared:
      return "kPrepared";
    case L::kCommitted:
      return "kCommitted";
    case L::kAborted:
      return "kAborted";
  }
  PACT_UNREACHABLE("LogState {}", static_cast<int>(log));
}

std::string_view Name(StoreState store) {
  switch (store) {
    case S::kNothing:
      return "kNothing";
    case S::kPrepared:
      return "kPrepared";
  }
  PACT_UNREACHABLE("StoreState {}", static_cast<int>(store));
}

std::string_view Name(Reachability reachability) {
  switch (reachability) {
    case Reachability::kCoordinatorReachable:
      return "kCoordinatorReachable";
    case Reachability::kCoordinatorUnreachable:
      return "kCoordinatorUnreachable";
  }
  PACT_UNREACHABLE("Reachability {}", static_cast<int>(reachability));
}

std::string_view Name(Action action) {
  switch (action) {
    case A::kNothing:
      return "kNothing";
    case A::kCommitInStore:
      return "kCommitInStore";
    case A::kRollbackInStore:
      return "kRollbackInStore";
    case A::kLogCommitted:
      return "kLogCommitted";
    case A::kLogAborted:
      return "kLogAborted";
    case A::kAskCoordinator:
      return "kAskCoordinator";
    case A::kWaitForCoordinator:
      return "kWaitForCoordinator";
    case A::kReportInconsistent:
      return "kReportInconsistent";
  }
  PACT_UNREACHABLE("Action {}", static_cast<int>(action));
}

}  // namespace pact::recovery
