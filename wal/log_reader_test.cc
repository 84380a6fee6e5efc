// Tests of LogWriter and LogReader together: the fragment format at block boundaries, and how
// the reader reports a segment cut, flipped or mixed with stale bytes (docs/wal-format.md 2, 6).
#include "wal/log_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "common/fault_injecting_file_system.h"
#include "common/random.h"
#include "wal/log_format.h"
#include "wal/log_writer.h"

namespace pact::wal {
namespace {

constexpr char kPath[] = "/seg.wal";

struct Encoded {
  std::string bytes;
  std::vector<uint64_t> starts;  // first fragment of each record
  std::vector<uint64_t> ends;    // just past each record
};

Encoded EncodeSegment(uint32_t log_number, Lsn first_lsn, const std::vector<std::string>& records) {
  Encoded encoded;
  LogWriter writer(log_number);
  writer.AddHeader(first_lsn, &encoded.bytes);
  for (const std::string& record : records) {
    const uint64_t offset = writer.offset();
    const uint64_t block_left = kBlockBytes - offset % kBlockBytes;
    encoded.starts.push_back(block_left < kFragmentHeaderBytes ? offset + block_left : offset);
    writer.AddRecord(record, &encoded.bytes);
    encoded.ends.push_back(writer.offset());
    EXPECT_EQ(writer.offset(), encoded.bytes.size());
  }
  return encoded;
}

struct ReadResult {
  std::optional<Lsn> first_lsn;
  std::vector<std::string> records;
  std::optional<SegmentDamage> damage;
  uint64_t valid_end = 0;
  Status status;
};

ReadResult ReadSegment(std::string_view bytes, uint32_t log_number,
                       uint64_t record_bytes_max = kRecordBytesLimit) {
  FaultInjectingFileSystem fs;
  auto writable = fs.NewWritableFile(kPath);
  PACT_CHECK_OK(writable.status());
  PACT_CHECK_OK((*writable)->Append(bytes));
  auto file = fs.OpenReadableFile(kPath);
  PACT_CHECK_OK(file.status());
  LogReader reader(file->get(), kPath, log_number, record_bytes_max);
  ReadResult result;
  auto header = reader.ReadHeader();
  if (!header.ok()) {
    result.status = header.status();
    return result;
  }
  result.first_lsn = *header;
  if (result.first_lsn.has_value()) {
    std::string record;
    while (true) {
      auto got = reader.ReadRecord(&record);
      if (!got.ok()) {
        result.status = got.status();
        break;
      }
      if (!*got) break;
      result.records.push_back(record);
    }
  }
  result.damage = reader.damage();
  result.valid_end = reader.valid_end_offset();
  return result;
}

std::string Payload(Random& random, size_t size) {
  std::string payload(size, '\0');
  for (char& c : payload) c = static_cast<char>(random.Uniform(256));
  return payload;
}

FragmentType TypeAt(const std::string& bytes, uint64_t offset) {
  return static_cast<FragmentType>(bytes[offset + 6]);
}
uint16_t LengthAt(const std::string& bytes, uint64_t offset) {
  return GetFixed16(bytes.data() + offset + 4);
}

TEST(LogWriterTest, EncodedBytesPredictsAddRecordAtEveryOffsetNearABlockEnd) {
  Random random(7);
  for (uint64_t before = 0; before < 40; ++before) {
    for (uint64_t size : {0ul, 1ul, 10ul, 11ul, 12ul, 100ul, 32757ul, 32758ul, 70000ul}) {
      // Place the writer `before` bytes short of the end of block 1.
      std::string out;
      LogWriter writer(3);
      writer.AddHeader(1, &out);
      const uint64_t target = 2 * kBlockBytes - before;
      // Filler records until the remaining gap is small, then one sized to land on target.
      while (target - writer.offset() > 2 * kBlockBytes / 3) writer.AddRecord("filler", &out);
      const uint64_t gap = target - writer.offset();
      if (gap >= kFragmentHeaderBytes)
        writer.AddRecord(std::string(gap - kFragmentHeaderBytes, 'f'), &out);
      const uint64_t predicted = writer.EncodedBytes(size);
      const size_t size_before = out.size();
      writer.AddRecord(Payload(random, size), &out);
      EXPECT_EQ(out.size() - size_before, predicted) << "before=" << before << " size=" << size;
      EXPECT_EQ(writer.offset(), out.size());
    }
  }
}

TEST(LogWriterTest, RecordEndingExactlyAtABlockBoundary) {
  // Header (31) + fragment header (11) + 32726 = 32768: the record fills block 0 exactly.
  const std::string exact(kBlockBytes - kSegmentHeaderBytes - kFragmentHeaderBytes, 'x');
  const Encoded encoded = EncodeSegment(1, 1, {exact, "next"});
  EXPECT_EQ(encoded.ends[0], kBlockBytes);
  EXPECT_EQ(TypeAt(encoded.bytes, kSegmentHeaderBytes), FragmentType::kFull);
  EXPECT_EQ(encoded.starts[1], kBlockBytes);
  EXPECT_EQ(TypeAt(encoded.bytes, kBlockBytes), FragmentType::kFull);
  const ReadResult read = ReadSegment(encoded.bytes, 1);
  ASSERT_TRUE(read.status.ok()) << read.status.ToString();
  EXPECT_FALSE(read.damage.has_value());
  EXPECT_EQ(read.records, (std::vector<std::string>{exact, "next"}));
}

TEST(LogWriterTest, ExactlyAHeadersRoomLeftStartsWithAnEmptyFirstFragment) {
  // The first record ends 11 bytes short of the block end.
  const std::string filler(kBlockBytes - kSegmentHeaderBytes - 2 * kFragmentHeaderBytes, 'f');
  const Encoded encoded = EncodeSegment(1, 1, {filler, "xyz", ""});
  ASSERT_EQ(encoded.ends[0], kBlockBytes - kFragmentHeaderBytes);
  EXPECT_EQ(TypeAt(encoded.bytes, encoded.ends[0]), FragmentType::kFirst);
  EXPECT_EQ(LengthAt(encoded.bytes, encoded.ends[0]), 0);
  EXPECT_EQ(TypeAt(encoded.bytes, kBlockBytes), FragmentType::kLast);
  EXPECT_EQ(LengthAt(encoded.bytes, kBlockBytes), 3);
  const ReadResult read = ReadSegment(encoded.bytes, 1);
  EXPECT_FALSE(read.damage.has_value());
  EXPECT_EQ(read.records, (std::vector<std::string>{filler, "xyz", ""}));

  // An empty record there is one empty kFull fragment that ends the block exactly.
  const Encoded empty = EncodeSegment(1, 1, {filler, "", "after"});
  EXPECT_EQ(TypeAt(empty.bytes, empty.ends[0]), FragmentType::kFull);
  EXPECT_EQ(empty.ends[1], kBlockBytes);
  EXPECT_EQ(ReadSegment(empty.bytes, 1).records, (std::vector<std::string>{filler, "", "after"}));
}

TEST(LogWriterTest, LessThanAHeaderLeftIsAZeroTrailer) {
  const std::string filler(kBlockBytes - kSegmentHeaderBytes - kFragmentHeaderBytes - 10, 'f');
  const Encoded encoded = EncodeSegment(1, 1, {filler, "after the trailer"});
  ASSERT_EQ(encoded.ends[0], kBlockBytes - 10);
  EXPECT_EQ(encoded.bytes.substr(kBlockBytes - 10, 10), std::string(10, '\0'));
  EXPECT_EQ(encoded.starts[1], kBlockBytes);
  const ReadResult read = ReadSegment(encoded.bytes, 1);
  EXPECT_FALSE(read.damage.has_value());
  EXPECT_EQ(read.records, (std::vector<std::string>{filler, "after the trailer"}));
  // A file that ends inside the trailer ends cleanly: the trailer is not a record.
  const ReadResult cut = ReadSegment(std::string_view(encoded.bytes).substr(0, kBlockBytes - 4), 1);
  EXPECT_FALSE(cut.damage.has_value());
  EXPECT_EQ(cut.records.size(), 1u);
  // ...but a non-zero trailer is damage.
  std::string dirty = encoded.bytes;
  dirty[kBlockBytes - 3] = 1;
  const ReadResult dirty_read = ReadSegment(dirty, 1);
  ASSERT_TRUE(dirty_read.damage.has_value());
  EXPECT_EQ(dirty_read.damage->offset, kBlockBytes - 10);
  EXPECT_TRUE(dirty_read.damage->valid_fragment_follows);
}

TEST(LogWriterTest, RecordsSpanningSeveralBlocks) {
  Random random(11);
  const std::vector<std::string> records = {Payload(random, 100000), "", Payload(random, 5),
                                            Payload(random, 3 * kBlockBytes), ""};
  const Encoded encoded = EncodeSegment(9, 77, records);
  EXPECT_EQ(TypeAt(encoded.bytes, encoded.starts[0]), FragmentType::kFirst);
  EXPECT_EQ(TypeAt(encoded.bytes, kBlockBytes), FragmentType::kMiddle);
  EXPECT_EQ(TypeAt(encoded.bytes, 2 * kBlockBytes), FragmentType::kMiddle);
  EXPECT_EQ(TypeAt(encoded.bytes, 3 * kBlockBytes), FragmentType::kLast);
  const ReadResult read = ReadSegment(encoded.bytes, 9);
  ASSERT_TRUE(read.status.ok());
  EXPECT_EQ(read.first_lsn, 77u);
  EXPECT_FALSE(read.damage.has_value());
  EXPECT_EQ(read.records, records);
  EXPECT_EQ(read.valid_end, encoded.bytes.size());
}

TEST(LogWriterTest, ManyEmptyRecordsCrossBlocks) {
  const std::vector<std::string> records(10000, "");  // 110 KB of headers
  const Encoded encoded = EncodeSegment(1, 1, records);
  const ReadResult read = ReadSegment(encoded.bytes, 1);
  EXPECT_FALSE(read.damage.has_value());
  EXPECT_EQ(read.records, records);
}

// Every cut of the file: the reader returns exactly the records wholly before the cut, and
// reports damage from the first incomplete record on, with nothing valid after it.
TEST(LogReaderTest, CutAtEveryOffsetReturnsTheWholeRecordsBeforeIt) {
  Random random(5);
  std::vector<std::string> records;
  for (int i = 0; i < 40; ++i) records.push_back(Payload(random, random.Uniform(300)));
  records.push_back(Payload(random, 40000));  // crosses a block boundary
  records.push_back("");
  records.push_back(Payload(random, 200));
  const Encoded encoded = EncodeSegment(2, 10, records);
  // Sanitizer builds (about 50x slower here) cut every byte near a block or record boundary
  // and every 41st byte elsewhere; the normal build cuts at every byte.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr bool kEveryByte = false;
#else
  constexpr bool kEveryByte = true;
#endif
  auto near_boundary = [&](uint64_t cut) {
    const uint64_t in_block = cut % kBlockBytes;
    if (in_block < 32 || in_block > kBlockBytes - 32) return true;
    return std::any_of(encoded.starts.begin(), encoded.starts.end(),
                       [&](uint64_t start) { return cut + 32 > start && cut < start + 32; });
  };
  for (uint64_t cut = kSegmentHeaderBytes; cut <= encoded.bytes.size(); ++cut) {
    if (!kEveryByte && cut % 41 != 0 && !near_boundary(cut)) continue;
    const ReadResult read = ReadSegment(std::string_view(encoded.bytes).substr(0, cut), 2);
    ASSERT_TRUE(read.status.ok()) << read.status.ToString();
    size_t whole = 0;
    while (whole < records.size() && encoded.ends[whole] <= cut) ++whole;
    ASSERT_EQ(read.records.size(), whole) << "cut at " << cut;
    for (size_t i = 0; i < whole; ++i) ASSERT_EQ(read.records[i], records[i]);
    const bool clean = whole == records.size() || cut <= encoded.starts[whole];
    ASSERT_EQ(read.damage.has_value(), !clean) << "cut at " << cut;
    if (!clean) {
      EXPECT_EQ(read.damage->offset, encoded.starts[whole]) << "cut at " << cut;
      EXPECT_FALSE(read.damage->valid_fragment_follows) << "cut at " << cut;
    }
  }
}

TEST(LogReaderTest, CutInsideTheHeaderIsAHeaderDamage) {
  const Encoded encoded = EncodeSegment(1, 1, {"a"});
  for (uint64_t cut = 0; cut < kSegmentHeaderBytes; ++cut) {
    const ReadResult read = ReadSegment(std::string_view(encoded.bytes).substr(0, cut), 1);
    ASSERT_TRUE(read.status.ok());
    EXPECT_FALSE(read.first_lsn.has_value());
    ASSERT_TRUE(read.damage.has_value());
    EXPECT_EQ(read.damage->offset, 0u);
    EXPECT_FALSE(read.damage->valid_fragment_follows);
  }
}

TEST(LogReaderTest, EveryBitFlipIsDetected) {
  Random random(99);
  std::vector<std::string> records;
  for (int i = 0; i < 20; ++i) records.push_back(Payload(random, random.Uniform(100)));
  const Encoded encoded = EncodeSegment(4, 1, records);
  // Every bit of every byte of the file.
  for (uint64_t offset = 0; offset < encoded.bytes.size(); ++offset) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = encoded.bytes;
      flipped[offset] = static_cast<char>(flipped[offset] ^ (1 << bit));
      const ReadResult read = ReadSegment(flipped, 4);
      ASSERT_TRUE(read.status.ok());
      ASSERT_TRUE(read.damage.has_value()) << "flip at " << offset << " bit " << bit;
      // Whatever came back is an exact prefix of what was written.
      ASSERT_LE(read.records.size(), records.size());
      for (size_t i = 0; i < read.records.size(); ++i) ASSERT_EQ(read.records[i], records[i]);
      if (offset < kSegmentHeaderBytes) {
        EXPECT_FALSE(read.first_lsn.has_value());
        EXPECT_TRUE(read.damage->valid_fragment_follows);
        continue;
      }
      size_t hit = 0;
      while (encoded.ends[hit] <= offset) ++hit;
      EXPECT_EQ(read.records.size(), hit);
      EXPECT_EQ(read.damage->offset, encoded.starts[hit]);
      // The damage is a possible torn tail only in the very last fragment.
      EXPECT_EQ(read.damage->valid_fragment_follows, hit + 1 < records.size())
          << "flip at " << offset << " bit " << bit;
    }
  }
}

