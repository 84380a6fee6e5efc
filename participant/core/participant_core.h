// ParticipantCore: a participant's branch state machine, with no IO (DESIGN.md §2, §3).
//
// One branch per global transaction at this participant:
//
//   (StartWork) ENLISTING --EnlistReply--> ACTIVE --PREPARE--> PREPARING --store ok--> PREPARED
//        PREPARED --COMMIT--> COMMITTING --store ok--> COMMITTED
//        PREPARED --ABORT---> ABORTING ---store ok--> ABORTED
//   plus READ_ONLY (prepared with nothing written: finished) and the tombstone: an ABORT that
//   arrives before the branch is prepared writes ABORTED first, so a late PREPARE is refused
//   (answered NO) and never leaves a prepared branch behind.
//
// Durable state is the participant's WAL (participant_record.h): PREPARED (after the store's
// Prepare succeeded, before voting YES), COMMITTED (after the store committed), ABORTED
// (tombstone, NO vote, or after the store rolled back). ACTIVE work is not durable: a branch
// whose work was lost in a crash answers PREPARE with NO. Once it voted YES the participant
// never decides alone: the decision comes in a COMMIT or ABORT, or from asking the coordinator
// (after inquiry_ticks_min, with backoff, and after every restart) until it gets one. Every
// decision on a branch goes through the recovery decision table (recovery/decision_table.h).
//
// An ended branch (COMMITTED, ABORTED, READ_ONLY) is kept whole for finished_retention_ticks
// after it ended, then filed compactly in FinishedBranches (finished_branches.h); a message
// that names it again brings it back whole, so every answer stays the same however late.
//
// Messages from a coordinator epoch older than the highest one seen (the fence) are dropped.
// When the fence moves up, ACTIVE branches of older epochs are aborted: they never voted, and
// their leader's epoch is closed, so they can never commit.
// PREPARE, COMMIT and ABORT are idempotent: a duplicate answers the same and changes nothing.
//
// Inputs: Recover() once (the WAL's records and the store's prepared branches), then
// StartWork() (the local application's first work for a txid), Step() (protocol messages),
// OnStoreResult() (the result of every store operation requested) and Tick(). Each returns
// ParticipantEffects, which the driver carries out in this order:
//   1. persist: append every record and force them (WaitDurable);
//   2. send: every message (a message with `requires_durable` depends on that record);
//   3. apply: run each store operation and feed its result back through OnStoreResult;
//   4. events: tell the local application (branch enlisted, work refused) and the operator
//      (inconsistent combinations, which the protocol rules out).
//
// Not thread-safe; deterministic (ordered containers only).
#ifndef PACT_PARTICIPANT_CORE_PARTICIPANT_CORE_H_
#define PACT_PARTICIPANT_CORE_PARTICIPANT_CORE_H_

#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/branch_id.h"
#include "common/protocol.h"
#include "common/status.h"
#include "pact/resource.h"
#include "participant/core/finished_branches.h"
#include "participant/core/participant_record.h"
#include "recovery/decision_table.h"

namespace pact::participant {

struct ParticipantOptions {
  std::string name;                   // this participant's stable name (sent in EnlistRequest)
  std::string coordinator;            // where EnlistRequest and OutcomeRequest go
  uint64_t enlist_resend_ticks = 10;  // EnlistRequest resent after this long
  uint32_t enlist_attempts_max = 6;   // then the work is refused
  uint64_t inquiry_ticks_min = 16;    // first outcome inquiry after voting YES
  uint64_t inquiry_ticks_max = 128;   // inquiry backoff limit
  uint64_t active_idle_ticks = 600;   // an ACTIVE branch without news asks, too
  uint64_t coordinator_silence_ticks = 200;  // unreachable after this long without a message
  uint64_t finished_retention_ticks = 100;   // an ended branch is kept whole this long

  Status Validate() const;
};

enum class BranchState : uint8_t {
  kEnlisting,
  kActive,
  kPreparing,   // store Prepare requested
  kPrepared,    // voted YES (or one-phase, decision COMMIT); in doubt until a decision
  kCommitting,  // store CommitPrepared requested
  kAborting,    // store Rollback requested
  kCommitted,
  kAborted,
  kReadOnly,
};
std::string_view Name(BranchState state);

enum class StoreOp : uint8_t { kPrepare, kCommitPrepared, kRollback };
std::string_view Name(StoreOp op);

struct StoreRequest {
  StoreOp op;
  BranchId branch;
};

struct StoreResult {
  StoreOp op;
  BranchId branch;
  Status status{};
  PrepareResult prepared = PrepareResult::kPrepared;  // kPrepare with an OK status only
};

// Names a record, so that a message can say which record must be durable before it leaves.
struct RecordKey {
  ParticipantRecord::Kind kind = ParticipantRecord::Kind::kIncarnation;
  BranchId branch{};         // branch kinds
  uint64_t incarnation = 0;  // kIncarnation

