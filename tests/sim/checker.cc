#include "tests/sim/checker.h"

#include <fmt/format.h>

#include <set>

namespace pact::sim {

using protocol::Outcome;

void Checker::Violation(std::string what) {
  // Only the first few matter; later ones are usually consequences (or repeats).
  std::string line = fmt::format("t={} {}", now_, what);
  if (violations_.size() >= 8) return;
  for (const std::string& v : violations_) {
    if (v.substr(v.find(' ') + 1) == what) return;
  }
  violations_.push_back(std::move(line));
}

void Checker::OnChosen(const TxnId& txn) {
  TxnFacts& facts = txns_[txn];
  facts.chosen = true;
  CheckTxn(txn, facts);
}

bool Checker::EverChosen(const TxnId& txn) const {
  auto it = txns_.find(txn);
  return it != txns_.end() && it->second.chosen;
}

void Checker::OnEndAppended(const TxnId& txn) {
  TxnFacts& facts = txns_[txn];
  if (!facts.chosen) Violation(fmt::format("END of {} which was never chosen", txn));
  facts.end_appended = true;
}

void Checker::OnCoordinatorRecovered(const std::vector<coordinator::CommitDecision>& unended) {
  std::set<TxnId> resumed;
  for (const coordinator::CommitDecision& d : unended) {
    resumed.insert(d.txn);
    // A COMMIT appended but not yet forced may survive a torn tail: then it is chosen now.
    OnChosen(d.txn);
  }
  for (const auto& [txn, facts] : txns_) {
    if (facts.chosen && !facts.end_appended && !resumed.contains(txn)) {
      Violation(fmt::format("chosen COMMIT of {} lost by a coordinator restart", txn));
    }
  }
}

void Checker::OnWorkDone(const TxnId& txn, const std::string& participant, const BranchId& branch,
                         WorkKind kind) {
  TxnFacts& facts = txns_[txn];
  if (kind != WorkKind::kRead) facts.client_writes.emplace_back(participant, branch.branch);
  CheckTxn(txn, facts);
}

void Checker::OnClientTold(const std::string& client, const TxnId& txn, Outcome outcome) {
  if (outcome == Outcome::kUnknown) return;
  TxnFacts& facts = txns_[txn];
  if (facts.told.has_value() && *facts.told != outcome) {
    Violation(fmt::format("{} told {} about {}, earlier {}", client, protocol::Name(outcome), txn,
                          protocol::Name(*facts.told)));
  }
  facts.told = outcome;
  (outcome == Outcome::kCommitted ? told_committed_ : told_aborted_)++;
  CheckTxn(txn, facts);
}

void Checker::OnFate(const std::string& participant, const BranchId& branch,
                     const BranchHistory& history) {
  TxnFacts& facts = txns_[branch.txn];
  facts.branches[{participant, branch.branch}] = history;
  CheckTxn(branch.txn, facts);
}

void Checker::OnVote(const std::string& participant, const BranchId& branch, protocol::Vote vote) {
  const auto key = std::make_pair(participant, branch);
  if (vote == protocol::Vote::kNo) {
    refused_.try_emplace(key, "voted NO");
  } else if (vote == protocol::Vote::kYes) {
    auto it = refused_.find(key);
    if (it != refused_.end()) {
      Violation(fmt::format("{} votes YES for {} after it {}", participant, branch, it->second));
    }
  }
}

void Checker::OnAbortAcknowledged(const std::string& participant, const BranchId& branch) {
  refused_.try_emplace(std::make_pair(participant, branch), "acknowledged ABORT");
}

void Checker::CheckTxn(const TxnId& txn, const TxnFacts& facts) {
  std::string committed, undone;
  for (const auto& [key, h] : facts.branches) {
    const std::string name = fmt::format("{}/{}@{}", txn, key.second, key.first);
    if (h.fate == Fate::kCommitted) committed = name;
    if (h.wrote && (h.fate == Fate::kRolledBack || h.fate == Fate::kLost)) {
      undone = fmt::format("{} ({})", name, Name(h.fate));
    }
  }
  if (!committed.empty() && !undone.empty()) {
    Violation(fmt::format("atomicity: {} committed but {}", committed, undone));
  }
  if (facts.chosen && !undone.empty()) {
    Violation(fmt::format("decision changed: COMMIT of {} chosen but {}", txn, undone));
  }
  if (facts.told == Outcome::kAborted && (facts.chosen || !committed.empty())) {
    Violation(fmt::format("client told ABORTED about {} but {}", txn,
                          facts.chosen ? "COMMIT was chosen" : committed + " committed"));
  }
  if (facts.told == Outcome::kCommitted && !undone.empty()) {
    Violation(fmt::format("client told COMMITTED about {} but {}", txn, undone));
  }
}

void Checker::CheckFinal() {
  for (const auto& [txn, facts] : txns_) {
    const bool must_commit = facts.chosen || facts.told == Outcome::kCommitted;
    for (const auto& [key, h] : facts.branches) {
      if (h.fate == Fate::kActive || h.fate == Fate::kPrepared) {
        Violation(
            fmt::format("liveness: {}/{}@{} still {}", txn, key.second, key.first, Name(h.fate)));
      } else if (must_commit && h.wrote && h.fate != Fate::kCommitted) {
        Violation(fmt::format("{}/{}@{} ended {} though {} committed", txn, key.second, key.first,
                              Name(h.fate), txn));
      }
    }
    if (facts.told == Outcome::kCommitted) {
      for (const BranchKey& key : facts.client_writes) {
        auto it = facts.branches.find(key);
        if (it == facts.branches.end() || it->second.fate != Fate::kCommitted) {
          Violation(fmt::format("client told COMMITTED about {} but {}/{}@{} did not commit", txn,
                                txn, key.second, key.first));
        }
      }
    }
  }
}

}  // namespace pact::sim
