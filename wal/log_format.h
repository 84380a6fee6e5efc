// The on-disk format of Pact's write-ahead log: constants and pure encode/decode helpers shared
// by the writer and the reader. docs/wal-format.md is the specification; keep them in step.
//
// Pure functions, no IO, thread-safe.
#ifndef PACT_WAL_LOG_FORMAT_H_
#define PACT_WAL_LOG_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pact::wal {

// Log sequence number: 1, 2, 3, ... per record, across segments. 0 means "no record".
using Lsn = uint64_t;
inline constexpr Lsn kNoLsn = 0;

inline constexpr uint64_t kBlockBytes = 32768;
// crc (4) | length (2) | type (1) | log number (4)
inline constexpr uint64_t kFragmentHeaderBytes = 11;
inline constexpr uint64_t kFragmentPayloadBytesMax = kBlockBytes - kFragmentHeaderBytes;

enum class FragmentType : uint8_t {
  kZero = 0,  // never written; zero-filled space
  kFull = 1,
  kFirst = 2,
  kMiddle = 3,
  kLast = 4,
  kSegmentHeader = 5,
};
inline constexpr uint8_t kFragmentTypeMax = 5;
std::string_view FragmentTypeName(FragmentType type);

// Segment header payload: magic (8) | version (4) | first_lsn (8).
inline constexpr std::string_view kSegmentMagic = "PACT-WAL";
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kSegmentHeaderPayloadBytes = 20;
inline constexpr uint64_t kSegmentHeaderBytes = kFragmentHeaderBytes + kSegmentHeaderPayloadBytes;

// Limits (docs/wal-format.md section 7).
inline constexpr uint64_t kRecordBytesLimit = uint64_t{1} << 30;
inline constexpr uint64_t kSegmentBytesMin = 1024;
inline constexpr uint64_t kSegmentBytesLimit = uint64_t{1} << 40;
inline constexpr uint32_t kLogNumberMin = 1;
inline constexpr uint32_t kLogNumberMax = UINT32_MAX;

// Little-endian fixed-width integers (inline: the reader calls them at every byte offset it
// scans after damage).
inline void PutFixed16(char* out, uint16_t value) {
  for (int i = 0; i < 2; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
inline void PutFixed32(char* out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
inline void PutFixed64(char* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
}
inline uint16_t GetFixed16(const char* in) {
  return static_cast<uint16_t>(static_cast<uint8_t>(in[0]) | (static_cast<uint8_t>(in[1]) << 8));
}
inline uint32_t GetFixed32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return value;
}
inline uint64_t GetFixed64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return value;
}

// CRC32C (Castagnoli) of `data` (Boost.CRC), and its masked form as stored (wal-format.md 2).
uint32_t Crc32c(std::string_view data);
uint32_t MaskCrc(uint32_t crc);
uint32_t UnmaskCrc(uint32_t masked);

// The masked CRC stored in a fragment: over header bytes 4..10 (`header_tail`: length, type,
// log number) followed by the payload.
uint32_t FragmentCrc(std::string_view header_tail, std::string_view payload);

// Writes the 11-byte header of a fragment carrying `payload` to `out`.
void EncodeFragmentHeader(FragmentType type, uint32_t log_number, std::string_view payload,
                          char* out);

// The 20-byte segment header payload, and back (nullopt: bad size, magic or version).
std::string EncodeSegmentHeaderPayload(Lsn first_lsn);
std::optional<Lsn> DecodeSegmentHeaderPayload(std::string_view payload);

// "0000000042.wal" <-> 42. Parse returns nullopt for any other name (and for log number 0).
std::string SegmentFileName(uint32_t log_number);
std::optional<uint32_t> ParseSegmentFileName(std::string_view name);

}  // namespace pact::wal

#endif  // PACT_WAL_LOG_FORMAT_H_