TEST(LogReaderTest, StaleFragmentsOfAnotherLogNumberEndTheSegment) {
  // A recycled file: the new segment (log 8) overwrote the start of an old one (log 3) whose
  // records had the same sizes, so the first stale fragment starts right where the new data
  // ends and passes its own checksum.
  const std::vector<std::string> old_records(30, std::string(50, 'o'));
  const std::vector<std::string> new_records(12, std::string(50, 'n'));
  const Encoded old_segment = EncodeSegment(3, 1, old_records);
  const Encoded new_segment = EncodeSegment(8, 500, new_records);
  std::string recycled = old_segment.bytes;
  recycled.replace(0, new_segment.bytes.size(), new_segment.bytes);
  const ReadResult read = ReadSegment(recycled, 8);
  EXPECT_EQ(read.records, new_records);
  ASSERT_TRUE(read.damage.has_value());
  EXPECT_EQ(read.damage->offset, new_segment.bytes.size());
  EXPECT_NE(read.damage->reason.find("stale"), std::string::npos) << read.damage->reason;
  EXPECT_FALSE(read.damage->valid_fragment_follows);
  // The same bytes read as log 3 would be a different story: its own old records after a
  // header of another log. (This is what the log number in every fragment is for.)
  const ReadResult as_old = ReadSegment(recycled, 3);
  EXPECT_FALSE(as_old.first_lsn.has_value());
  EXPECT_TRUE(as_old.damage->valid_fragment_follows);
}

