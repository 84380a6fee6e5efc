#include "participant/kv/kv_coding.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/check.h"
#include "wal/log_format.h"

namespace pact::kv {
namespace {

constexpr size_t kPrintableBytesMax = 48;

}  // namespace

uint64_t OpBytes(std::string_view key, const std::optional<std::string>& value) {
  return OpBytes(key.size(),
                 value.has_value() ? std::optional<uint64_t>(value->size()) : std::nullopt);
}

uint64_t WriteSetOpBytes(const WriteSet& write_set) {
  uint64_t bytes = 0;
  for (const auto& [key, value] : write_set) bytes += OpBytes(key, value);
  return bytes;
}

void AppendFixed8(std::string* out, uint8_t value) { out->push_back(static_cast<char>(value)); }

void AppendFixed32(std::string* out, uint32_t value) {
  char buffer[4];
  wal::PutFixed32(buffer, value);
  out->append(buffer, sizeof(buffer));
}

void AppendFixed64(std::string* out, uint64_t value) {
  char buffer[8];
  wal::PutFixed64(buffer, value);
  out->append(buffer, sizeof(buffer));
}

void AppendLengthPrefixed(std::string* out, std::string_view bytes) {
  PACT_CHECK(bytes.size() <= UINT32_MAX, "{} bytes do not fit a 32-bit length", bytes.size());
  AppendFixed32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

void AppendBranchId(std::string* out, const BranchId& branch) {
  AppendFixed64(out, branch.txn.epoch);
  AppendFixed64(out, branch.txn.sequence);
  AppendFixed32(out, branch.branch);
}

void AppendWriteSet(std::string* out, const WriteSet& write_set) {
  PACT_CHECK(write_set.size() <= UINT32_MAX, "write-set of {} ops", write_set.size());
  AppendFixed32(out, static_cast<uint32_t>(write_set.size()));
  for (const auto& [key, value] : write_set) {
    PACT_CHECK(!key.empty(), "empty key in a write-set");
    AppendFixed8(out, static_cast<uint8_t>(value.has_value() ? OpKind::kPut : OpKind::kDelete));
    AppendLengthPrefixed(out, key);
    if (value.has_value()) AppendLengthPrefixed(out, *value);
  }
}

bool ByteReader::ReadFixed8(uint8_t* value) {
  if (remaining() < 1) return false;
  *value = static_cast<uint8_t>(data_[offset_]);
  offset_ += 1;
  return true;
}

bool ByteReader::ReadFixed32(uint32_t* value) {
  if (remaining() < 4) return false;
  *value = wal::GetFixed32(data_.data() + offset_);
  offset_ += 4;
  return true;
}

bool ByteReader::ReadFixed64(uint64_t* value) {
  if (remaining() < 8) return false;
  *value = wal::GetFixed64(data_.data() + offset_);
  offset_ += 8;
  return true;
}

bool ByteReader::ReadBytes(uint64_t count, std::string_view* bytes) {
  if (remaining() < count) return false;
  *bytes = data_.substr(offset_, count);
  offset_ += count;
  return true;
}

bool ByteReader::ReadLengthPrefixed(std::string_view* bytes) {
  if (remaining() < 4) return false;
  const uint32_t length = wal::GetFixed32(data_.data() + offset_);
  if (remaining() - 4 < length) return false;
  *bytes = data_.substr(offset_ + 4, length);
  offset_ += 4 + uint64_t{length};
  return true;
}

bool ByteReader::ReadBranchId(BranchId* branch) {
  if (remaining() < kBranchIdBytes) return false;
  PACT_CHECK(ReadFixed64(&branch->txn.epoch));
  PACT_CHECK(ReadFixed64(&branch->txn.sequence));
  PACT_CHECK(ReadFixed32(&branch->branch));
  return true;
}

Status CorruptionAt(const ByteReader& reader, std::string_view why) {
  return Status::Corruption(fmt::format("byte {}: {}", reader.offset(), why));
}

Status ReadWriteSet(ByteReader* reader, WriteSet* write_set) {
  write_set->clear();
  uint32_t count = 0;
  if (!reader->ReadFixed32(&count)) return CorruptionAt(*reader, "truncated op count");
  // Each op takes at least kOpHeaderBytes plus one key byte; refuse a count the bytes left
  // cannot hold before trusting it for anything.
  if (count > reader->remaining() / (kOpHeaderBytes + 1)) {
    return CorruptionAt(*reader, fmt::format("op count {} exceeds what {} bytes can hold", count,
                                             reader->remaining()));
  }
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t kind = 0;
    std::string_view key;
    if (!reader->ReadFixed8(&kind)) return CorruptionAt(*reader, "truncated op kind");
    if (kind != static_cast<uint8_t>(OpKind::kPut) &&
        kind != static_cast<uint8_t>(OpKind::kDelete)) {
      return CorruptionAt(*reader, fmt::format("unknown op kind {}", kind));
    }
    if (!reader->ReadLengthPrefixed(&key)) return CorruptionAt(*reader, "truncated key");
    if (key.empty()) return CorruptionAt(*reader, "empty key");
    if (!write_set->empty() && !(write_set->rbegin()->first < key)) {
      return CorruptionAt(
          *reader, fmt::format("key {} does not follow {} in ascending order", Printable(key),
                               Printable(write_set->rbegin()->first)));
    }
    std::optional<std::string> value;
    if (kind == static_cast<uint8_t>(OpKind::kPut)) {
      std::string_view bytes;
      if (!reader->ReadLengthPrefixed(&bytes)) return CorruptionAt(*reader, "truncated value");
      value.emplace(bytes);
    }
    write_set->emplace_hint(write_set->end(), std::string(key), std::move(value));
  }
  return Status::Ok();
}

std::string Printable(std::string_view bytes) {
  std::string out = "\"";
  const size_t shown = std::min(bytes.size(), kPrintableBytesMax);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += '"';
  if (shown < bytes.size()) out += fmt::format("...({} bytes)", bytes.size());
  return out;
}

}  // namespace pact::kv
