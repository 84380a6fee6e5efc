#include "coordinator/single_replica_decision_log.h"

#include <fmt/format.h>

#include <algorithm>

namespace pact::coordinator {
namespace {

// What replay learns: the highest epoch and the chosen, not ended decisions in log order.
struct ReplayState {
  uint64_t epoch = 0;
  std::map<TxnId, CommitDecision> unended;
  std::vector<TxnId> order;
  std::set<TxnId> ever_committed;

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
        if (!ever_committed.insert(entry.decision.txn).second) return corrupt("second COMMIT");
        order.push_back(entry.decision.txn);
        unended.emplace(entry.decision.txn, std::move(entry.decision));
        return Status::Ok();
      case DecisionLogEntry::Kind::kEnd:
        if (!ever_committed.contains(entry.decision.txn)) return corrupt("END without COMMIT");
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
  for (const TxnId& txn : state.order) {
    auto it = state.unended.find(txn);
    if (it == state.unended.end()) continue;
    self->chosen_.insert(txn);
    self->unended_.push_back(std::move(it->second));
  }
  return self;
}

Status SingleReplicaDecisionLog::Propose(const CommitDecision& decision) {
  PACT_RETURN_IF_ERROR(ValidateDecision(decision));
  PACT_CHECK(decision.txn.epoch == epoch_, "leader of {} proposes {}", epoch_, decision.txn);
  if (pending_.contains(decision.txn) || chosen_.contains(decision.txn)) return Status::Ok();
  PACT_ASSIGN_OR_RETURN(wal::Lsn lsn,
                        log_->Append(EncodeEntry(DecisionLogEntry::Commit(epoch_, decision))));
  pending_.emplace(decision.txn, lsn);
  return Status::Ok();
}

Status SingleReplicaDecisionLog::Flush() {
  if (pending_.empty()) return Status::Ok();
  wal::Lsn last = 0;
  for (const auto& [txn, lsn] : pending_) last = std::max(last, lsn);
  PACT_RETURN_IF_ERROR(log_->WaitDurable(last));
  // Chosen in LSN order, the order they were proposed.
  std::vector<std::pair<wal::Lsn, TxnId>> by_lsn;
  for (const auto& [txn, lsn] : pending_) by_lsn.emplace_back(lsn, txn);
  std::sort(by_lsn.begin(), by_lsn.end());
  for (const auto& [lsn, txn] : by_lsn) {
    chosen_.insert(txn);
    newly_chosen_.push_back(txn);
  }
  pending_.clear();
  return Status::Ok();
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
