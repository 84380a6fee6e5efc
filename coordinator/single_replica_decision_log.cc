#include "coordinator/single_replica_decision_log.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "common/check.h"

namespace pact::coordinator {
namespace {

// What replay learns: the highest epoch, every committed transaction, and the chosen, not
// ended decisions in log order.
struct ReplayState {
  uint64_t epoch = 0;
  CommittedTxns committed;
  // Keyed by txid; the value's first is the decision's place in the log.
  std::map<TxnId, std::pair<uint64_t, CommitDecision>> unended;
  uint64_t commits = 0;

  Status Apply(wal::Lsn lsn, std::string_view bytes) {
    PACT_ASSIGN_OR_RETURN(DecisionLogEntry entry, DecodeEntry(bytes));
    auto corrupt = [&](std::string_view what) {
      return Status::Corruption(fmt::format("decision log record {}: {}", lsn, what));
    };
    switch (entry.kind) {
      case DecisionLogEntry::Kind::kEpoch:
        if (entry.epoch <= epoch) return corrupt("epoch does not increase");
        epoch = entry.epoch;
        return Status::Ok();
      case DecisionLogEntry::Kind::kCommit:
        if (entry.epoch != epoch) return corrupt("COMMIT outside its leader's epoch");
        if (committed.Contains(entry.decision.txn)) return corrupt("second COMMIT");
        committed.Add(entry.decision.txn);
        unended.emplace(entry.decision.txn, std::make_pair(commits++, std::move(entry.decision)));
        return Status::Ok();
      case DecisionLogEntry::Kind::kEnd:
        if (!committed.Contains(entry.decision.txn)) return corrupt("END without COMMIT");
        unended.erase(entry.decision.txn);
        return Status::Ok();
    }
    return corrupt("unknown entry");
  }
};

}  // namespace

Result<std::unique_ptr<SingleReplicaDecisionLog>> SingleReplicaDecisionLog::Open(
    FileSystem* fs, const wal::LogOptions& options) {
  ReplayState state;
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<wal::Log> log,
                        wal::Log::Open(fs, options, [&](wal::Lsn lsn, std::string_view bytes) {
                          return state.Apply(lsn, bytes);
                        }));
  std::unique_ptr<SingleReplicaDecisionLog> self(new SingleReplicaDecisionLog(std::move(log)));
  // The new epoch is durable before any txid of it can exist.
  self->epoch_ = state.epoch + 1;
  PACT_ASSIGN_OR_RETURN(
      wal::Lsn lsn, self->log_->AppendDurable(EncodeEntry(DecisionLogEntry::Epoch(self->epoch_))));
  (void)lsn;
  std::vector<std::pair<uint64_t, CommitDecision>> unended;
  for (auto& [txn, placed] : state.unended) unended.push_back(std::move(placed));
  std::sort(unended.begin(), unended.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [place, decision] : unended) {
    self->chosen_.insert(decision.txn);
    self->unended_.push_back(std::move(decision));
  }
  self->committed_ = std::move(state.committed);
  return self;
}

Status SingleReplicaDecisionLog::Propose(const CommitDecision& decision) {
  PACT_RETURN_IF_ERROR(ValidateDecision(decision));
  PACT_CHECK(decision.txn.epoch == epoch_, "leader of {} proposes {}", epoch_, decision.txn);
  if (pending_txns_.contains(decision.txn) || chosen_.contains(decision.txn)) return Status::Ok();
  PACT_ASSIGN_OR_RETURN(wal::Lsn lsn,
                        log_->Append(EncodeEntry(DecisionLogEntry::Commit(epoch_, decision))));
  PACT_CHECK(pending_.empty() || pending_.rbegin()->first < lsn, "LSN {} out of order", lsn);
  pending_.emplace(lsn, decision.txn);
  pending_txns_.insert(decision.txn);
  return Status::Ok();
}

FlushTicket SingleReplicaDecisionLog::StartFlush() {
  if (pending_.empty()) return FlushTicket{};
  return FlushTicket{pending_.rbegin()->first};
}

Status SingleReplicaDecisionLog::WaitFlush(FlushTicket ticket) {
  // Only the WAL is touched here: it is thread-safe, and its leader/follower commit makes
  // concurrent waiters share one fsync. pending_ and chosen_ belong to the caller's lock.
  if (ticket.empty()) return Status::Ok();
  return log_->WaitDurable(ticket.position);
}

void SingleReplicaDecisionLog::FinishFlush(FlushTicket ticket) {
  if (ticket.empty()) return;
  // Chosen means durable: a caller that skipped or failed WaitFlush must not get here.
  PACT_CHECK(ticket.position <= log_->durable_lsn(), "flush to LSN {} finished, durable only to {}",
             ticket.position, log_->durable_lsn());
  // Chosen in LSN order, the order they were proposed. Proposals after the ticket stay pending
  // even if the same fsync covered them: their own flush reports them.
  auto end = pending_.upper_bound(ticket.position);
  for (auto it = pending_.begin(); it != end; ++it) {
    pending_txns_.erase(it->second);
    chosen_.insert(it->second);
    newly_chosen_.push_back(it->second);
  }
  pending_.erase(pending_.begin(), end);
  PACT_CHECK(pending_.size() == pending_txns_.size());
}

std::vector<TxnId> SingleReplicaDecisionLog::TakeChosen() {
  std::vector<TxnId> out;
  out.swap(newly_chosen_);
  return out;
}

bool SingleReplicaDecisionLog::IsChosen(const TxnId& txn) const { return chosen_.contains(txn); }

Status SingleReplicaDecisionLog::RecordEnd(const TxnId& txn) {
  PACT_CHECK(chosen_.contains(txn), "END of {} which is not chosen", txn);
  PACT_ASSIGN_OR_RETURN(wal::Lsn lsn,
                        log_->Append(EncodeEntry(DecisionLogEntry::End(epoch_, txn))));
  (void)lsn;
  chosen_.erase(txn);
  return Status::Ok();
}

}  // namespace pact::coordinator
