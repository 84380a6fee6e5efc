// FinishedBranches: what a participant must still know of a branch that ended long ago - its
// number, how it ended (COMMITTED, ABORTED, READ_ONLY), whether it was prepared and whether it
// committed in one phase - in two bytes per transaction instead of a full branch.
//
// The participant core keeps an ended branch whole for a short retention, then files it here:
// a late or repeated request (a resent COMMIT after a coordinator restart, an outcome answer
// that arrives late) finds the branch again and is answered exactly as before. Kept whole
// forever, ended branches grew pact-agent by about 1 GB an hour under load.
//
// A participant's txids are sparse within an epoch (it joins some transactions only), so the
// entries live in chunks of kChunkTxns consecutive sequences, allocated on first use.
//
// Not thread-safe; deterministic.
#ifndef PACT_PARTICIPANT_CORE_FINISHED_BRANCHES_H_
#define PACT_PARTICIPANT_CORE_FINISHED_BRANCHES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "common/txn_id.h"

namespace pact::participant {

struct FinishedBranch {
  enum class End : uint8_t { kCommitted = 1, kAborted = 2, kReadOnly = 3 };

  static constexpr uint32_t kNumberMax = 4095;  // numbers above it are not filed here

  uint32_t number = 0;  // 1..kNumberMax
  End end = End::kCommitted;
  bool prepared_record = false;
  bool one_phase = false;

  friend bool operator==(const FinishedBranch&, const FinishedBranch&) = default;
};

class FinishedBranches {
 public:
  static constexpr uint64_t kChunkTxns = 1024;

  // Files `branch` as the ended branch of `txn` (valid), replacing any earlier entry.
  void Put(const TxnId& txn, const FinishedBranch& branch);
  std::optional<FinishedBranch> Get(const TxnId& txn) const;
  // Removes and returns the entry of `txn`, if any.
  std::optional<FinishedBranch> Take(const TxnId& txn);
  size_t size() const { return size_; }

 private:
  using Chunk = std::array<uint16_t, kChunkTxns>;  // 0: no entry
  using ChunkKey = std::pair<uint64_t, uint64_t>;  // (epoch, sequence / kChunkTxns)

  static uint16_t Encode(const FinishedBranch& branch);
  static FinishedBranch Decode(uint16_t code);

  std::map<ChunkKey, Chunk> chunks_;
  size_t size_ = 0;
};

}  // namespace pact::participant

#endif  // PACT_PARTICIPANT_CORE_FINISHED_BRANCHES_H_
