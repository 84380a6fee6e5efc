// The exhaustive test of the in-doubt decision table (STYLE rule 10): every combination of the
// four dimensions is enumerated, each has exactly one row, and the protocol's safety rules hold
// over all rows. The rules are written here independently of the table, from DESIGN §2, so a
// row edited into an unsafe action fails a named property.
#include "recovery/decision_table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace pact::recovery {
namespace {

using A = Action;
using D = Decision;
using L = LogState;
using S = StoreState;
constexpr Reachability kUp = Reachability::kCoordinatorReachable;
constexpr Reachability kDown = Reachability::kCoordinatorUnreachable;

// Every value of each dimension, listed by hand rather than derived from the table's sizes, so
// that a state added to the header without a row here and there is noticed.
constexpr D kDecisions[] = {D::kCommitted, D::kAborted, D::kNotKnown};
constexpr L kLogStates[] = {L::kNone,     L::kActive,    L::kAbortTombstone,
                            L::kPrepared, L::kCommitted, L::kAborted};
constexpr S kStoreStates[] = {S::kNothing, S::kPrepared};
constexpr Reachability kReachabilities[] = {kUp, kDown};
constexpr A kActions[] = {
    A::kNothing,    A::kCommitInStore,  A::kRollbackInStore,    A::kLogCommitted,
    A::kLogAborted, A::kAskCoordinator, A::kWaitForCoordinator, A::kReportInconsistent};
constexpr std::size_t kCombinations = 3 * 6 * 2 * 2;

using Key = std::tuple<int, int, int, int>;
Key KeyOf(const Case& c) {
  return {static_cast<int>(c.decision), static_cast<int>(c.log), static_cast<int>(c.store),
          static_cast<int>(c.reachability)};
}
bool SameCase(const Case& a, const Case& b) { return KeyOf(a) == KeyOf(b); }

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (D d : kDecisions) {
    for (L l : kLogStates) {
      for (S s : kStoreStates) {
        for (Reachability r : kReachabilities) cases.push_back(Case{d, l, s, r});
      }
    }
  }
  return cases;
}

std::string Describe(const Case& c) {
  return std::string(Name(c.decision)) + " / log " + std::string(Name(c.log)) + " / store " +
         std::string(Name(c.store)) + " / " + std::string(Name(c.reachability)) + " -> " +
         std::string(Name(Decide(c)));
}

// ---- The protocol facts the properties are stated in (DESIGN §2). ----

// PREPARED is logged after the store prepare and before the YES vote, and never after a
// tombstone: a branch whose last record is one of these never voted YES.
bool NeverVotedYes(L log) {
  return log == L::kNone || log == L::kActive || log == L::kAbortTombstone;
}
// Evidence that the global decision is commit: the decision itself, or our own COMMITTED record
// (written only after a commit decision was applied).
bool CommitEvidence(const Case& c) { return c.decision == D::kCommitted || c.log == L::kCommitted; }
// Evidence that the branch can only abort: an abort decision, our ABORTED record or a tombstone.
bool AbortEvidence(const Case& c) {
  return c.decision == D::kAborted || c.log == L::kAborted || c.log == L::kAbortTombstone;
}
// Pieces of evidence that cannot all be true if the protocol held: commit and abort together
// (a decision never changes), or a commit of a branch that never voted YES (presumed abort).
bool Contradictory(const Case& c) {
  return (CommitEvidence(c) && AbortEvidence(c)) ||
         (c.decision == D::kCommitted && NeverVotedYes(c.log));
}
bool InDoubt(const Case& c) { return c.log == L::kPrepared && c.decision == D::kNotKnown; }

bool IsCommit(A a) { return a == A::kCommitInStore || a == A::kLogCommitted; }
bool IsAbort(A a) { return a == A::kRollbackInStore || a == A::kLogAborted; }
bool TouchesStore(A a) { return a == A::kCommitInStore || a == A::kRollbackInStore; }
bool LogOnly(A a) { return a == A::kLogCommitted || a == A::kLogAborted; }

// ---- (a) Completeness: exactly one row per combination. ----

TEST(RecoveryDecisionTable, HasExactlyOneRowPerCombination) {
  const std::vector<Row>& rows = AllRows();
  ASSERT_EQ(rows.size(), kCombinations);
  std::map<Key, int> seen;
  for (const Row& row : rows) ++seen[KeyOf(row.when)];
  const std::vector<Case> cases = AllCases();
  ASSERT_EQ(cases.size(), kCombinations);
  for (const Case& c : cases) {
    EXPECT_EQ(seen[KeyOf(c)], 1) << Describe(c);
  }
  // Nothing outside the enumerated combinations (a row with a stray enum value).
  EXPECT_EQ(seen.size(), kCombinations);
}

