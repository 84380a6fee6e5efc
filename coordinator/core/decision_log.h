// DecisionLog: where the coordinator's commit decisions become durable and final. The core
// never calls it: the core emits "propose COMMIT(txn, branches)" effects, the driver hands them
// to a DecisionLog, and when the log reports a decision chosen the driver feeds
// CoordinatorCore::OnChosen. A single-replica log (coordinator/single_replica_decision_log.h,
// on the WAL) chooses a proposal once it is on disk; the Paxos log chooses it once a majority
// accepted it. Either way a chosen decision is never lost and never changes, and nothing but
// COMMIT is ever recorded (presumed abort).
//
// A log also grants the local leader its epoch: it is durable in the log before any txid of
// that epoch is issued, and larger than every epoch granted before.
//
// Thread-safety: the caller serializes every call (the driver holds its lock), except
// WaitFlush, which is thread-safe and is meant to run without that lock, concurrently with any
// other call, so that the driver's lock is never held while the log waits for a disk or for
// replicas, and several threads' proposals share one wait (group commit).
#ifndef PACT_COORDINATOR_CORE_DECISION_LOG_H_
#define PACT_COORDINATOR_CORE_DECISION_LOG_H_

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"
#include "coordinator/core/committed_txns.h"
#include "coordinator/core/decision.h"

namespace pact::coordinator {

// How far a flush must get: every proposal made before StartFlush returned it. An opaque
// position in the log (single replica: an LSN; the Paxos log: a slot).
struct FlushTicket {
  uint64_t position = 0;  // 0: nothing to flush

  bool empty() const { return position == 0; }
};

class DecisionLog {
 public:
  virtual ~DecisionLog() = default;

  // The epoch granted to this leader when the log was opened.
  virtual uint64_t epoch() const = 0;

  // COMMIT decisions chosen before this log was opened whose END was not recorded, in the
  // order they were chosen. The new leader must drive them to every branch.
  virtual const std::vector<CommitDecision>& unended() const = 0;

  // Every transaction whose COMMIT was chosen before this log was opened, ended or not, for the
  // leader to answer clients that ask again. Moves the set out: a second call returns it empty.
  virtual CommittedTxns TakeCommitted() = 0;

  // Proposes COMMIT. The decision is chosen later (TakeChosen reports it). Proposing a txn that
  // is already proposed or chosen is a no-op. Errors are fatal for the leader (it stops).
  virtual Status Propose(const CommitDecision& decision) = 0;

  // A flush in three steps, so that only the first and the last need the caller's lock:
  //   FlushTicket ticket = log.StartFlush();        // locked: what must become chosen
  //   Status s = log.WaitFlush(ticket);              // unlocked, thread-safe; may block
  //   if (s.ok()) log.FinishFlush(ticket);           // locked: those proposals are chosen
  // StartFlush covers every proposal so far (an empty ticket if none is outstanding).
  // WaitFlush blocks until everything the ticket covers is chosen in the log's terms (single
  // replica: durable on disk, one group commit shared with concurrent waiters; Paxos: accepted
  // by a majority); OK at once for an empty ticket or one that a concurrent wait covered.
  // Its errors are fatal for the leader. FinishFlush, only after WaitFlush(ticket) returned OK,
  // marks chosen exactly the proposals the ticket covers that are not chosen yet (TakeChosen
  // reports them); a later proposal waits for its own ticket.
  virtual FlushTicket StartFlush() = 0;
  virtual Status WaitFlush(FlushTicket ticket) = 0;
  virtual void FinishFlush(FlushTicket ticket) = 0;

  // The three steps at once, for a single-threaded caller (the simulator, tests).
  Status Flush() {
    const FlushTicket ticket = StartFlush();
    if (ticket.empty()) return Status::Ok();
    PACT_RETURN_IF_ERROR(WaitFlush(ticket));
    FinishFlush(ticket);
    return Status::Ok();
  }

  // Transactions whose COMMIT was chosen since the last call, in the order chosen.
  virtual std::vector<TxnId> TakeChosen() = 0;

  // True once COMMIT for `txn` is chosen (durable), until its END is recorded.
  virtual bool IsChosen(const TxnId& txn) const = 0;

  // Records that every branch of `txn` acknowledged COMMIT. Lazy: not forced; losing it only
  // means the next leader drives COMMIT to the branches once more.
  virtual Status RecordEnd(const TxnId& txn) = 0;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_CORE_DECISION_LOG_H_
