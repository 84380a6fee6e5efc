// CommittedTxns: the set of transactions a coordinator knows to have committed, kept for the
// life of the decision log so that a client asking again - after a coordinator restart, or
// long after the transaction ended - hears COMMITTED rather than UNKNOWN.
//
// Txids are dense: a leader issues sequences 1, 2, 3, ... of its epoch. So the set is a bitmap
// per epoch, in chunks of kChunkTxns sequences allocated on first use: one bit per issued
// transaction (a million transactions cost 128 KiB), and a lookup is two map finds.
//
// Not thread-safe; deterministic.
#ifndef PACT_COORDINATOR_CORE_COMMITTED_TXNS_H_
#define PACT_COORDINATOR_CORE_COMMITTED_TXNS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

#include "common/txn_id.h"

namespace pact::coordinator {

class CommittedTxns {
 public:
  static constexpr uint64_t kChunkTxns = 4096;

  // `txn` must be valid. Adding twice is a no-op.
  void Add(const TxnId& txn);
  bool Contains(const TxnId& txn) const;
  size_t size() const { return size_; }

 private:
  using Chunk = std::array<uint64_t, kChunkTxns / 64>;
  using ChunkKey = std::pair<uint64_t, uint64_t>;  // (epoch, sequence / kChunkTxns)

  std::map<ChunkKey, Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_CORE_COMMITTED_TXNS_H_