TEST(RecoveryDecisionTable, RowsAreInTheDocumentedOrder) {
  // AllRows() is ordered (decision, log, store, reachability), reachability fastest; the
  // document numbers rows by this order.
  const std::vector<Row>& rows = AllRows();
  const std::vector<Case> cases = AllCases();
  ASSERT_EQ(rows.size(), cases.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_TRUE(SameCase(rows[i].when, cases[i])) << "row " << i;
  }
}

TEST(RecoveryDecisionTable, LookupAndDecideAgreeWithAllRows) {
  for (const Case& c : AllCases()) {
    const Row& row = Lookup(c);
    EXPECT_TRUE(SameCase(row.when, c)) << Describe(c);
    EXPECT_EQ(Decide(c), row.action) << Describe(c);
  }
}

TEST(RecoveryDecisionTable, EveryReasonIsOneRenderableSentence) {
  for (const Row& row : AllRows()) {
    SCOPED_TRACE(Describe(row.when));
    ASSERT_FALSE(row.why.empty());
    EXPECT_TRUE(row.why.front() >= 'A' && row.why.front() <= 'Z') << row.why;
    EXPECT_EQ(row.why.back(), '.') << row.why;
    // A '|' or a newline would break the Markdown table in docs/recovery.md.
    EXPECT_EQ(row.why.find('|'), std::string_view::npos) << row.why;
    EXPECT_EQ(row.why.find('\n'), std::string_view::npos) << row.why;
    // One sentence: no full stop followed by a space, except in "e.g.".
    std::string why(row.why);
    for (std::size_t at = why.find("e.g. "); at != std::string::npos; at = why.find("e.g. ")) {
      why.replace(at, 5, "eg ");
    }
    EXPECT_EQ(why.find(". "), std::string::npos) << row.why;
  }
}

TEST(RecoveryDecisionTableDeathTest, OutOfRangeCaseIsABrokenInvariant) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const Case bad{static_cast<D>(7), L::kNone, S::kNothing, kUp};
  EXPECT_DEATH(Decide(bad), "out of range");
  const Case bad_log{D::kNotKnown, static_cast<L>(6), S::kNothing, kUp};
  EXPECT_DEATH(Lookup(bad_log), "out of range");
}

// ---- (b) Safety and liveness over every row. ----

TEST(RecoveryDecisionTable, NeverCommitsWithoutACommitDecision) {
  for (const Case& c : AllCases()) {
    const A a = Decide(c);
    if (!IsCommit(a)) continue;
    SCOPED_TRACE(Describe(c));
    EXPECT_TRUE(CommitEvidence(c));
    EXPECT_FALSE(AbortEvidence(c));
    // The missing record can only be named by the decision itself.
    if (a == A::kLogCommitted) {
      EXPECT_EQ(c.decision, D::kCommitted);
    }
    // Without a decision in hand only our own COMMITTED record may justify a store commit.
    if (a == A::kCommitInStore && c.decision != D::kCommitted) {
      EXPECT_EQ(c.log, L::kCommitted);
    }
  }
}

TEST(RecoveryDecisionTable, NeverAbortsAYesVoteWithoutAnAbortDecision) {
  for (const Case& c : AllCases()) {
    const A a = Decide(c);
    if (!IsAbort(a)) continue;
    SCOPED_TRACE(Describe(c));
    EXPECT_FALSE(CommitEvidence(c));
    EXPECT_TRUE(AbortEvidence(c) || NeverVotedYes(c.log));
    // DESIGN §2: after a YES vote only an abort decision may end the branch as aborted.
    if (c.log == L::kPrepared) {
      EXPECT_EQ(c.decision, D::kAborted);
    }
  }
}

TEST(RecoveryDecisionTable, InDoubtBranchAsksOrWaitsAndNeverDecidesAlone) {
  for (const Case& c : AllCases()) {
    const A a = Decide(c);
    SCOPED_TRACE(Describe(c));
    if (InDoubt(c)) {
      EXPECT_EQ(a, c.reachability == kUp ? A::kAskCoordinator : A::kWaitForCoordinator);
    }
    // Asking and waiting are for in-doubt branches only, and match reachability.
    if (a == A::kAskCoordinator) {
      EXPECT_TRUE(InDoubt(c) && c.reachability == kUp);
    }
    if (a == A::kWaitForCoordinator) {
      EXPECT_TRUE(InDoubt(c) && c.reachability == kDown);
    }
  }
}

