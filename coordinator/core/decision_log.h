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
// Not thread-safe: one driver thread calls it (it may use threads of its own inside).
#ifndef PACT_COORDINATOR_CORE_DECISION_LOG_H_
#define PACT_COORDINATOR_CORE_DECISION_LOG_H_

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"
#include "coordinator/core/decision.h"

namespace pact::coordinator {

class DecisionLog {
 public:
  virtual ~DecisionLog() = default;

  // The epoch granted to this leader when the log was opened.
  virtual uint64_t epoch() const = 0;

  // COMMIT decisions chosen before this log was opened whose END was not recorded, in the
  // order they were chosen. The new leader must drive them to every branch.
  virtual const std::vector<CommitDecision>& unended() const = 0;

  // Proposes COMMIT. The decision is chosen later (TakeChosen reports it). Proposing a txn that
  // is already proposed or chosen is a no-op. Errors are fatal for the leader (it stops).
  virtual Status Propose(const CommitDecision& decision) = 0;

  // Makes progress on outstanding proposals (single replica: forces them to disk, one group
  // commit). Errors are fatal for the leader.
  virtual Status Flush() = 0;

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
