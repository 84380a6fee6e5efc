#include "wal/log_reader.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/check.h"

namespace pact::wal {

LogReader::LogReader(ReadableFile* file, std::string path, uint32_t log_number,
                     uint64_t record_bytes_max)
    : file_(file),
      path_(std::move(path)),
      log_number_(log_number),
      record_bytes_max_(record_bytes_max) {
  PACT_CHECK(file_ != nullptr);
  PACT_CHECK(log_number_ >= kLogNumberMin);
}

Status LogReader::LoadBlock(uint64_t block_index) {
  if (block_index == block_index_) return Status::Ok();
  const uint64_t start = block_index * kBlockBytes;
  PACT_CHECK(start < file_bytes_, "block {} is past the end of {}", block_index, path_);
  block_.resize(std::min(kBlockBytes, file_bytes_ - start));
  PACT_ASSIGN_OR_RETURN(size_t read, file_->ReadAt(start, std::span<char>(block_)));
  if (read != block_.size()) {
    // The file shrank under us: nobody but the log writes these files, so this is an IO fault.
    block_index_ = UINT64_MAX;
    return Status::IoError(fmt::format("{}: short read at offset {} ({} of {} bytes)", path_, start,
                                       read, block_.size()));
  }
  block_index_ = block_index;
  return Status::Ok();
}

bool LogReader::IsValidFragmentAt(std::string_view block, uint64_t at) const {
  if (block.size() < at + kFragmentHeaderBytes) return false;
  const char* header = block.data() + at;
  // Cheapest test first: almost every byte offset fails it.
  if (GetFixed32(header + 7) != log_number_) return false;
  const uint8_t type = static_cast<uint8_t>(header[6]);
  if (type == 0 || type > kFragmentTypeMax) return false;
  const uint64_t length = GetFixed16(header + 4);
  if (at + kFragmentHeaderBytes + length > block.size()) return false;
  const std::string_view payload(header + kFragmentHeaderBytes, length);
  return GetFixed32(header) ==
         FragmentCrc(std::string_view(header + 4, kFragmentHeaderBytes - 4), payload);
}

Result<LogReader::Next> LogReader::NextFragment(Fragment* fragment, std::string* reason) {
  while (true) {
    if (offset_ == file_bytes_) return Next::kEnd;
    PACT_CHECK(offset_ < file_bytes_);
    PACT_RETURN_IF_ERROR(LoadBlock(offset_ / kBlockBytes));
    const uint64_t in_block = offset_ % kBlockBytes;
    const uint64_t block_left = kBlockBytes - in_block;   // room left in the block
    const uint64_t file_left = block_.size() - in_block;  // bytes of it the file holds
    if (block_left < kFragmentHeaderBytes) {
      // The trailer: zeros up to the block end (the file may end inside it).
      const std::string_view trailer(block_.data() + in_block, file_left);
      if (std::any_of(trailer.begin(), trailer.end(), [](char c) { return c != 0; })) {
        *reason = "non-zero bytes in a block trailer";
        return Next::kBad;
      }
      offset_ += file_left;
      continue;
    }
    if (file_left < kFragmentHeaderBytes) {
      *reason = "file ends inside a fragment header";
      return Next::kBad;
    }
    const char* header = block_.data() + in_block;
    const uint64_t length = GetFixed16(header + 4);
    const uint8_t type = static_cast<uint8_t>(header[6]);
    const uint32_t log_number = GetFixed32(header + 7);
    if (type == 0 || type > kFragmentTypeMax) {
      *reason = fmt::format("bad fragment type {}", type);
      return Next::kBad;
    }
    if (kFragmentHeaderBytes + length > block_left) {
      *reason = fmt::format("fragment length {} crosses the block end", length);
      return Next::kBad;
    }
    if (kFragmentHeaderBytes + length > file_left) {
      *reason = "file ends inside a fragment";
      return Next::kBad;
    }
    const std::string_view payload(header + kFragmentHeaderBytes, length);
    if (GetFixed32(header) !=
        FragmentCrc(std::string_view(header + 4, kFragmentHeaderBytes - 4), payload)) {
      *reason = "bad checksum";
      return Next::kBad;
    }
    if (log_number != log_number_) {
      // A sound fragment, but written for another segment: stale bytes of a reused file.
      *reason = fmt::format("fragment of log number {} (stale bytes)", log_number);
      return Next::kBad;
    }
    *fragment = Fragment{static_cast<FragmentType>(type), payload, offset_};
    offset_ += kFragmentHeaderBytes + length;
    return Next::kFragment;
  }
}

Result<std::optional<uint64_t>> LogReader::FindValidFragment(uint64_t from) {
  uint64_t at = from;
  while (at + kFragmentHeaderBytes <= file_bytes_) {
    const uint64_t in_block = at % kBlockBytes;
    if (kBlockBytes - in_block < kFragmentHeaderBytes) {
      at += kBlockBytes - in_block;  // no fragment starts in a trailer
      continue;
    }
    PACT_RETURN_IF_ERROR(LoadBlock(at / kBlockBytes));
    if (IsValidFragmentAt(block_, in_block)) return std::optional<uint64_t>(at);
    ++at;
  }
  return std::optional<uint64_t>();
}

Status LogReader::Damage(uint64_t record_offset, uint64_t bad_offset, std::string reason,
                         bool bad_is_valid_fragment) {
  PACT_CHECK(record_offset <= bad_offset && bad_offset <= file_bytes_);
  PACT_CHECK(record_offset >= valid_end_offset_);
  ended_ = true;
  SegmentDamage damage;
  damage.offset = record_offset;
  damage.bad_fragment_offset = bad_offset;
  damage.reason = std::move(reason);
  if (bad_is_valid_fragment) {
    damage.valid_fragment_follows = true;
    damage.valid_fragment_offset = bad_offset;
  } else {
    PACT_ASSIGN_OR_RETURN(std::optional<uint64_t> valid, FindValidFragment(bad_offset + 1));
    damage.valid_fragment_follows = valid.has_value();
    damage.valid_fragment_offset = valid.value_or(0);
  }
  damage_ = std::move(damage);
  return Status::Ok();
}

Result<std::optional<Lsn>> LogReader::ReadHeader() {
  PACT_CHECK(!started_, "ReadHeader called twice on {}", path_);
  started_ = true;
  PACT_ASSIGN_OR_RETURN(file_bytes_, file_->Size());
  Fragment fragment;
  std::string reason;
  PACT_ASSIGN_OR_RETURN(Next next, NextFragment(&fragment, &reason));
  switch (next) {
    case Next::kEnd:
      PACT_RETURN_IF_ERROR(Damage(0, 0, "empty file: no segment header", false));
      return std::optional<Lsn>();
    case Next::kBad:
      PACT_RETURN_IF_ERROR(Damage(0, offset_, "segment header: " + reason, false));
      return std::optional<Lsn>();
    case Next::kFragment:
      break;
  }
  if (fragment.type != FragmentType::kSegmentHeader) {
    PACT_RETURN_IF_ERROR(
        Damage(0, 0,
               fmt::format("first fragment is a {} fragment, not the segment header",
                           FragmentTypeName(fragment.type)),
               true));
    return std::optional<Lsn>();
  }
  const std::optional<Lsn> first_lsn = DecodeSegmentHeaderPayload(fragment.payload);
  if (!first_lsn.has_value()) {
    // The checksum is right, so this was written so: a foreign file or another version.
    PACT_RETURN_IF_ERROR(Damage(0, 0, "segment header has a bad magic, version or LSN", true));
    return std::optional<Lsn>();
  }
  PACT_CHECK(offset_ == kSegmentHeaderBytes);
  valid_end_offset_ = offset_;
  return first_lsn;
}

Result<bool> LogReader::ReadRecord(std::string* record) {
  PACT_CHECK(started_, "ReadRecord before ReadHeader on {}", path_);
  if (ended_) return false;
  record->clear();
  bool in_record = false;
  uint64_t record_offset = offset_;
  while (true) {
    Fragment fragment;
    std::string reason;
    PACT_ASSIGN_OR_RETURN(Next next, NextFragment(&fragment, &reason));
    if (next == Next::kEnd) {
      if (in_record) {
        PACT_RETURN_IF_ERROR(
            Damage(record_offset, file_bytes_, "file ends inside a record", false));
      }
      ended_ = true;
      return false;
    }
    if (next == Next::kBad) {
      PACT_RETURN_IF_ERROR(
          Damage(in_record ? record_offset : offset_, offset_, std::move(reason), false));
      return false;
    }
    const FragmentType type = fragment.type;
    const bool starts_record = type == FragmentType::kFull || type == FragmentType::kFirst;
    const bool continues_record = type == FragmentType::kMiddle || type == FragmentType::kLast;
    if ((starts_record && in_record) || (continues_record && !in_record) ||
        type == FragmentType::kSegmentHeader) {
      // Every check of the fragment passed, yet it is out of place: no crash makes that.
      PACT_RETURN_IF_ERROR(
          Damage(in_record ? record_offset : fragment.offset, fragment.offset,
                 fmt::format("{} fragment out of sequence", FragmentTypeName(type)), true));
      return false;
    }
    if (starts_record) {
      record_offset = fragment.offset;
      in_record = true;
    }
    record->append(fragment.payload);
    if (record->size() > record_bytes_max_) {
      ended_ = true;
      return Status::Corruption(
          fmt::format("{} at offset {}: record longer than record_bytes_max ({} bytes)", path_,
                      record_offset, record_bytes_max_));
    }
    if (type == FragmentType::kFull || type == FragmentType::kLast) {
      valid_end_offset_ = offset_;
      return true;
    }
  }
}

}  // namespace pact::wal
