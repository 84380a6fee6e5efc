// The KV store's on-disk formats (docs/kv-store.md 3 and 4): round trips, and decoders fed
// cut, flipped and random bytes, which must refuse them with Corruption and never read past
// the input (run under ASan to check the latter).
#include <gtest/gtest.h>

#include <string>

#include "common/random.h"
#include "participant/kv/kv_coding.h"
#include "participant/kv/kv_record.h"
#include "participant/kv/kv_snapshot.h"
#include "wal/log_format.h"

namespace pact::kv {
namespace {

BranchId Branch(uint64_t sequence, uint32_t branch = 1) { return BranchId{{7, sequence}, branch}; }

WriteSet SampleWriteSet() {
  WriteSet writes;
  writes["apple"] = "red";
  writes["banana"] = std::nullopt;
  writes[std::string("bin\0ary", 7)] = std::string("\xff\x00\x01", 3);
  writes["empty-value"] = "";
  return writes;
}

TEST(KvRecordTest, PrepareRoundTrips) {
  const WriteSet writes = SampleWriteSet();
  const std::string bytes = EncodePrepare(Branch(3, 2), writes);
  EXPECT_EQ(bytes.size(), kPrepareOverheadBytes + WriteSetOpBytes(writes));
  Result<Record> record = DecodeRecord(bytes);
  ASSERT_TRUE(record.ok()) << record.status().ToString();
  EXPECT_EQ(record->type, RecordType::kPrepare);
  EXPECT_EQ(record->branch, Branch(3, 2));
  EXPECT_EQ(record->write_set, writes);
}

TEST(KvRecordTest, CommitAndRollbackRoundTrip) {
  for (RecordType type : {RecordType::kCommit, RecordType::kRollback}) {
    const std::string bytes = EncodeEnd(type, Branch(9));
    EXPECT_EQ(bytes.size(), kRecordHeaderBytes);
    Result<Record> record = DecodeRecord(bytes);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    EXPECT_EQ(*record, (Record{type, Branch(9), {}}));
  }
}

TEST(KvRecordTest, EveryTruncationIsCorruption) {
  const std::string bytes = EncodePrepare(Branch(3), SampleWriteSet());
  for (size_t size = 0; size < bytes.size(); ++size) {
    Result<Record> record = DecodeRecord(std::string_view(bytes).substr(0, size));
    ASSERT_FALSE(record.ok()) << "prefix of " << size << " bytes decoded";
    EXPECT_EQ(record.status().code(), StatusCode::kCorruption);
    EXPECT_NE(record.status().message().find("byte "), std::string::npos);
  }
}

TEST(KvRecordTest, TrailingBytesAreCorruption) {
  std::string bytes = EncodeEnd(RecordType::kCommit, Branch(3));
  bytes.push_back('\0');
  Result<Record> record = DecodeRecord(bytes);
  ASSERT_FALSE(record.ok());
  EXPECT_NE(record.status().message().find("trailing"), std::string::npos);
}

TEST(KvRecordTest, BadHeaderFieldsAreCorruption) {
  const std::string good = EncodeEnd(RecordType::kCommit, Branch(3));
  std::string version = good;
  version[0] = 2;
  EXPECT_NE(DecodeRecord(version).status().message().find("version 2"), std::string::npos);
  std::string type = good;
  type[1] = 4;
  EXPECT_NE(DecodeRecord(type).status().message().find("type 4"), std::string::npos);
  std::string zero_branch = good;
  for (size_t i = 2; i < kRecordHeaderBytes; ++i) zero_branch[i] = 0;
  EXPECT_NE(DecodeRecord(zero_branch).status().message().find("invalid branch"), std::string::npos);
}

// Hand-built write-sets: the encoder refuses to write these, the decoder must refuse to read.
std::string PrepareWithOps(uint32_t count, const std::string& ops) {
  std::string bytes = EncodeEnd(RecordType::kCommit, Branch(3));
  bytes[1] = static_cast<char>(RecordType::kPrepare);
  AppendFixed32(&bytes, count);
  return bytes + ops;
}

std::string Op(OpKind kind, std::string_view key, std::string_view value = "") {
  std::string op;
  AppendFixed8(&op, static_cast<uint8_t>(kind));
  AppendLengthPrefixed(&op, key);
  if (kind == OpKind::kPut) AppendLengthPrefixed(&op, value);
  return op;
}

TEST(KvRecordTest, MalformedWriteSetsAreCorruption) {
  const auto message = [](const std::string& bytes) {
    Result<Record> record = DecodeRecord(bytes);
    EXPECT_FALSE(record.ok());
    EXPECT_EQ(record.status().code(), StatusCode::kCorruption);
    return record.status().message();
  };
  EXPECT_NE(message(PrepareWithOps(0, "")).find("empty write-set"), std::string::npos);
  EXPECT_NE(message(PrepareWithOps(2, Op(OpKind::kPut, "b", "1") + Op(OpKind::kPut, "a", "2")))
                .find("ascending"),
            std::string::npos);
  EXPECT_NE(message(PrepareWithOps(2, Op(OpKind::kPut, "a", "1") + Op(OpKind::kDelete, "a")))
                .find("ascending"),
            std::string::npos);
  EXPECT_NE(message(PrepareWithOps(1, Op(OpKind::kPut, "", "xy"))).find("empty key"),
            std::string::npos);
  std::string bad_kind = Op(OpKind::kDelete, "a");
  bad_kind[0] = 9;
  EXPECT_NE(message(PrepareWithOps(1, bad_kind)).find("op kind 9"), std::string::npos);
  // A huge count is refused before anything is allocated for it.
  EXPECT_NE(message(PrepareWithOps(UINT32_MAX, Op(OpKind::kDelete, "a"))).find("op count"),
            std::string::npos);
  // A key length that runs past the end.
  std::string long_key = Op(OpKind::kDelete, "abc");
  wal::PutFixed32(long_key.data() + 1, 1000);
  EXPECT_NE(message(PrepareWithOps(1, long_key)).find("truncated key"), std::string::npos);
}

TEST(KvRecordTest, FlippedBitsNeverCrashTheDecoder) {
  const std::string good = EncodePrepare(Branch(3), SampleWriteSet());
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      Result<Record> record = DecodeRecord(bytes);
      if (!record.ok()) {
        EXPECT_EQ(record.status().code(), StatusCode::kCorruption);
        ++refused;
      }
    }
  }
  // The WAL's CRC catches the rest; here only the structure can be checked.
  EXPECT_GT(refused, 0);
}

