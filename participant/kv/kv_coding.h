// Encoding helpers shared by the KV store's WAL records (kv_record.h) and snapshot files
// (kv_snapshot.h): little-endian fixed-width integers, BranchIds, write-sets, and a reader that
// checks every length against the bytes that are left. docs/kv-store.md sections 3 and 4 are
// the specification.
//
// Pure functions, no IO, thread-safe.
#ifndef PACT_PARTICIPANT_KV_KV_CODING_H_
#define PACT_PARTICIPANT_KV_KV_CODING_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/branch_id.h"
#include "common/status.h"

namespace pact::kv {

// A branch's buffered writes, ordered by key: the new value, or nullopt for a delete.
using WriteSet = std::map<std::string, std::optional<std::string>, std::less<>>;

// epoch (8) | sequence (8) | branch number (4)
inline constexpr uint64_t kBranchIdBytes = 20;
// kind (1) | key length (4); a put adds value length (4) and the value.
inline constexpr uint64_t kOpHeaderBytes = 5;
inline constexpr uint64_t kPutValueHeaderBytes = 4;
// op count (4) in front of the ops.
inline constexpr uint64_t kWriteSetHeaderBytes = 4;

enum class OpKind : uint8_t { kPut = 1, kDelete = 2 };

// Encoded bytes of one op: a put when `value_bytes` is set, else a delete.
constexpr uint64_t OpBytes(uint64_t key_bytes, std::optional<uint64_t> value_bytes) {
  return kOpHeaderBytes + key_bytes +
         (value_bytes.has_value() ? kPutValueHeaderBytes + *value_bytes : 0);
}
uint64_t OpBytes(std::string_view key, const std::optional<std::string>& value);
// Sum of OpBytes over the write-set (its encoding without the op count).
uint64_t WriteSetOpBytes(const WriteSet& write_set);

void AppendFixed8(std::string* out, uint8_t value);
void AppendFixed32(std::string* out, uint32_t value);
void AppendFixed64(std::string* out, uint64_t value);
// Length (4) then the bytes. CHECKs that the length fits in 32 bits.
void AppendLengthPrefixed(std::string* out, std::string_view bytes);
void AppendBranchId(std::string* out, const BranchId& branch);
// op count (4) | ops (docs/kv-store.md 3). CHECKs: non-empty keys, at most 2^32-1 ops.
void AppendWriteSet(std::string* out, const WriteSet& write_set);

// Reads fields front to back. Every Read* returns false, consuming nothing, when the bytes left
// cannot hold the field; the caller turns that into a Corruption naming offset().
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  bool ReadFixed8(uint8_t* value);
  bool ReadFixed32(uint32_t* value);
  bool ReadFixed64(uint64_t* value);
  bool ReadBytes(uint64_t count, std::string_view* bytes);
  // A 4-byte length, then that many bytes. False (consuming nothing) if either is cut short.
  bool ReadLengthPrefixed(std::string_view* bytes);
  // The 20 bytes of a BranchId; validity is the caller's check.
  bool ReadBranchId(BranchId* branch);

  size_t offset() const { return offset_; }
  size_t remaining() const { return data_.size() - offset_; }
  bool done() const { return offset_ == data_.size(); }

 private:
  std::string_view data_;
  size_t offset_ = 0;
};

// Reads a write-set written by AppendWriteSet. Corruption ("byte N: why") for a truncated or
// malformed one: an unknown op kind, an empty key, keys not strictly ascending, an op count
// larger than the bytes left could hold.
Status ReadWriteSet(ByteReader* reader, WriteSet* write_set);

// Returns `reader`'s offset and `why` as a Corruption.
Status CorruptionAt(const ByteReader& reader, std::string_view why);

// A key or value for error messages: quoted, non-printable bytes as \xNN, cut after 48 bytes.
std::string Printable(std::string_view bytes);

}  // namespace pact::kv

#endif  // PACT_PARTICIPANT_KV_KV_CODING_H_
