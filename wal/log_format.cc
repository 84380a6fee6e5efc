#include "wal/log_format.h"

#include <fmt/format.h>

#include <boost/crc.hpp>
#include <cstring>

#include "common/check.h"

namespace pact::wal {
namespace {

// CRC32C (Castagnoli), reflected, as iSCSI, ext4 and LevelDB use it.
using Crc32cComputer = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

constexpr uint32_t kCrcMaskDelta = 0xa282ead8u;
constexpr std::string_view kSegmentSuffix = ".wal";
constexpr size_t kSegmentNumberDigits = 10;  // enough for every uint32_t

}  // namespace

std::string_view FragmentTypeName(FragmentType type) {
  switch (type) {
    case FragmentType::kZero:
      return "zero";
    case FragmentType::kFull:
      return "full";
    case FragmentType::kFirst:
      return "first";
    case FragmentType::kMiddle:
      return "middle";
    case FragmentType::kLast:
      return "last";
    case FragmentType::kSegmentHeader:
      return "segment-header";
  }
  return "unknown";
}

uint32_t Crc32c(std::string_view data) {
  Crc32cComputer crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

// Masking (as LevelDB does) keeps the stored CRC from being the CRC of bytes that contain a
// CRC, which would weaken detection when records embed checksums of their own.
uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kCrcMaskDelta; }

uint32_t UnmaskCrc(uint32_t masked) {
  const uint32_t rotated = masked - kCrcMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

uint32_t FragmentCrc(std::string_view header_tail, std::string_view payload) {
  PACT_DCHECK(header_tail.size() == kFragmentHeaderBytes - 4);
  Crc32cComputer crc;
  crc.process_bytes(header_tail.data(), header_tail.size());
  crc.process_bytes(payload.data(), payload.size());
  return MaskCrc(crc.checksum());
}

void EncodeFragmentHeader(FragmentType type, uint32_t log_number, std::string_view payload,
                          char* out) {
  PACT_CHECK(payload.size() <= kFragmentPayloadBytesMax, "fragment of {} bytes", payload.size());
  PACT_CHECK(log_number >= kLogNumberMin, "log number 0 is never written");
  PutFixed16(out + 4, static_cast<uint16_t>(payload.size()));
  out[6] = static_cast<char>(type);
  PutFixed32(out + 7, log_number);
  PutFixed32(out, FragmentCrc(std::string_view(out + 4, kFragmentHeaderBytes - 4), payload));
}

std::string EncodeSegmentHeaderPayload(Lsn first_lsn) {
  PACT_CHECK(first_lsn != kNoLsn, "a segment's first LSN is at least 1");
  std::string payload(kSegmentHeaderPayloadBytes, '\0');
  std::memcpy(payload.data(), kSegmentMagic.data(), kSegmentMagic.size());
  PutFixed32(payload.data() + 8, kFormatVersion);
  PutFixed64(payload.data() + 12, first_lsn);
  PACT_DCHECK(DecodeSegmentHeaderPayload(payload) == first_lsn);
  return payload;
}

std::optional<Lsn> DecodeSegmentHeaderPayload(std::string_view payload) {
  if (payload.size() != kSegmentHeaderPayloadBytes) return std::nullopt;
  if (payload.substr(0, kSegmentMagic.size()) != kSegmentMagic) return std::nullopt;
  if (GetFixed32(payload.data() + 8) != kFormatVersion) return std::nullopt;
  const Lsn first_lsn = GetFixed64(payload.data() + 12);
  if (first_lsn == kNoLsn) return std::nullopt;
  return first_lsn;
}

std::string SegmentFileName(uint32_t log_number) {
  PACT_CHECK(log_number >= kLogNumberMin);
  return fmt::format("{:010}{}", log_number, kSegmentSuffix);
}

std::optional<uint32_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentNumberDigits + kSegmentSuffix.size()) return std::nullopt;
  if (name.substr(kSegmentNumberDigits) != kSegmentSuffix) return std::nullopt;
  uint64_t number = 0;
  for (size_t i = 0; i < kSegmentNumberDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    number = number * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (number < kLogNumberMin || number > kLogNumberMax) return std::nullopt;
  return static_cast<uint32_t>(number);
}

}  // namespace pact::wal
