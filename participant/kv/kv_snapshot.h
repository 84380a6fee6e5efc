// The KV store's snapshot file (docs/kv-store.md section 4): the committed data and the
// prepared branches as of one WAL LSN, with a format version and a CRC32C over the whole file.
// Written with FileSystem::WriteFileAtomically by the store's checkpoint.
//
// Pure functions and a single-threaded encoder, no IO.
#ifndef PACT_PARTICIPANT_KV_KV_SNAPSHOT_H_
#define PACT_PARTICIPANT_KV_KV_SNAPSHOT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/branch_id.h"
#include "common/status.h"
#include "participant/kv/kv_coding.h"
#include "wal/log_format.h"

namespace pact::kv {

inline constexpr std::string_view kSnapshotMagic = "PACTKVSN";
inline constexpr uint32_t kSnapshotFormatVersion = 1;
// magic (8) | version (4) | body length (8)
inline constexpr uint64_t kSnapshotHeaderBytes = 20;
inline constexpr uint64_t kSnapshotTrailerBytes = 4;  // masked CRC32C

struct Snapshot {
  wal::Lsn lsn = wal::kNoLsn;  // the last WAL record the snapshot reflects
  std::map<std::string, std::string, std::less<>> data;
  std::map<BranchId, WriteSet> prepared;  // disjoint keys
};

// Builds a snapshot file front to back without copying the store's data: AddEntry for every
// committed key in ascending order, then AddPrepared for every prepared branch in ascending
// order, then Finish. CHECKs the order, the counts and every key.
class SnapshotEncoder {
 public:
  SnapshotEncoder(wal::Lsn lsn, uint64_t entry_count);

  void AddEntry(std::string_view key, std::string_view value);
  void AddPrepared(const BranchId& branch, const WriteSet& write_set);
  // The whole file. The encoder is spent afterwards.
  std::string Finish();

 private:
  std::string out_;
  uint64_t entry_count_;
  uint64_t entries_added_ = 0;
  uint32_t prepared_added_ = 0;
  size_t prepared_count_offset_ = 0;  // where the prepared count goes; 0 until the first one
  std::string last_key_;
  BranchId last_branch_;
  bool finished_ = false;
};

// Checks and decodes a whole snapshot file. Corruption ("byte N: why") when it is too short,
// has the wrong magic, an unknown version, a body length that disagrees with its size, a bad
// CRC, or a body that does not parse: keys empty or out of order, invalid or unordered branch
// ids, prepared branches sharing a key, trailing bytes. Never reads past `file`.
Result<Snapshot> DecodeSnapshot(std::string_view file);

}  // namespace pact::kv

#endif  // PACT_PARTICIPANT_KV_KV_SNAPSHOT_H_