TEST(RecoveryDecisionTable, ReachabilityMattersOnlyWhenInDoubt) {
  for (const Case& c : AllCases()) {
    if (InDoubt(c) || c.reachability != kUp) continue;
    const Case down{c.decision, c.log, c.store, kDown};
    EXPECT_EQ(Decide(c), Decide(down)) << Describe(c) << " vs " << Describe(down);
  }
}

TEST(RecoveryDecisionTable, StoreActionsMatchWhatTheStoreHolds) {
  for (const Case& c : AllCases()) {
    const A a = Decide(c);
    SCOPED_TRACE(Describe(c));
    // COMMIT PREPARED / ROLLBACK PREPARED need a prepared transaction to act on.
    if (TouchesStore(a)) {
      EXPECT_EQ(c.store, S::kPrepared);
    }
    // Writing only the log record is right only when the store has nothing left to do.
    if (LogOnly(a)) {
      EXPECT_EQ(c.store, S::kNothing);
    }
  }
}

TEST(RecoveryDecisionTable, KnownDecisionNeverLeavesABranchPrepared) {
  for (const Case& c : AllCases()) {
    if (Contradictory(c)) continue;  // an operator decides those
    const A a = Decide(c);
    SCOPED_TRACE(Describe(c));
    // Our own final record is as good as a known decision.
    const bool known = c.decision != D::kNotKnown || c.log == L::kCommitted ||
                       c.log == L::kAborted || c.log == L::kAbortTombstone;
    if (known && c.store == S::kPrepared) {
      EXPECT_TRUE(TouchesStore(a));
    }
    // A prepared branch with a known decision writes its final record.
    if (known && c.log == L::kPrepared) {
      EXPECT_TRUE(IsCommit(a) || IsAbort(a));
    }
  }
}

TEST(RecoveryDecisionTable, NothingToDoOnlyWhenTheBranchIsFinished) {
  for (const Case& c : AllCases()) {
    if (Decide(c) != A::kNothing) continue;
    SCOPED_TRACE(Describe(c));
    EXPECT_EQ(c.store, S::kNothing);
    EXPECT_NE(c.log, L::kActive);
    EXPECT_NE(c.log, L::kPrepared);
    EXPECT_FALSE(Contradictory(c));
  }
}

TEST(RecoveryDecisionTable, ReportsInconsistentExactlyForContradictions) {
  for (const Case& c : AllCases()) {
    EXPECT_EQ(Decide(c) == A::kReportInconsistent, Contradictory(c)) << Describe(c);
  }
}

TEST(RecoveryDecisionTable, UnpreparedBranchIsRolledBackWhateverTheReachability) {
  // Crash between the store prepare and the PREPARED record: no YES vote was sent.
  for (const Case& c : AllCases()) {
    if (c.store != S::kPrepared || c.decision == D::kCommitted || !NeverVotedYes(c.log)) continue;
    EXPECT_EQ(Decide(c), A::kRollbackInStore) << Describe(c);
  }
}

TEST(RecoveryDecisionTable, AbortOfAnUnpreparedBranchIsRecordedDurably) {
  // DESIGN §2: an ABORT for a branch not yet prepared is made durable first, so that a late
  // PREPARE is refused; a tombstone already is that record.
  for (Reachability r : kReachabilities) {
    EXPECT_EQ(Decide({D::kAborted, L::kNone, S::kNothing, r}), A::kLogAborted);
    EXPECT_EQ(Decide({D::kAborted, L::kActive, S::kNothing, r}), A::kLogAborted);
    EXPECT_EQ(Decide({D::kAborted, L::kAbortTombstone, S::kNothing, r}), A::kNothing);
  }
}

// ---- (c) The classic cases, by name. ----

struct NamedRow {
  const char* name;
  Case when;
  A action;
};

