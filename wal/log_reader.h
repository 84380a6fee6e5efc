// LogReader: reads the records of one segment file, checking every fragment
// (docs/wal-format.md section 6). It never decides between "torn tail" and "corruption": it
// says where the valid records end, what is wrong after them, and whether a valid fragment
// follows; Log::Open applies the rules.
//
// Thread-compatible. The file is borrowed and must outlive the reader.
#ifndef PACT_WAL_LOG_READER_H_
#define PACT_WAL_LOG_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/file_system.h"
#include "common/status.h"
#include "wal/log_format.h"

namespace pact::wal {

// Where and how a segment stops being a sequence of valid records.
struct SegmentDamage {
  uint64_t offset = 0;               // start of the first incomplete record (or of the bad header)
  uint64_t bad_fragment_offset = 0;  // the fragment (or byte) that failed its checks
  std::string reason;                // "bad checksum", "file ends inside a fragment", ...
  // A fragment of this log that passes all its own checks starts after the bad one (or the
  // bad thing is itself such a fragment, out of sequence): this cannot be a torn tail.
  bool valid_fragment_follows = false;
  uint64_t valid_fragment_offset = 0;  // the first such fragment, if any
};

class LogReader {
 public:
  // Reads `file` (named `path` in messages), which must be segment `log_number`. Records longer
  // than `record_bytes_max` are refused.
  LogReader(ReadableFile* file, std::string path, uint32_t log_number, uint64_t record_bytes_max);

  // Reads and checks the segment header; call once, first. Returns its first LSN, or nullopt
  // if the header is damaged (see damage()). IoError if the file cannot be read.
  Result<std::optional<Lsn>> ReadHeader();

  // Reads the next record into *record and returns true; returns false at the end of the
  // segment, which is clean if damage() is empty. IoError if the file cannot be read;
  // Corruption if a record is longer than record_bytes_max.
  Result<bool> ReadRecord(std::string* record);

  // The damage that ended the segment, once ReadHeader or ReadRecord reported the end.
  const std::optional<SegmentDamage>& damage() const { return damage_; }
  // Offset just past the last complete record (or the header): the valid prefix of the file.
  uint64_t valid_end_offset() const { return valid_end_offset_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  struct Fragment {
    FragmentType type;
    std::string_view payload;  // points into block_
    uint64_t offset;           // of the fragment header in the file
  };
  enum class Next { kFragment, kEnd, kBad };

  Status LoadBlock(uint64_t block_index);
  // Reads the fragment at offset_. kEnd: clean end of file; kBad: *reason says why.
  Result<Next> NextFragment(Fragment* fragment, std::string* reason);
  Status Damage(uint64_t record_offset, uint64_t bad_offset, std::string reason,
                bool bad_is_valid_fragment);
  // Looks for a fragment of this log passing all checks, starting at byte `from`.
  Result<std::optional<uint64_t>> FindValidFragment(uint64_t from);
  // Whether the bytes at `offset` (within a block) form a fragment passing every check.
  bool IsValidFragmentAt(std::string_view block, uint64_t offset_in_block) const;

  ReadableFile* const file_;
  const std::string path_;
  const uint32_t log_number_;
  const uint64_t record_bytes_max_;

  uint64_t file_bytes_ = 0;
  bool started_ = false;
  bool ended_ = false;
  uint64_t offset_ = 0;  // next fragment (or trailer) to read
  uint64_t valid_end_offset_ = 0;
  std::string block_;  // the block containing offset_
  uint64_t block_index_ = UINT64_MAX;
  std::optional<SegmentDamage> damage_;
};

}  // namespace pact::wal

#endif  // PACT_WAL_LOG_READER_H_