TEST(KvRecordTest, RandomBytesNeverCrashTheDecoder) {
  Random random(42);
  for (int i = 0; i < 20000; ++i) {
    std::string bytes(random.Uniform(64), '\0');
    for (char& c : bytes) c = static_cast<char>(random.Uniform(256));
    if (!bytes.empty() && random.OneIn(2)) bytes[0] = static_cast<char>(kRecordFormatVersion);
    if (bytes.size() > 1 && random.OneIn(2)) bytes[1] = static_cast<char>(random.Range(1, 3));
    Result<Record> record = DecodeRecord(bytes);
    if (record.ok()) {
      EXPECT_TRUE(record->branch.valid());  // whatever decodes is well-formed
    } else {
      EXPECT_EQ(record.status().code(), StatusCode::kCorruption);
    }
  }
}

std::string SampleSnapshot() {
  SnapshotEncoder encoder(/*lsn=*/41, /*entry_count=*/3);
  encoder.AddEntry("a", "1");
  encoder.AddEntry("b", "");
  encoder.AddEntry(std::string("c\0", 2), std::string(300, 'x'));
  encoder.AddPrepared(Branch(1), SampleWriteSet());
  WriteSet other;
  other["zebra"] = "stripes";
  encoder.AddPrepared(Branch(2), other);
  return encoder.Finish();
}

TEST(KvSnapshotTest, RoundTrips) {
  Result<Snapshot> snapshot = DecodeSnapshot(SampleSnapshot());
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->lsn, 41u);
  ASSERT_EQ(snapshot->data.size(), 3u);
  EXPECT_EQ(snapshot->data.at("a"), "1");
  EXPECT_EQ(snapshot->data.at("b"), "");
  EXPECT_EQ(snapshot->data.at(std::string("c\0", 2)), std::string(300, 'x'));
  ASSERT_EQ(snapshot->prepared.size(), 2u);
  EXPECT_EQ(snapshot->prepared.at(Branch(1)), SampleWriteSet());
  EXPECT_EQ(snapshot->prepared.at(Branch(2)).at("zebra"), "stripes");
}

