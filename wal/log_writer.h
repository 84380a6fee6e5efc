// LogWriter: cuts records into fragments for one segment (docs/wal-format.md sections 2-3).
//
// Pure encoder: it appends the encoded bytes to a caller's string and tracks the offset in the
// segment file they will land at (which decides the block boundaries); the caller writes them
// to the file in the same order. No IO, so Log can encode under its mutex and write outside it.
//
// Thread-compatible (one thread at a time). Records longer than kRecordBytesLimit are a broken
// invariant (callers check their own, smaller, limit first).
#ifndef PACT_WAL_LOG_WRITER_H_
#define PACT_WAL_LOG_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "wal/log_format.h"

namespace pact::wal {

class LogWriter {
 public:
  // A writer for segment `log_number` whose file already holds `offset` bytes.
  // log_number 0 means "no segment yet": nothing may be added.
  explicit LogWriter(uint32_t log_number = 0, uint64_t offset = 0);

  // Appends the segment header fragment. Only at offset 0.
  void AddHeader(Lsn first_lsn, std::string* out);

  // Appends the fragments of `record` (zero-filling a block trailer first if needed).
  void AddRecord(std::string_view record, std::string* out);

  // Bytes AddRecord would append now for a record of `record_bytes` bytes.
  uint64_t EncodedBytes(uint64_t record_bytes) const;

  uint32_t log_number() const { return log_number_; }
  uint64_t offset() const { return offset_; }  // bytes in the segment after what was added

 private:
  void AddFragment(FragmentType type, std::string_view payload, std::string* out);

  uint32_t log_number_;
  uint64_t offset_;
};

}  // namespace pact::wal

#endif  // PACT_WAL_LOG_WRITER_H_
