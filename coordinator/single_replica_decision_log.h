// SingleReplicaDecisionLog: the DecisionLog of a coordinator without replicas, on the WAL
// (wal/log.h). A proposal is appended at once and chosen when it is durable: a flush ticket is
// the LSN of the last proposal appended, WaitFlush is the WAL's WaitDurable (leader/follower
// group commit: concurrent waiters share one fsync, and one fsync covers every proposal
// appended before it), and FinishFlush marks the proposals up to that LSN chosen, in LSN order,
// for TakeChosen. END entries are appended without forcing.
//
// Open() replays the log, then appends EPOCH(previous + 1) durably before returning, so every
// start of a coordinator is a new epoch and no txid of it existed before. Replay refuses a log
// that breaks the entry grammar (a COMMIT of an epoch newer than the last EPOCH, an END without
// its COMMIT, a second COMMIT for one txid) with Corruption.
//
// Thread-safety as DecisionLog: calls are serialized by the caller, except WaitFlush (it only
// touches the thread-safe WAL). The FileSystem is borrowed and must outlive the log.
#ifndef PACT_COORDINATOR_SINGLE_REPLICA_DECISION_LOG_H_
#define PACT_COORDINATOR_SINGLE_REPLICA_DECISION_LOG_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/file_system.h"
#include "coordinator/core/decision_log.h"
#include "wal/log.h"

namespace pact::coordinator {

class SingleReplicaDecisionLog final : public DecisionLog {
 public:
  static Result<std::unique_ptr<SingleReplicaDecisionLog>> Open(FileSystem* fs,
                                                                const wal::LogOptions& options);

  uint64_t epoch() const override { return epoch_; }
  const std::vector<CommitDecision>& unended() const override { return unended_; }
  CommittedTxns TakeCommitted() override { return std::exchange(committed_, {}); }
  Status Propose(const CommitDecision& decision) override;
  FlushTicket StartFlush() override;
  Status WaitFlush(FlushTicket ticket) override;
  void FinishFlush(FlushTicket ticket) override;
  std::vector<TxnId> TakeChosen() override;
  bool IsChosen(const TxnId& txn) const override;
  Status RecordEnd(const TxnId& txn) override;

  // The WAL underneath (for tests and the simulator's durability checks).
  wal::Log& log() { return *log_; }
  // Proposals appended but not yet durable.
  size_t pending() const { return pending_.size(); }

 private:
  explicit SingleReplicaDecisionLog(std::unique_ptr<wal::Log> log) : log_(std::move(log)) {}

  std::unique_ptr<wal::Log> log_;
  uint64_t epoch_ = 0;
  std::vector<CommitDecision> unended_;
  CommittedTxns committed_;            // COMMITs replayed at open
  std::map<wal::Lsn, TxnId> pending_;  // proposed and appended, not yet chosen; by LSN
  std::set<TxnId> pending_txns_;       // the same transactions, to find repeated proposals
  std::set<TxnId> chosen_;             // durable COMMIT, END not recorded
  std::vector<TxnId> newly_chosen_;    // for TakeChosen, in LSN order
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SINGLE_REPLICA_DECISION_LOG_H_
