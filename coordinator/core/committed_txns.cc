#include "coordinator/core/committed_txns.h"

#include "common/check.h"

namespace pact::coordinator {

void CommittedTxns::Add(const TxnId& txn) {
  PACT_CHECK(txn.valid(), "committed txid {} is not valid", txn);
  Chunk& chunk = chunks_.try_emplace({txn.epoch, txn.sequence / kChunkTxns}).first->second;
  const uint64_t bit = txn.sequence % kChunkTxns;
  uint64_t& word = chunk[bit / 64];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  if ((word & mask) == 0) {
    word |= mask;
    ++size_;
  }
}

bool CommittedTxns::Contains(const TxnId& txn) const {
  auto it = chunks_.find({txn.epoch, txn.sequence / kChunkTxns});
  if (it == chunks_.end()) return false;
  const uint64_t bit = txn.sequence % kChunkTxns;
  return (it->second[bit / 64] >> (bit % 64)) & 1;
}

}  // namespace pact::coordinator
