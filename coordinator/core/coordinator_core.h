// CoordinatorCore: the coordinator's two-phase commit state machine for one leader epoch, with
// no IO (DESIGN.md §2, §3). Presumed abort; parallel prepare; READ_ONLY votes skip phase 2;
// one-phase commit when the transaction has a single branch; transaction and prepare timeouts
// in ticks; phase 2 retried with bounded backoff until every branch acknowledges; END recorded
// lazily; at most inflight_txns_max open transactions.
//
// Inputs: Step(from, message) for every protocol message (client requests, enlistments, votes,
// acknowledgements, outcome inquiries), OnChosen(txn) when the decision log chose a COMMIT,
// and Tick(). Each returns CoordinatorEffects, which the driver carries out in this order:
//   1. propose: hand every decision to the DecisionLog (it becomes chosen later);
//   2. record_end: append END entries to the decision log (lazy, not forced);
//   3. send: every message, but a message with `requires_chosen` set only once the decision
//      log has chosen (made durable) COMMIT for that transaction - persist, then send.
// A leader only decides transactions of its own epoch. Transactions of older epochs that were
// not chosen to commit are aborted: outcome inquiries about them answer ABORTED, because their
// epoch is closed.
//
// What it answers about a transaction that is not open: COMMITTED if it is among the committed
// transactions (every COMMIT the decision log holds, and every commit of this epoch);
// otherwise, for a transaction of this epoch that was issued, ABORTED (this leader saw it end).
// For an older epoch without a COMMIT in the log, a client's commit or abort hears UNKNOWN:
// one-phase and read-only commits leave no COMMIT in the log.
//
// Not thread-safe; deterministic: the same inputs give the same effects (ordered containers
// only).
#ifndef PACT_COORDINATOR_CORE_COORDINATOR_CORE_H_
#define PACT_COORDINATOR_CORE_COORDINATOR_CORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol.h"
#include "common/status.h"
#include "common/txn_id.h"
#include "coordinator/core/committed_txns.h"
#include "coordinator/core/decision.h"

namespace pact::coordinator {

struct CoordinatorOptions {
  uint32_t inflight_txns_max = 1024;             // Begin past this answers OVERLOADED
  uint32_t branches_per_txn_max = 16;            // Enlist past this answers OVERLOADED
  uint64_t txn_timeout_ticks = 400;              // ACTIVE longer than this (from Begin) -> abort
  uint64_t txn_timeout_ticks_max = 360'000;      // ... as a client may ask for it (BeginRequest)
  uint64_t prepare_timeout_ticks = 60;           // PREPARING longer than this -> abort
  uint64_t prepare_resend_ticks = 12;            // PREPARE resent to branches that did not vote
  uint64_t commit_resend_ticks_min = 6;          // phase 2 (and one-phase) resend backoff, first
  uint64_t commit_resend_ticks_max = 96;         // ... and largest interval
  uint32_t lease_txids_max = 256;                // txids in one lease, at most
  uint32_t leased_unused_max = 65536;            // leased txids not used yet, over all leases
  uint64_t lease_ticks = 400;                    // a leased txid must be used within this long

  // InvalidArgument naming the first bad field.
  Status Validate() const;
};

enum class TxnState : uint8_t {
  kActive,      // begun; branches may enlist
  kPreparing,   // PREPARE sent to every branch; collecting votes
  kDeciding,    // every vote YES or READ_ONLY; COMMIT proposed, not yet chosen
  kCommitting,  // COMMIT chosen; driving it to every YES branch until each acknowledges
  kOnePhase,    // single branch: one-phase COMMIT sent; its acknowledgement is the outcome
};
std::string_view Name(TxnState state);

struct CoordinatorOutbound {
  std::string to;
  protocol::Message message;
  // When valid: the message reveals a commit decision and may leave only once the decision log
  // has chosen COMMIT for this transaction.
  TxnId requires_chosen;
};

struct CoordinatorEffects {
  std::vector<CommitDecision> propose;
  std::vector<TxnId> record_end;
  std::vector<CoordinatorOutbound> send;

  bool empty() const { return propose.empty() && record_end.empty() && send.empty(); }
};

struct CoordinatorStats {
  uint64_t begun = 0;
  uint64_t committed = 0;            // committed through the decision log
  uint64_t committed_one_phase = 0;  // committed by the single branch
  uint64_t committed_read_only = 0;  // no branch wrote: nothing to decide
  uint64_t aborted = 0;
  uint64_t overloaded = 0;
  uint64_t leased = 0;              // txids leased
  uint64_t lease_expired = 0;       // leased txids never used
  uint64_t ignored_messages = 0;    // late, duplicate, stale or unexpected; no effect
  uint64_t contradicting_acks = 0;  // a branch said ABORTED about a chosen COMMIT
};

// A read-only view of one open transaction, for tests, the simulator and pactctl.
struct TxnView {
  TxnId txn;
  TxnState state;
  uint32_t branches = 0;
  uint32_t acknowledged = 0;
};

class CoordinatorCore {
 public:
  // A leader of `epoch` (granted by the decision log, durable there) that resumes `unended`:
  // COMMIT decisions chosen earlier, of this or older epochs, whose END was not recorded.
  // The first Tick() sends their COMMITs.
  // `committed`: every transaction whose COMMIT the decision log held when it was opened.
  CoordinatorCore(const CoordinatorOptions& options, std::string name, uint64_t epoch,
                  const std::vector<CommitDecision>& unended, CommittedTxns committed = {});