TEST(RecoveryDecisionTable, ClassicCases) {
  const NamedRow rows[] = {
      {"in doubt, coordinator up",
       {D::kNotKnown, L::kPrepared, S::kPrepared, kUp},
       A::kAskCoordinator},
      {"in doubt, coordinator down",
       {D::kNotKnown, L::kPrepared, S::kPrepared, kDown},
       A::kWaitForCoordinator},
      {"COMMIT arrives for a prepared branch",
       {D::kCommitted, L::kPrepared, S::kPrepared, kUp},
       A::kCommitInStore},
      {"ABORT arrives for a prepared branch",
       {D::kAborted, L::kPrepared, S::kPrepared, kDown},
       A::kRollbackInStore},
      {"crash after COMMIT PREPARED, before the record",
       {D::kCommitted, L::kPrepared, S::kNothing, kDown},
       A::kLogCommitted},
      {"crash after ROLLBACK PREPARED, before the record",
       {D::kAborted, L::kPrepared, S::kNothing, kUp},
       A::kLogAborted},
      {"crash after the store committed, decision not yet relearned",
       {D::kNotKnown, L::kPrepared, S::kNothing, kUp},
       A::kAskCoordinator},
      {"crash between store prepare and PREPARED record",
       {D::kNotKnown, L::kActive, S::kPrepared, kDown},
       A::kRollbackInStore},
      {"store prepare before the enlistment was durable",
       {D::kNotKnown, L::kNone, S::kPrepared, kUp},
       A::kRollbackInStore},
      {"commit of a branch that never voted YES",
       {D::kCommitted, L::kActive, S::kPrepared, kUp},
       A::kReportInconsistent},
      {"commit of a branch the participant has no trace of (lost disk)",
       {D::kCommitted, L::kNone, S::kNothing, kUp},
       A::kReportInconsistent},
      {"ABORT for an unknown branch writes the tombstone",
       {D::kAborted, L::kNone, S::kNothing, kUp},
       A::kLogAborted},
      {"restart finds an active branch: its work is lost",
       {D::kNotKnown, L::kActive, S::kNothing, kDown},
       A::kLogAborted},
      {"tombstoned branch", {D::kNotKnown, L::kAbortTombstone, S::kNothing, kUp}, A::kNothing},
      {"commit after a tombstone",
       {D::kCommitted, L::kAbortTombstone, S::kNothing, kUp},
       A::kReportInconsistent},
      {"repeated COMMIT for a committed branch",
       {D::kCommitted, L::kCommitted, S::kNothing, kUp},
       A::kNothing},
      {"restart finds a committed branch",
       {D::kNotKnown, L::kCommitted, S::kNothing, kDown},
       A::kNothing},
      {"abort decision after our commit (a decision changed)",
       {D::kAborted, L::kCommitted, S::kNothing, kUp},
       A::kReportInconsistent},
      {"commit decision after our abort (a decision changed)",
       {D::kCommitted, L::kAborted, S::kNothing, kDown},
       A::kReportInconsistent},
      {"store lost its commit (restored backup)",
       {D::kNotKnown, L::kCommitted, S::kPrepared, kUp},
       A::kCommitInStore},
      {"store lost its rollback",
       {D::kNotKnown, L::kAborted, S::kPrepared, kDown},
       A::kRollbackInStore},
  };
  for (const NamedRow& row : rows) {
    EXPECT_EQ(Decide(row.when), row.action)
        << row.name << ": " << Describe(row.when) << ", expected " << Name(row.action);
  }
}

// ---- Names. ----

template <typename Enum, std::size_t N>
void ExpectDistinctNames(const Enum (&values)[N]) {
  std::set<std::string_view> names;
  for (Enum value : values) {
    const std::string_view name = Name(value);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name.front(), 'k') << name;  // the enumerator's own spelling, so it can be grepped
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
}

TEST(RecoveryDecisionTable, EveryEnumValueHasADistinctName) {
  ExpectDistinctNames(kDecisions);
  ExpectDistinctNames(kLogStates);
  ExpectDistinctNames(kStoreStates);
  ExpectDistinctNames(kReachabilities);
  ExpectDistinctNames(kActions);
  EXPECT_EQ(Name(D::kNotKnown), "kNotKnown");
  EXPECT_EQ(Name(L::kAbortTombstone), "kAbortTombstone");
  EXPECT_EQ(Name(kDown), "kCoordinatorUnreachable");
  EXPECT_EQ(Name(A::kReportInconsistent), "kReportInconsistent");
}

TEST(RecoveryDecisionTable, EveryActionIsUsed) {
  // An action no row uses is dead weight in the contract (or a row that was lost).
  std::set<A> used;
  for (const Row& row : AllRows()) used.insert(row.action);
  for (A a : kActions) EXPECT_TRUE(used.count(a)) << Name(a);
}

}  // namespace
}  // namespace pact::recovery