TEST(KvSnapshotTest, EmptyRoundTrips) {
  Result<Snapshot> snapshot = DecodeSnapshot(SnapshotEncoder(0, 0).Finish());
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->lsn, 0u);
  EXPECT_TRUE(snapshot->data.empty());
  EXPECT_TRUE(snapshot->prepared.empty());
}

TEST(KvSnapshotTest, EveryTruncationAndEveryFlippedBitIsCorruption) {
  const std::string good = SampleSnapshot();
  for (size_t size = 0; size < good.size(); ++size) {
    Result<Snapshot> snapshot = DecodeSnapshot(std::string_view(good).substr(0, size));
    ASSERT_FALSE(snapshot.ok()) << "prefix of " << size << " bytes decoded";
    EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
  }
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bytes = good;
      bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
      Result<Snapshot> snapshot = DecodeSnapshot(bytes);
      ASSERT_FALSE(snapshot.ok()) << "flip of bit " << bit << " of byte " << i << " decoded";
      EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
    }
  }
}

// Re-seals a snapshot whose body was edited, so that only the body checks can catch it.
std::string Reseal(std::string file) {
  file.resize(file.size() - kSnapshotTrailerBytes);
  AppendFixed32(&file, wal::MaskCrc(wal::Crc32c(file)));
  return file;
}

TEST(KvSnapshotTest, BodyChecksRunEvenWithAGoodChecksum) {
  // Two prepared branches writing one key: the encoder CHECKs nothing across branches.
  SnapshotEncoder encoder(5, 0);
  WriteSet writes;
  writes["k"] = "v";
  encoder.AddPrepared(Branch(1), writes);
  encoder.AddPrepared(Branch(2), writes);
  Result<Snapshot> shared = DecodeSnapshot(encoder.Finish());
  ASSERT_FALSE(shared.ok());
  EXPECT_NE(shared.status().message().find("two prepared branches"), std::string::npos);

  std::string file = SnapshotEncoder(5, 0).Finish();
  wal::PutFixed32(file.data() + 8, 2);  // version 2
  Result<Snapshot> version = DecodeSnapshot(Reseal(file));
  ASSERT_FALSE(version.ok());
  EXPECT_NE(version.status().message().find("version 2"), std::string::npos);

  std::string count = SnapshotEncoder(5, 0).Finish();
  wal::PutFixed64(count.data() + kSnapshotHeaderBytes + 8, uint64_t{1} << 60);  // entry count
  Result<Snapshot> huge = DecodeSnapshot(Reseal(count));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("entry count"), std::string::npos);
}

TEST(KvSnapshotTest, RandomBytesNeverCrashTheDecoder) {
  Random random(7);
  const std::string good = SampleSnapshot();
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = good.substr(0, random.Uniform(good.size() + 1));
    for (int flips = static_cast<int>(random.Uniform(4)); flips > 0 && !bytes.empty(); --flips) {
      bytes[random.Uniform(bytes.size())] = static_cast<char>(random.Uniform(256));
    }
    Result<Snapshot> snapshot = DecodeSnapshot(Reseal(bytes.size() >= 4 ? bytes : good));
    if (!snapshot.ok()) {
      EXPECT_EQ(snapshot.status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(KvSnapshotDeathTest, EncoderChecksKeyOrder) {
  EXPECT_DEATH(
      {
        SnapshotEncoder encoder(1, 2);
        encoder.AddEntry("b", "");
        encoder.AddEntry("a", "");
      },
      "out of order");
}

TEST(KvCodingTest, PrintableEscapesAndCuts) {
  EXPECT_EQ(Printable("abc"), "\"abc\"");
  EXPECT_EQ(Printable(std::string("a\0\"", 3)), "\"a\\x00\\\"\"");
  EXPECT_EQ(Printable(std::string(50, 'x')), "\"" + std::string(48, 'x') + "\"...(50 bytes)");
}

}  // namespace
}  // namespace pact::kv
