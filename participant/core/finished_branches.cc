#include "participant/core/finished_branches.h"

#include "common/check.h"

namespace pact::participant {

// Bits 0-1: the end (never 0, so that 0 means "no entry"); bit 2: prepared_record; bit 3:
// one_phase; bits 4-15: the number.
uint16_t FinishedBranches::Encode(const FinishedBranch& branch) {
  PACT_CHECK(branch.number >= 1 && branch.number <= FinishedBranch::kNumberMax,
             "branch number {} cannot be filed", branch.number);
  return static_cast<uint16_t>(static_cast<uint16_t>(branch.end) |
                               (branch.prepared_record ? 1u << 2 : 0u) |
                               (branch.one_phase ? 1u << 3 : 0u) | (branch.number << 4));
}

FinishedBranch FinishedBranches::Decode(uint16_t code) {
  return FinishedBranch{.number = static_cast<uint32_t>(code >> 4),
                        .end = static_cast<FinishedBranch::End>(code & 3u),
                        .prepared_record = (code & (1u << 2)) != 0,
                        .one_phase = (code & (1u << 3)) != 0};
}

void FinishedBranches::Put(const TxnId& txn, const FinishedBranch& branch) {
  PACT_CHECK(txn.valid(), "txid {} is not valid", txn);
  const uint16_t code = Encode(branch);
  Chunk& chunk = chunks_.try_emplace({txn.epoch, txn.sequence / kChunkTxns}).first->second;
  uint16_t& slot = chunk[txn.sequence % kChunkTxns];
  if (slot == 0) ++size_;
  slot = code;
}

std::optional<FinishedBranch> FinishedBranches::Get(const TxnId& txn) const {
  auto it = chunks_.find({txn.epoch, txn.sequence / kChunkTxns});
  if (it == chunks_.end()) return std::nullopt;
  const uint16_t code = it->second[txn.sequence % kChunkTxns];
  if (code == 0) return std::nullopt;
  return Decode(code);
}

std::optional<FinishedBranch> FinishedBranches::Take(const TxnId& txn) {
  auto it = chunks_.find({txn.epoch, txn.sequence / kChunkTxns});
  if (it == chunks_.end()) return std::nullopt;
  uint16_t& slot = it->second[txn.sequence % kChunkTxns];
  if (slot == 0) return std::nullopt;
  const FinishedBranch branch = Decode(slot);
  slot = 0;
  --size_;
  return branch;
}

}  // namespace pact::participant
