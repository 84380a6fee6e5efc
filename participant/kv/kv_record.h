// The KV store's WAL records (docs/kv-store.md section 3): PREPARE carries a branch's whole
// write-set; COMMIT and ROLLBACK end a prepared branch. One record per WAL record; the WAL
// frames and checksums them.
//
// Pure functions, no IO, thread-safe.
#ifndef PACT_PARTICIPANT_KV_KV_RECORD_H_
#define PACT_PARTICIPANT_KV_KV_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/branch_id.h"
#include "common/status.h"
#include "participant/kv/kv_coding.h"

namespace pact::kv {

inline constexpr uint8_t kRecordFormatVersion = 1;
// version (1) | type (1) | branch (20)
inline constexpr uint64_t kRecordHeaderBytes = 2 + kBranchIdBytes;
// A PREPARE record is this much larger than WriteSetOpBytes() of its write-set.
inline constexpr uint64_t kPrepareOverheadBytes = kRecordHeaderBytes + kWriteSetHeaderBytes;

enum class RecordType : uint8_t {
  kPrepare = 1,
  kCommit = 2,
  kRollback = 3,
};
std::string_view RecordTypeName(RecordType type);

struct Record {
  RecordType type = RecordType::kPrepare;
  BranchId branch;
  WriteSet write_set;  // PREPARE only; empty otherwise

  friend bool operator==(const Record&, const Record&) = default;
};

// CHECK: a valid branch, a non-empty write-set of non-empty keys.
std::string EncodePrepare(const BranchId& branch, const WriteSet& write_set);
// CHECK: a valid branch; `type` is kCommit or kRollback.
std::string EncodeEnd(RecordType type, const BranchId& branch);

// Decodes one record. Corruption ("byte N: why") for anything but a record EncodePrepare or
// EncodeEnd could have written: unknown version or type, an invalid BranchId, a PREPARE with an
// empty or malformed write-set, trailing bytes. Never reads past `bytes`.
Result<Record> DecodeRecord(std::string_view bytes);

}  // namespace pact::kv

#endif  // PACT_PARTICIPANT_KV_KV_RECORD_H_