  CoordinatorEffects Step(std::string_view from, const protocol::Message& message);
  // The decision log chose COMMIT for `txn`. Ignored unless the transaction is kDeciding here.
  CoordinatorEffects OnChosen(const TxnId& txn);
  CoordinatorEffects Tick();

  // Crashes (PACT_CHECK) if the whole state breaks an invariant. Cheap enough to run after every
  // step in tests and simulation.
  void CheckInvariants() const;

  const std::string& name() const { return name_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t now_ticks() const { return now_ticks_; }
  const CoordinatorStats& stats() const { return stats_; }
  size_t open_txns() const { return txns_.size(); }
  std::optional<TxnView> View(const TxnId& txn) const;
  std::vector<TxnView> OpenTxns() const;  // ascending txid

 private:
  struct Branch {
    uint32_t number = 0;
    std::string participant;
    uint64_t incarnation = 0;
    std::optional<protocol::Vote> vote{};
    bool acknowledged = false;
  };
  struct Txn {
    TxnId id;
    TxnState state = TxnState::kActive;
    uint64_t began_tick = 0;
    uint64_t timeout_ticks = 0;          // ACTIVE this long from began_tick -> abort
    uint64_t state_tick = 0;             // when the current state began
    uint64_t resend_tick = 0;            // next resend of PREPARE or COMMIT
    uint64_t resend_interval = 0;        // current backoff (phase 2)
    std::vector<Branch> branches{};      // ascending numbers
    std::vector<std::string> waiters{};  // clients waiting for the CommitReply
  };
  // A range of txids leased to a client: a txid begins when first used, until `expires_tick`.
  struct Lease {
    uint64_t end_sequence = 0;  // exclusive; the key is the first sequence
    uint64_t expires_tick = 0;
    uint64_t timeout_ticks = 0;  // each txid's, once begun
    uint32_t unused = 0;
    std::vector<bool> used{};  // by sequence - first
  };

  CoordinatorEffects OnBegin(std::string_view from, const protocol::BeginRequest& m);
  // True for a txid of a lease in force that was not used yet: it may still begin.
  bool Unbegun(const TxnId& id) const;
  // Begins the leased, unused `id` (Unbegun): the open transaction, or nullptr when
  // inflight_txns_max transactions are open (the txid stays unused).
  Txn* BeginLeased(const TxnId& id);
  void ExpireLeases();
  CoordinatorEffects OnEnlist(std::string_view from, const protocol::EnlistRequest& m);
  CoordinatorEffects OnCommit(std::string_view from, const protocol::CommitRequest& m);
  CoordinatorEffects OnAbort(std::string_view from, const protocol::AbortRequest& m);
  CoordinatorEffects OnOutcome(std::string_view from, const protocol::OutcomeRequest& m);
  CoordinatorEffects OnVote(std::string_view from, const protocol::VoteReply& m);
  CoordinatorEffects OnAck(const protocol::AckReply& m);
  CoordinatorEffects Ignore();

  void StartCommit(Txn& txn, CoordinatorEffects& fx);
  void StartPrepare(Txn& txn, CoordinatorEffects& fx);
  void StartOnePhase(Txn& txn, CoordinatorEffects& fx);
  void Decide(Txn& txn, CoordinatorEffects& fx);
  void AbortTxn(Txn& txn, CoordinatorEffects& fx);
  void TickTxn(Txn& txn, CoordinatorEffects& fx);
  void SendPrepares(const Txn& txn, CoordinatorEffects& fx) const;
  void SendCommits(const Txn& txn, CoordinatorEffects& fx) const;
  void ReplyToWaiters(const Txn& txn, protocol::Outcome outcome, CoordinatorEffects& fx) const;
  // Removes the transaction (which must be in txns_) and remembers a commit.
  void Finish(TxnId id, protocol::Outcome outcome);  // by value: txn.id dies
  void SetState(Txn& txn, TxnState state);
  // The outcome of a transaction that is not open, when it is certain (see the file comment).
  std::optional<protocol::Outcome> EndedOutcome(const TxnId& id) const;
  bool AllVoted(const Txn& txn) const;
  Branch* FindBranch(Txn& txn, uint32_t number);

  const CoordinatorOptions options_;
  const std::string name_;
  const uint64_t epoch_;
  uint64_t now_ticks_ = 0;
  uint64_t next_sequence_ = 1;
  std::map<TxnId, Txn> txns_;
  std::map<uint64_t, Lease> leases_;  // by first sequence; ranges disjoint, below next_sequence_
  uint64_t leased_unused_ = 0;
  CommittedTxns committed_;  // open transactions only once resumed from the log
  CoordinatorStats stats_;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_CORE_COORDINATOR_CORE_H_