TEST(LogReaderTest, OutOfSequenceFragmentsAreNotATornTail) {
  std::string bytes;
  LogWriter writer(1);
  writer.AddHeader(1, &bytes);
  writer.AddRecord("ok", &bytes);
  const uint64_t bad = bytes.size();
  auto add_fragment = [&](FragmentType type, std::string_view payload) {
    char header[kFragmentHeaderBytes];
    EncodeFragmentHeader(type, 1, payload, header);
    bytes.append(header, kFragmentHeaderBytes);
    bytes.append(payload);
  };
  add_fragment(FragmentType::kFirst, "a");
  add_fragment(FragmentType::kFull, "b");  // kFirst without its kLast
  const ReadResult read = ReadSegment(bytes, 1);
  EXPECT_EQ(read.records, std::vector<std::string>{"ok"});
  ASSERT_TRUE(read.damage.has_value());
  EXPECT_EQ(read.damage->offset, bad);
  EXPECT_TRUE(read.damage->valid_fragment_follows);

  std::string orphan;
  LogWriter orphan_writer(1);
  orphan_writer.AddHeader(1, &orphan);
  bytes = orphan;
  add_fragment(FragmentType::kLast, "tail");
  const ReadResult orphan_read = ReadSegment(bytes, 1);
  EXPECT_TRUE(orphan_read.records.empty());
  ASSERT_TRUE(orphan_read.damage.has_value());
  EXPECT_TRUE(orphan_read.damage->valid_fragment_follows);
}

TEST(LogReaderTest, RecordLongerThanTheLimitIsCorruption) {
  const Encoded encoded = EncodeSegment(1, 1, {"short", std::string(1000, 'x')});
  const ReadResult read = ReadSegment(encoded.bytes, 1, 999);
  EXPECT_EQ(read.records, std::vector<std::string>{"short"});
  EXPECT_EQ(read.status.code(), StatusCode::kCorruption);
  EXPECT_NE(read.status.message().find("record_bytes_max"), std::string::npos);
}

TEST(LogReaderTest, ZeroFilledTailIsDamageWithNothingValidAfter) {
  const Encoded encoded = EncodeSegment(1, 1, {"one", "two"});
  const std::string zeros = encoded.bytes + std::string(5000, '\0');
  const ReadResult read = ReadSegment(zeros, 1);
  EXPECT_EQ(read.records, (std::vector<std::string>{"one", "two"}));
  ASSERT_TRUE(read.damage.has_value());
  EXPECT_EQ(read.damage->offset, encoded.bytes.size());
  EXPECT_FALSE(read.damage->valid_fragment_follows);
}

}  // namespace
}  // namespace pact::wal
