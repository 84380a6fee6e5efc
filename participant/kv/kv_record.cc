#include "participant/kv/kv_record.h"

#include <fmt/format.h>

#include "common/check.h"

namespace pact::kv {
namespace {

std::string EncodeHeader(RecordType type, const BranchId& branch) {
  PACT_CHECK(branch.valid(), "record for invalid branch {}", branch);
  std::string out;
  AppendFixed8(&out, kRecordFormatVersion);
  AppendFixed8(&out, static_cast<uint8_t>(type));
  AppendBranchId(&out, branch);
  PACT_DCHECK(out.size() == kRecordHeaderBytes);
  return out;
}

}  // namespace

std::string_view RecordTypeName(RecordType type) {
  switch (type) {
    case RecordType::kPrepare:
      return "PREPARE";
    case RecordType::kCommit:
      return "COMMIT";
    case RecordType::kRollback:
      return "ROLLBACK";
  }
  return "unknown";
}

std::string EncodePrepare(const BranchId& branch, const WriteSet& write_set) {
  PACT_CHECK(!write_set.empty(), "PREPARE of branch {} with an empty write-set", branch);
  std::string out = EncodeHeader(RecordType::kPrepare, branch);
  out.reserve(kPrepareOverheadBytes + WriteSetOpBytes(write_set));
  AppendWriteSet(&out, write_set);
  PACT_DCHECK(out.size() == kPrepareOverheadBytes + WriteSetOpBytes(write_set));
  PACT_DCHECK(DecodeRecord(out).ok() &&
              DecodeRecord(out).value() == (Record{RecordType::kPrepare, branch, write_set}));
  return out;
}

std::string EncodeEnd(RecordType type, const BranchId& branch) {
  PACT_CHECK(type == RecordType::kCommit || type == RecordType::kRollback,
             "EncodeEnd of a {} record", RecordTypeName(type));
  return EncodeHeader(type, branch);
}

Result<Record> DecodeRecord(std::string_view bytes) {
  ByteReader reader(bytes);
  uint8_t version = 0;
  uint8_t type = 0;
  Record record;
  if (!reader.ReadFixed8(&version)) return CorruptionAt(reader, "empty record");
  if (version != kRecordFormatVersion) {
    return CorruptionAt(
        reader, fmt::format("unknown record format version {} (this build reads {})", version,
                            kRecordFormatVersion));
  }
  if (!reader.ReadFixed8(&type)) return CorruptionAt(reader, "truncated record type");
  if (type < static_cast<uint8_t>(RecordType::kPrepare) ||
      type > static_cast<uint8_t>(RecordType::kRollback)) {
    return CorruptionAt(reader, fmt::format("unknown record type {}", type));
  }
  record.type = static_cast<RecordType>(type);
  if (!reader.ReadBranchId(&record.branch)) return CorruptionAt(reader, "truncated branch id");
  if (!record.branch.valid()) {
    return CorruptionAt(reader, fmt::format("invalid branch id {}", record.branch));
  }
  if (record.type == RecordType::kPrepare) {
    PACT_RETURN_IF_ERROR(ReadWriteSet(&reader, &record.write_set));
    if (record.write_set.empty()) return CorruptionAt(reader, "PREPARE with an empty write-set");
  }
  if (!reader.done()) {
    return CorruptionAt(reader, fmt::format("{} trailing bytes after a {} record",
                                            reader.remaining(), RecordTypeName(record.type)));
  }
  return record;
}

}  // namespace pact::kv
