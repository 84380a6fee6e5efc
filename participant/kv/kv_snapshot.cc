#include "participant/kv/kv_snapshot.h"

#include <fmt/format.h>

#include <set>

#include "common/check.h"

namespace pact::kv {
namespace {

constexpr size_t kBodyLengthOffset = 12;  // after magic (8) and version (4)

uint32_t FileCrc(std::string_view covered) { return wal::MaskCrc(wal::Crc32c(covered)); }

Status ReadEntries(ByteReader* reader, uint64_t count, Snapshot* snapshot) {
  // Each entry takes at least two lengths and one key byte.
  if (count > reader->remaining() / 9) {
    return CorruptionAt(*reader, fmt::format("entry count {} exceeds what {} bytes can hold", count,
                                             reader->remaining()));
  }
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view key;
    std::string_view value;
    if (!reader->ReadLengthPrefixed(&key)) return CorruptionAt(*reader, "truncated key");
    if (key.empty()) return CorruptionAt(*reader, "empty key");
    if (!snapshot->data.empty() && !(snapshot->data.rbegin()->first < key)) {
      return CorruptionAt(*reader, fmt::format("key {} out of order", Printable(key)));
    }
    if (!reader->ReadLengthPrefixed(&value)) return CorruptionAt(*reader, "truncated value");
    snapshot->data.emplace_hint(snapshot->data.end(), std::string(key), std::string(value));
  }
  return Status::Ok();
}

Status ReadPrepared(ByteReader* reader, uint32_t count, Snapshot* snapshot) {
  if (count > reader->remaining() / (kBranchIdBytes + kWriteSetHeaderBytes)) {
    return CorruptionAt(*reader, fmt::format("prepared count {} exceeds what {} bytes can hold",
                                             count, reader->remaining()));
  }
  std::set<std::string_view> locked;  // views into the decoded write-sets, which stay put
  for (uint32_t i = 0; i < count; ++i) {
    BranchId branch;
    if (!reader->ReadBranchId(&branch)) return CorruptionAt(*reader, "truncated branch id");
    if (!branch.valid()) return CorruptionAt(*reader, fmt::format("invalid branch id {}", branch));
    if (!snapshot->prepared.empty() && !(snapshot->prepared.rbegin()->first < branch)) {
      return CorruptionAt(*reader, fmt::format("branch {} out of order", branch));
    }
    WriteSet write_set;
    PACT_RETURN_IF_ERROR(ReadWriteSet(reader, &write_set));
    if (write_set.empty()) {
      return CorruptionAt(*reader, fmt::format("prepared branch {} has no writes", branch));
    }
    const WriteSet& stored =
        snapshot->prepared.emplace_hint(snapshot->prepared.end(), branch, std::move(write_set))
            ->second;
    for (const auto& [key, value] : stored) {
      if (!locked.insert(key).second) {
        return CorruptionAt(*reader,
                            fmt::format("key {} is in two prepared branches", Printable(key)));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

SnapshotEncoder::SnapshotEncoder(wal::Lsn lsn, uint64_t entry_count) : entry_count_(entry_count) {
  out_.append(kSnapshotMagic);
  AppendFixed32(&out_, kSnapshotFormatVersion);
  AppendFixed64(&out_, 0);  // body length, filled in by Finish
  PACT_DCHECK(out_.size() == kSnapshotHeaderBytes);
  AppendFixed64(&out_, lsn);
  AppendFixed64(&out_, entry_count);
}

void SnapshotEncoder::AddEntry(std::string_view key, std::string_view value) {
  PACT_CHECK(!finished_ && prepared_count_offset_ == 0, "snapshot entry after prepared branches");
  PACT_CHECK(entries_added_ < entry_count_, "more than {} snapshot entries", entry_count_);
  PACT_CHECK(!key.empty() && (entries_added_ == 0 || last_key_ < key),
             "snapshot key {} is empty or out of order", Printable(key));
  AppendLengthPrefixed(&out_, key);
  AppendLengthPrefixed(&out_, value);
  last_key_.assign(key);
  ++entries_added_;
}

void SnapshotEncoder::AddPrepared(const BranchId& branch, const WriteSet& write_set) {
  PACT_CHECK(!finished_ && entries_added_ == entry_count_, "prepared branch before all {} entries",
             entry_count_);
  PACT_CHECK(branch.valid() && !write_set.empty(), "prepared branch {} is invalid or empty",
             branch);
  if (prepared_count_offset_ == 0) {
    prepared_count_offset_ = out_.size();
    AppendFixed32(&out_, 0);
  } else {
    PACT_CHECK(last_branch_ < branch, "prepared branch {} out of order", branch);
  }
  AppendBranchId(&out_, branch);
  AppendWriteSet(&out_, write_set);
  last_branch_ = branch;
  ++prepared_added_;
}

std::string SnapshotEncoder::Finish() {
  PACT_CHECK(!finished_ && entries_added_ == entry_count_, "snapshot has {} of {} entries",
             entries_added_, entry_count_);
  finished_ = true;
  if (prepared_count_offset_ == 0) {
    AppendFixed32(&out_, 0);
  } else {
    wal::PutFixed32(out_.data() + prepared_count_offset_, prepared_added_);
  }
  wal::PutFixed64(out_.data() + kBodyLengthOffset, out_.size() - kSnapshotHeaderBytes);
  AppendFixed32(&out_, FileCrc(out_));
  PACT_DCHECK(DecodeSnapshot(out_).ok());
  return std::move(out_);
}

Result<Snapshot> DecodeSnapshot(std::string_view file) {
  ByteReader reader(file);
  std::string_view magic;
  uint32_t version = 0;
  uint64_t body_bytes = 0;
  if (file.size() < kSnapshotHeaderBytes + kSnapshotTrailerBytes) {
    return Status::Corruption(fmt::format("{} bytes is too short for a snapshot", file.size()));
  }
  PACT_CHECK(reader.ReadBytes(kSnapshotMagic.size(), &magic));
  if (magic != kSnapshotMagic) return Status::Corruption("byte 0: not a KV snapshot (bad magic)");
  PACT_CHECK(reader.ReadFixed32(&version));
  if (version != kSnapshotFormatVersion) {
    return CorruptionAt(reader, fmt::format("unknown snapshot format version {} (this build "
                                            "reads {})",
                                            version, kSnapshotFormatVersion));
  }
  PACT_CHECK(reader.ReadFixed64(&body_bytes));
  if (body_bytes != file.size() - kSnapshotHeaderBytes - kSnapshotTrailerBytes) {
    return CorruptionAt(reader, fmt::format("body length {} disagrees with the file size {} "
                                            "(truncated or extended?)",
                                            body_bytes, file.size()));
  }
  const std::string_view covered = file.substr(0, file.size() - kSnapshotTrailerBytes);
  const uint32_t stored_crc = wal::GetFixed32(file.data() + covered.size());
  if (stored_crc != FileCrc(covered)) {
    return Status::Corruption(fmt::format("byte {}: checksum mismatch", covered.size()));
  }

  ByteReader body(covered);
  PACT_CHECK(body.ReadBytes(kSnapshotHeaderBytes, &magic));
  Snapshot snapshot;
  uint64_t entry_count = 0;
  uint32_t prepared_count = 0;
  if (!body.ReadFixed64(&snapshot.lsn)) return CorruptionAt(body, "truncated LSN");
  if (!body.ReadFixed64(&entry_count)) return CorruptionAt(body, "truncated entry count");
  PACT_RETURN_IF_ERROR(ReadEntries(&body, entry_count, &snapshot));
  if (!body.ReadFixed32(&prepared_count)) return CorruptionAt(body, "truncated prepared count");
  PACT_RETURN_IF_ERROR(ReadPrepared(&body, prepared_count, &snapshot));
  if (!body.done()) return CorruptionAt(body, fmt::format("{} trailing bytes", body.remaining()));
  return snapshot;
}

}  // namespace pact::kv
