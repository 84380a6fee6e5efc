#include "wal/log_writer.h"

#include <algorithm>

#include "common/check.h"

namespace pact::wal {

LogWriter::LogWriter(uint32_t log_number, uint64_t offset)
    : log_number_(log_number), offset_(offset) {}

void LogWriter::AddHeader(Lsn first_lsn, std::string* out) {
  PACT_CHECK(log_number_ >= kLogNumberMin, "no segment to write to");
  PACT_CHECK(offset_ == 0, "segment header at offset {}", offset_);
  AddFragment(FragmentType::kSegmentHeader, EncodeSegmentHeaderPayload(first_lsn), out);
  PACT_CHECK(offset_ == kSegmentHeaderBytes);
}

void LogWriter::AddRecord(std::string_view record, std::string* out) {
  PACT_CHECK(log_number_ >= kLogNumberMin, "no segment to write to");
  PACT_CHECK(offset_ >= kSegmentHeaderBytes, "record before the segment header");
  PACT_CHECK(record.size() <= kRecordBytesLimit, "record of {} bytes", record.size());
  const size_t out_start = out->size();
  const uint64_t expected_bytes = EncodedBytes(record.size());
  bool first = true;
  // An empty record still needs its one (empty) kFull fragment, hence do-while.
  do {
    uint64_t block_left = kBlockBytes - offset_ % kBlockBytes;
    if (block_left < kFragmentHeaderBytes) {
      // No room for a header: zero the trailer so the reader can tell it from a fragment.
      out->append(block_left, '\0');
      offset_ += block_left;
      block_left = kBlockBytes;
    }
    // With exactly a header's room left this is 0, and a non-empty record starts with an
    // empty kFirst (wal-format.md 2); every later fragment starts a block and is not empty.
    const uint64_t take = std::min<uint64_t>(block_left - kFragmentHeaderBytes, record.size());
    const bool last = take == record.size();
    const FragmentType type = first ? (last ? FragmentType::kFull : FragmentType::kFirst)
                                    : (last ? FragmentType::kLast : FragmentType::kMiddle);
    AddFragment(type, record.substr(0, take), out);
    record.remove_prefix(take);
    first = false;
  } while (!record.empty());
  PACT_CHECK(out->size() - out_start == expected_bytes, "encoded {} bytes, expected {}",
             out->size() - out_start, expected_bytes);
}

uint64_t LogWriter::EncodedBytes(uint64_t record_bytes) const {
  uint64_t offset = offset_;
  uint64_t left = record_bytes;
  do {
    uint64_t block_left = kBlockBytes - offset % kBlockBytes;
    if (block_left < kFragmentHeaderBytes) {
      offset += block_left;
      block_left = kBlockBytes;
    }
    const uint64_t take = std::min(block_left - kFragmentHeaderBytes, left);
    offset += kFragmentHeaderBytes + take;
    left -= take;
  } while (left > 0);
  return offset - offset_;
}

void LogWriter::AddFragment(FragmentType type, std::string_view payload, std::string* out) {
  const uint64_t block_left = kBlockBytes - offset_ % kBlockBytes;
  PACT_CHECK(kFragmentHeaderBytes + payload.size() <= block_left,
             "fragment of {} bytes crosses a block boundary at offset {}", payload.size(), offset_);
  char header[kFragmentHeaderBytes];
  EncodeFragmentHeader(type, log_number_, payload, header);
  out->append(header, kFragmentHeaderBytes);
  out->append(payload);
  offset_ += kFragmentHeaderBytes + payload.size();
}

}  // namespace pact::wal