  static RecordKey Of(const ParticipantRecord& record);
  friend auto operator<=>(const RecordKey&, const RecordKey&) = default;
};

struct ParticipantOutbound {
  std::string to;
  protocol::Message message;
  std::optional<RecordKey> requires_durable;
};

struct ParticipantEvent {
  enum class Kind : uint8_t {
    kEnlisted,      // `branch` is enlisted: the application may work in it and report done
    kWorkRefused,   // no branch for `txn`: enlistment refused, or the branch already ended
    kInconsistent,  // the decision table says the combination cannot arise (`detail`)
  };
  Kind kind;
  TxnId txn;
  BranchId branch;  // kEnlisted, kInconsistent
  std::string detail;
};

struct ParticipantEffects {
  std::vector<ParticipantRecord> persist;
  std::vector<ParticipantOutbound> send;
  std::vector<StoreRequest> apply;
  std::vector<ParticipantEvent> events;

  bool empty() const { return persist.empty() && send.empty() && apply.empty() && events.empty(); }
};

struct ParticipantStats {
  uint64_t enlisted = 0;
  uint64_t votes_yes = 0;
  uint64_t votes_no = 0;
  uint64_t votes_read_only = 0;
  uint64_t committed = 0;
  uint64_t aborted = 0;
  uint64_t tombstones = 0;
  uint64_t inquiries = 0;
  uint64_t stale_epoch_dropped = 0;
  uint64_t ignored_messages = 0;
  uint64_t inconsistencies = 0;
};

struct BranchView {
  TxnId txn;
  uint32_t number = 0;
  BranchState state;
  bool prepared_record = false;  // a PREPARED record is durable
  bool one_phase = false;
};

class ParticipantCore {
 public:
  explicit ParticipantCore(const ParticipantOptions& options);

  // Call once, first. `records`: the WAL's records in order; `store_prepared`: what the store
  // holds prepared (Resource::ListPrepared). Corruption if the records contradict each other.
  // The effects start with the new INCARNATION record, then resolve every branch the log or
  // the store knows (the decision table decides each; in-doubt branches ask the coordinator).
  Result<ParticipantEffects> Recover(const std::vector<ParticipantRecord>& records,
                                     const std::vector<BranchId>& store_prepared);

  ParticipantEffects StartWork(const TxnId& txn);
  ParticipantEffects Step(std::string_view from, const protocol::Message& message);
  ParticipantEffects OnStoreResult(const StoreResult& result);
  ParticipantEffects Tick();

  // Crashes (PACT_CHECK) if the whole state breaks an invariant.
  void CheckInvariants() const;

  const ParticipantOptions& options() const { return options_; }
  uint64_t incarnation() const { return incarnation_; }
  uint64_t epoch_fence() const { return fence_; }
  uint64_t now_ticks() const { return now_ticks_; }
  const ParticipantStats& stats() const { return stats_; }
  std::optional<BranchView> View(const TxnId& txn) const;  // filed ended branches too
  std::vector<BranchView> Branches() const;                // ascending txid; kept whole only
  size_t branches_kept_whole() const { return branches_.size(); }
  size_t branches_filed() const { return finished_.size(); }
  // True when no branch is in a state that still needs something to happen.
  bool Quiescent() const;

 private:
  struct Branch {
    TxnId txn;
    uint32_t number = 0;  // 0 while enlisting
    BranchState state = BranchState::kEnlisting;
    bool prepared_record = false;   // PREPARED is durable
    bool aborted_record = false;    // ABORTED is durable (a tombstone unless prepared_record)
    bool committed_record = false;  // COMMITTED is durable
    bool one_phase = false;         // the decision is COMMIT, given with the one-phase request
    bool vote_pending = false;      // reply_to waits for a vote
    // Who hears the vote or ack when the store op completes: every caller that asked while it
    // ran (a coordinator resends before the first answer arrives), at most kWaitersMax.
    std::vector<std::string> reply_to{};
    uint64_t next_tick = 0;  // next enlist resend, inquiry or store retry
    uint64_t interval = 0;   // current inquiry backoff
    uint32_t enlist_attempts = 0;
    bool store_retry = false;  // the store op failed; re-request at next_tick
  };

  ParticipantEffects Dispatch(std::string_view from, const protocol::Message& message);
  // Aborts the ACTIVE branches of epochs older than the fence (after it moved up).
  void AbortActiveOfClosedEpochs(ParticipantEffects& fx);
  ParticipantEffects OnEnlistReply(const protocol::EnlistReply& m);
  ParticipantEffects OnPrepare(std::string_view from, const protocol::PrepareRequest& m);
  ParticipantEffects OnCommit(std::string_view from, const protocol::BranchCommitRequest& m);
  ParticipantEffects OnOnePhaseCommit(std::string_view from, Branch& b);
  ParticipantEffects OnAbort(std::string_view from, const protocol::BranchAbortRequest& m);
  ParticipantEffects OnOutcome(const protocol::OutcomeReply& m);
  void OnPrepareResult(Branch& b, const StoreResult& r, ParticipantEffects& fx);
  void OnCommitResult(Branch& b, const StoreResult& r, ParticipantEffects& fx);
  void OnRollbackResult(Branch& b, const StoreResult& r, ParticipantEffects& fx);
  void TickBranch(Branch& b, ParticipantEffects& fx);
  // Sets b.next_tick (not 0) and files b under it in due_.
  void ScheduleTick(Branch& b, uint64_t at);

  // Looks up the decision table for `decision` and carries out its action on `b`. `reply_to`,
  // if not empty, hears the branch's final state (an AckReply) once it is reached.
  void ApplyDecision(Branch& b, recovery::Decision decision, recovery::StoreState store,
                     const std::string& reply_to, ParticipantEffects& fx);
  void Inquire(Branch& b, bool reachable, ParticipantEffects& fx);
  // Durable ABORTED for a branch this participant never prepared, and NO or an ack to `to`.
  Branch& Tombstone(const BranchId& id, ParticipantEffects& fx);

  void Persist(Branch& b, const ParticipantRecord& record, ParticipantEffects& fx);
  void SendVote(const Branch& b, const std::string& to, protocol::Vote vote,
                ParticipantEffects& fx);
  void SendAck(const Branch& b, const std::string& to, ParticipantEffects& fx);
  // `from` hears the branch's answer when its store operation completes.
  static void Await(Branch& b, std::string_view from);
  // The vote, or the ack, to every caller waiting on `b`, who then waits no more.
  void AnswerVote(Branch& b, protocol::Vote vote, ParticipantEffects& fx);
  void AnswerAck(Branch& b, ParticipantEffects& fx);
  void RequestStore(Branch& b, BranchState state, StoreOp op, ParticipantEffects& fx);
  // Rolls back whatever the store may still hold of an ABORTED branch (its active work, or work
  // a failed Prepare could not roll back because a statement of the application was running in
  // the branch). Rollback is idempotent; OnRollbackResult retries it until the store confirms.
  void CleanUpStore(Branch& b, ParticipantEffects& fx);
  void Report(const Branch& b, const recovery::Case& when, std::string_view what,
              ParticipantEffects& fx);

  // False (and counted) if `epoch` is older than the fence; otherwise raises the fence.
  bool Admit(uint64_t epoch);
  bool Reachable() const;
  // The branch of `txn`, brought back whole if it was filed: every message and store result
  // finds a branch through these.
  Branch* Find(const TxnId& txn);
  Branch* FindBranch(const BranchId& id);  // nullptr also when the number differs
  // Only a branch kept whole; for the timers, which must not bring filed branches back.
  Branch* FindWhole(const TxnId& txn);
  static bool Ended(const Branch& b);
  static BranchState StateOf(FinishedBranch::End end);  // the state a filed branch ended in
  // `b` may have ended, or end soon: look again once the retention has passed.
  void WatchForEnd(const Branch& b);
  // Files the watched branches that ended at least finished_retention_ticks ago.
  void FileEndedBranches();
  static recovery::LogState LogStateOf(const Branch& b);
  static recovery::StoreState StoreStateOf(const Branch& b);
  BranchId IdOf(const Branch& b) const { return BranchId{b.txn, b.number}; }

  const ParticipantOptions options_;
  bool recovered_ = false;
  uint64_t incarnation_ = 0;
  uint64_t fence_ = 0;
  uint64_t now_ticks_ = 0;
  uint64_t last_heard_tick_ = 0;  // last message from a coordinator
  std::map<TxnId, Branch> branches_;
  // (tick, txn) for every branch's next_tick, so that Tick() visits only due branches: walking
  // every remembered branch, finished ones included, took a fifth of pact-agent's CPU after a
  // minute of pact-bench. Entries go stale when a branch is rescheduled or forgotten; Tick()
  // drops those as it meets them.
  std::multimap<uint64_t, TxnId> due_;
  // (tick, txn) of branches that ended or may end soon, oldest first; FileEndedBranches looks
  // at each once the retention has passed since its tick.
  std::deque<std::pair<uint64_t, TxnId>> watched_for_end_;
  FinishedBranches finished_;  // ended branches, filed
  ParticipantStats stats_;
};

}  // namespace pact::participant

#endif  // PACT_PARTICIPANT_CORE_PARTICIPANT_CORE_H_
