// Tests of Log: recovery (cuts, bit flips, crashes, recycled bytes), segments, limits, fail-stop.
// Everything here runs on FaultInjectingFileSystem from one thread; log_concurrency_test.cc
// has the multi-threaded tests.
#include "wal/log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/fault_injecting_file_system.h"
#include "common/random.h"
#include "wal/log_format.h"
#include "wal/log_reader.h"
#include "wal/log_writer.h"

namespace pact::wal {
namespace {

constexpr char kDir[] = "/wal";
using Crash = FaultInjectingFileSystem::UnsyncedOnCrash;

std::string SegmentPathFor(uint32_t log_number) {
  return JoinPath(kDir, SegmentFileName(log_number));
}

LogOptions Options(uint64_t segment_bytes_max = uint64_t{64} << 20) {
  LogOptions options;
  options.dir = kDir;
  options.segment_bytes_max = segment_bytes_max;
  return options;
}

struct Opened {
  Status status;
  std::unique_ptr<Log> log;
  std::vector<std::pair<Lsn, std::string>> replayed;
  RecoveryReport report;
};

Opened OpenLog(FileSystem* fs, const LogOptions& options) {
  Opened opened;
  auto result = Log::Open(
      fs, options,
      [&](Lsn lsn, std::string_view record) {
        opened.replayed.emplace_back(lsn, std::string(record));
        return Status::Ok();
      },
      &opened.report);
  if (result.ok()) {
    opened.log = std::move(result).value();
  } else {
    opened.status = result.status();
  }
  return opened;
}

std::string Payload(Random& random, size_t size) {
  std::string payload(size, '\0');
  for (char& c : payload) c = static_cast<char>('a' + random.Uniform(26));
  return payload;
}

void WriteDurably(FaultInjectingFileSystem& fs, const std::string& path, std::string_view bytes) {
  PACT_CHECK_OK(fs.CreateDirs(ParentDir(path)));
  auto file = fs.NewWritableFile(path);
  PACT_CHECK_OK(file.status());
  PACT_CHECK_OK((*file)->Append(bytes));
  PACT_CHECK_OK((*file)->Sync());
  PACT_CHECK_OK((*file)->Close());
  PACT_CHECK_OK(fs.SyncDir(ParentDir(path)));
}

std::string ReadAll(FileSystem& fs, const std::string& path) {
  auto bytes = fs.ReadFileToString(path);
  PACT_CHECK_OK(bytes.status());
  return *bytes;
}

std::vector<std::string> SegmentNames(FileSystem& fs) {
  auto names = fs.ListDir(kDir);
  PACT_CHECK_OK(names.status());
  return *names;
}

// Where each record of a segment starts and ends, as the format places them.
struct Layout {
  std::string bytes;
  std::vector<uint64_t> starts, ends;
};
Layout EncodeSegment(uint32_t log_number, Lsn first_lsn, const std::vector<std::string>& records) {
  Layout layout;
  LogWriter writer(log_number);
  writer.AddHeader(first_lsn, &layout.bytes);
  for (const std::string& record : records) {
    const uint64_t offset = writer.offset();
    const uint64_t left = kBlockBytes - offset % kBlockBytes;
    layout.starts.push_back(left < kFragmentHeaderBytes ? offset + left : offset);
    writer.AddRecord(record, &layout.bytes);
    layout.ends.push_back(writer.offset());
  }
  return layout;
}

std::vector<std::pair<Lsn, std::string>> Numbered(const std::vector<std::string>& records,
                                                  size_t count, Lsn first = 1) {
  std::vector<std::pair<Lsn, std::string>> numbered;
  for (size_t i = 0; i < count; ++i) numbered.emplace_back(first + i, records[i]);
  return numbered;
}

TEST(LogTest, EmptyLogAppendsReopensAndContinuesTheLsns) {
  FaultInjectingFileSystem fs;
  Opened first = OpenLog(&fs, Options());
  ASSERT_TRUE(first.status.ok()) << first.status.ToString();
  EXPECT_EQ(first.report.records, 0u);
  EXPECT_EQ(SegmentNames(fs), std::vector<std::string>{"0000000001.wal"});
  Log& log = *first.log;
  EXPECT_EQ(log.last_lsn(), kNoLsn);
  EXPECT_EQ(*log.Append("one"), 1u);
  EXPECT_EQ(*log.Append(""), 2u);
  EXPECT_EQ(*log.AppendDurable("three"), 3u);
  EXPECT_EQ(log.durable_lsn(), 3u);
  EXPECT_TRUE(log.WaitDurable(0).ok());
  EXPECT_EQ(log.WaitDurable(4).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(log.Close().ok());
  EXPECT_TRUE(log.Close().ok());
  EXPECT_EQ(log.Append("late").status().code(), StatusCode::kFailedPrecondition);

  Opened second = OpenLog(&fs, Options());
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.replayed,
            (std::vector<std::pair<Lsn, std::string>>{{1, "one"}, {2, ""}, {3, "three"}}));
  EXPECT_EQ(second.report.records, 3u);
  EXPECT_EQ(second.report.first_lsn, 1u);
  EXPECT_EQ(second.report.last_lsn, 3u);
  EXPECT_FALSE(second.report.truncated_tail);
  EXPECT_EQ(SegmentNames(fs), (std::vector<std::string>{"0000000001.wal", "0000000002.wal"}));
  EXPECT_EQ(second.log->last_lsn(), 3u);
  EXPECT_EQ(second.log->durable_lsn(), 3u);
  EXPECT_EQ(*second.log->AppendDurable("four"), 4u);
}

TEST(LogTest, TheLogWritesExactlyTheFormatOfTheSpecification) {
  FaultInjectingFileSystem fs;
  Random random(3);
  std::vector<std::string> records;
  for (int i = 0; i < 50; ++i) records.push_back(Payload(random, random.Uniform(3000)));
  records.push_back(Payload(random, 70000));
  Opened opened = OpenLog(&fs, Options());
  for (const std::string& record : records) ASSERT_TRUE(opened.log->Append(record).ok());
  ASSERT_TRUE(opened.log->Close().ok());
  EXPECT_EQ(ReadAll(fs, SegmentPathFor(1)), EncodeSegment(1, 1, records).bytes);
}

// The required test: a cut at every byte offset within the last 64 records; exactly the
// records wholly written before the cut come back, and the torn part is cut off durably.
TEST(LogTest, CutAtEveryOffsetWithinTheLast64RecordsKeepsExactlyTheWholeRecords) {
  Random random(42);
  std::vector<std::string> records;
  for (int i = 0; i < 100; ++i) records.push_back(Payload(random, random.Uniform(200)));
  // A filler record (not cut) that leaves 30 bytes in its block, so that the first of the last
  // 64 records has all three kinds of fragments: a short kFirst, a whole-block kMiddle, kLast.
  LogWriter model(1);
  std::string scratch;
  model.AddHeader(1, &scratch);
  for (const std::string& record : records) model.AddRecord(record, &scratch);
  size_t filler = 0;
  while ((model.offset() + model.EncodedBytes(filler)) % kBlockBytes != kBlockBytes - 30) ++filler;
  records.push_back(Payload(random, filler));
  for (int i = 0; i < 64; ++i) {
    size_t size = random.Uniform(120);
    if (i == 0) size = kBlockBytes + 40;
    if (i == 30) size = 0;
    records.push_back(Payload(random, size));
  }
  const Layout layout = EncodeSegment(1, 1, records);
  {
    // The cut files stand for what Log writes; check that once.
    FaultInjectingFileSystem fs;
    Opened opened = OpenLog(&fs, Options());
    for (const std::string& record : records) ASSERT_TRUE(opened.log->Append(record).ok());
    ASSERT_TRUE(opened.log->Close().ok());
    ASSERT_EQ(ReadAll(fs, SegmentPathFor(1)), layout.bytes);
  }
  const uint64_t big = records.size() - 64;
  ASSERT_EQ(layout.bytes[layout.starts[big] + 6], static_cast<char>(FragmentType::kFirst));
  ASSERT_EQ(layout.ends[big] / kBlockBytes - layout.starts[big] / kBlockBytes, 2u);
  const size_t first_cut_record = records.size() - 64;
  // Sanitizer builds (about 50x slower here) cut every byte near a fragment boundary and every
  // 41st byte elsewhere; the normal build cuts at every byte.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr bool kEveryByte = false;
#else
  constexpr bool kEveryByte = true;
#endif
  auto near_boundary = [&](uint64_t cut) {
    const uint64_t in_block = cut % kBlockBytes;
    if (in_block < 32 || in_block > kBlockBytes - 32) return true;
    for (size_t i = first_cut_record; i < records.size(); ++i) {
      if (cut + 32 > layout.starts[i] && cut < layout.starts[i] + 32) return true;
    }
    return false;
  };
  uint64_t cuts = 0;
  for (uint64_t cut = layout.starts[first_cut_record]; cut <= layout.bytes.size(); ++cut) {
    if (!kEveryByte && cut % 41 != 0 && !near_boundary(cut)) continue;
    FaultInjectingFileSystem fs;
    WriteDurably(fs, SegmentPathFor(1), std::string_view(layout.bytes).substr(0, cut));
    Opened opened = OpenLog(&fs, Options());
    ASSERT_TRUE(opened.status.ok()) << "cut at " << cut << ": " << opened.status.ToString();
    size_t whole = 0;
    while (whole < records.size() && layout.ends[whole] <= cut) ++whole;
    ASSERT_EQ(opened.replayed.size(), whole) << "cut at " << cut;
    ASSERT_EQ(opened.replayed, Numbered(records, whole)) << "cut at " << cut;
    // A cut inside a block trailer loses nothing but zeros: not a torn record.
    const bool torn = whole < records.size() && cut > layout.starts[whole];
    ASSERT_EQ(opened.report.truncated_tail, torn) << "cut at " << cut;
    if (torn) {
      EXPECT_EQ(opened.report.truncated_file, SegmentPathFor(1));
      EXPECT_EQ(opened.report.truncated_offset, layout.starts[whole]);
      EXPECT_EQ(opened.report.truncated_bytes, cut - layout.starts[whole]);
      EXPECT_EQ(*fs.DurableSize(SegmentPathFor(1)), layout.starts[whole]);
    }
    EXPECT_EQ(opened.log->last_lsn(), whole);
    if (cut % 97 == 0) {
      // The repaired log is clean even for strict recovery and continues the LSNs.
      EXPECT_EQ(*opened.log->AppendDurable("after"), whole + 1);
      opened.log.reset();
      fs.Crash(Crash::kLose);
      LogOptions strict = Options();
      strict.recovery_mode = RecoveryMode::kStrict;
      Opened again = OpenLog(&fs, strict);
      ASSERT_TRUE(again.status.ok()) << again.status.ToString();
      ASSERT_EQ(again.replayed.size(), whole + 1);
      EXPECT_EQ(again.replayed.back(), (std::pair<Lsn, std::string>{whole + 1, "after"}));
    }
    ++cuts;
  }
  EXPECT_GT(cuts, kEveryByte ? 64u * 60 : 64u * 20);
}

// A segment file is read back with its records' positions (after a clean Close).
struct SegmentContent {
  uint32_t log_number;
  std::string bytes;
  Lsn first_lsn;
  std::vector<uint64_t> starts, ends;
};

std::vector<SegmentContent> ReadSegments(FaultInjectingFileSystem& fs) {
  std::vector<SegmentContent> segments;
  for (const std::string& name : SegmentNames(fs)) {
    SegmentContent segment;
    segment.log_number = *ParseSegmentFileName(name);
    segment.bytes = ReadAll(fs, JoinPath(kDir, name));
    auto file = fs.OpenReadableFile(JoinPath(kDir, name));
    PACT_CHECK_OK(file.status());
    LogReader reader(file->get(), name, segment.log_number, kRecordBytesLimit);
    segment.first_lsn = **reader.ReadHeader();
    std::string record;
    uint64_t end = reader.valid_end_offset();
    while (*reader.ReadRecord(&record)) {
      const uint64_t left = kBlockBytes - end % kBlockBytes;
      segment.starts.push_back(left < kFragmentHeaderBytes ? end + left : end);
      end = reader.valid_end_offset();
      segment.ends.push_back(end);
    }
    PACT_CHECK(!reader.damage().has_value());
    segments.push_back(std::move(segment));
  }
  return segments;
}

TEST(LogTest, RandomBitFlipsInRandomRecordsAreAlwaysDetected) {
  Random random(2024);
  std::vector<std::string> records;
  for (int i = 0; i < 120; ++i) {
    records.push_back(Payload(random, random.OneIn(15) ? 40000 : random.Uniform(2000)));
  }
  FaultInjectingFileSystem original;
  {
    Opened opened = OpenLog(&original, Options(48 << 10));
    for (const std::string& record : records) ASSERT_TRUE(opened.log->Append(record).ok());
    ASSERT_TRUE(opened.log->Close().ok());
  }
  const std::vector<SegmentContent> segments = ReadSegments(original);
  ASSERT_GE(segments.size(), 3u);  // the flips hit segments that are not the last, too
  int tails = 0, corruptions = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t s = random.Uniform(segments.size());
    const SegmentContent& segment = segments[s];
    ASSERT_FALSE(segment.starts.empty());
    const size_t r = random.Uniform(segment.starts.size());
    const uint64_t offset = random.Range(segment.starts[r], segment.ends[r] - 1);
    const uint8_t mask = static_cast<uint8_t>(1u << random.Uniform(8));
    const Lsn hit_lsn = segment.first_lsn + r;

    FaultInjectingFileSystem fs;
    for (const SegmentContent& each : segments) {
      WriteDurably(fs, SegmentPathFor(each.log_number), each.bytes);
    }
    ASSERT_TRUE(fs.FlipBits(SegmentPathFor(segment.log_number), offset, mask).ok());

    // Only the last fragment of the log can pass for a torn write.
    const bool last_segment = s + 1 == segments.size();
    const bool last_record = r + 1 == segment.starts.size();
    const uint64_t last_fragment_start =
        std::max(segment.starts[r], (segment.ends[r] - 1) / kBlockBytes * kBlockBytes);
    const bool expect_tail = last_segment && last_record && offset >= last_fragment_start;

    LogOptions strict = Options(48 << 10);
    strict.recovery_mode = RecoveryMode::kStrict;
    Opened strict_open = OpenLog(&fs, strict);
    ASSERT_EQ(strict_open.status.code(), StatusCode::kCorruption) << "trial " << trial;
    EXPECT_TRUE(strict_open.replayed.empty());

    Opened opened = OpenLog(&fs, Options(48 << 10));
    if (expect_tail) {
      ++tails;
      ASSERT_TRUE(opened.status.ok()) << "trial " << trial << ": " << opened.status.ToString();
      ASSERT_EQ(opened.replayed, Numbered(records, hit_lsn - 1));
      EXPECT_TRUE(opened.report.truncated_tail);
      EXPECT_EQ(opened.report.truncated_file, SegmentPathFor(segment.log_number));
      EXPECT_EQ(opened.report.truncated_offset, segment.starts[r]);
    } else {
      ++corruptions;
      ASSERT_EQ(opened.status.code(), StatusCode::kCorruption)
          << "trial " << trial << " segment " << s << " record " << r << " offset " << offset;
      EXPECT_NE(opened.status.message().find(SegmentFileName(segment.log_number)),
                std::string::npos);
      EXPECT_NE(opened.status.message().find("at offset"), std::string::npos);
      EXPECT_TRUE(opened.replayed.empty()) << "replay must not see a refused log";
      // Nothing was changed on disk.
      EXPECT_EQ(SegmentNames(fs).size(), segments.size());
    }
  }
  EXPECT_GT(tails, 0);
  EXPECT_GT(corruptions, 300);
}

// Random appends and syncs, then a power loss: every acknowledged record survives, and what
// comes back is exactly a prefix of what was appended (after any removed segments).
void RunCrashTrial(uint64_t seed, Crash mode) {
  Random random(seed);
  FaultInjectingFileSystem fs(random.Fork());
  const bool rotate = random.OneIn(2);
  const uint64_t segment_bytes_max = rotate ? random.Range(1024, 40000) : (64 << 20);
  std::vector<std::string> appended;  // appended[lsn - 1]
  Lsn acknowledged = kNoLsn;
  Lsn kept_from = 1;  // records from this LSN on must survive removals
  for (int incarnation = 0; incarnation < 4; ++incarnation) {
    Opened opened = OpenLog(&fs, Options(segment_bytes_max));
    ASSERT_TRUE(opened.status.ok()) << "seed " << seed << ": " << opened.status.ToString();
    // The recovered records: contiguous LSNs, exactly what was appended under them.
    const auto& replayed = opened.replayed;
    const Lsn recovered_last = opened.log->last_lsn();
    ASSERT_GE(recovered_last, acknowledged) << "seed " << seed << ": acknowledged record lost";
    ASSERT_LE(recovered_last, appended.size()) << "seed " << seed;
    if (!replayed.empty()) {
      ASSERT_LE(replayed.front().first, kept_from) << "seed " << seed;
      ASSERT_EQ(replayed.back().first, recovered_last);
    } else {
      ASSERT_LT(recovered_last, kept_from) << "seed " << seed;
    }
    for (size_t i = 0; i < replayed.size(); ++i) {
      ASSERT_EQ(replayed[i].first, replayed.front().first + i) << "seed " << seed;
      ASSERT_EQ(replayed[i].second, appended[replayed[i].first - 1]) << "seed " << seed;
    }
    appended.resize(recovered_last);  // the rest never happened
    Log& log = *opened.log;
    const int operations = static_cast<int>(random.Range(1, 200));
    for (int op = 0; op < operations; ++op) {
      const uint64_t choice = random.Uniform(100);
      if (choice < 60) {
        size_t size = random.Uniform(300);
        if (random.OneIn(30)) size = random.Range(kBlockBytes - 100, 2 * kBlockBytes + 100);
        const std::string record = Payload(random, size);
        auto lsn = log.Append(record);
        ASSERT_TRUE(lsn.ok());
        appended.push_back(record);
        ASSERT_EQ(*lsn, appended.size());
      } else if (choice < 90) {
        if (log.last_lsn() == kNoLsn) continue;
        const Lsn lsn = random.Range(1, log.last_lsn());
        ASSERT_TRUE(log.WaitDurable(lsn).ok());
        ASSERT_GE(log.durable_lsn(), lsn);
        acknowledged = std::max(acknowledged, log.durable_lsn());
      } else if (choice < 95) {
        const std::string record = Payload(random, random.Uniform(100));
        auto lsn = log.AppendDurable(record);
        ASSERT_TRUE(lsn.ok());
        appended.push_back(record);
        ASSERT_EQ(*lsn, appended.size());
        acknowledged = *lsn;
      } else {
        const Lsn before = random.Range(1, log.last_lsn() + 1);
        ASSERT_TRUE(log.RemoveSegmentsBefore(before).ok());
        kept_from = std::max(kept_from, before);
        ASSERT_LE(log.first_lsn(), kept_from);
      }
    }
    opened.log.reset();  // dropped without Close: a crash
    fs.Crash(mode);
  }
}

class LogCrashTest : public ::testing::TestWithParam<Crash> {};

TEST_P(LogCrashTest, AcknowledgedRecordsSurviveAndRecoveryIsAnExactPrefix) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    RunCrashTrial(seed, GetParam());
    if (HasFatalFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, LogCrashTest, ::testing::Values(Crash::kLose, Crash::kTearUnsynced),
                         [](const auto& info) {
                           return info.param == Crash::kLose ? "Lose" : "TearUnsynced";
                         });

TEST(LogTest, OneSyncCoversEveryRecordAppendedBeforeIt) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options());
  Log& log = *opened.log;
  const uint64_t syncs_before = fs.sync_count();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log.Append("record").ok());
  ASSERT_TRUE(log.WaitDurable(3).ok());
  EXPECT_EQ(fs.sync_count() - syncs_before, 1u);
  EXPECT_EQ(log.durable_lsn(), 10u);  // the group took everything buffered
  ASSERT_TRUE(log.WaitDurable(10).ok());
  EXPECT_EQ(fs.sync_count() - syncs_before, 1u);
  // A lone writer waits for one fsync.
  ASSERT_TRUE(log.AppendDurable("alone").ok());
  EXPECT_EQ(fs.sync_count() - syncs_before, 2u);
  // Nothing buffered: nothing to sync, even for Close.
  ASSERT_TRUE(log.Close().ok());
  EXPECT_EQ(fs.sync_count() - syncs_before, 2u);
}

TEST(LogTest, BackPressureCommitsWhenTheBufferIsFull) {
  FaultInjectingFileSystem fs;
  LogOptions options = Options();
  options.buffer_bytes_max = 1000;
  Opened opened = OpenLog(&fs, options);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(opened.log->Append(std::string(100, 'x')).ok());
  EXPECT_GT(opened.log->durable_lsn(), 80u);
  EXPECT_LT(opened.log->durable_lsn(), 100u);
  // A record larger than the buffer is still accepted.
  ASSERT_TRUE(opened.log->Append(std::string(5000, 'y')).ok());
}

// A process that dies after writing but before (or failing) its fsync leaves records in the
// page cache; the next Open reads them. Recovery must make them durable before replaying them,
// or a later power loss takes back records the restarted process already acted on.
TEST(LogTest, RecoveryMakesWhatItReplaysDurable) {
  FaultInjectingFileSystem fs;
  {
    Opened opened = OpenLog(&fs, Options());
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(opened.log->Append("durable " + std::to_string(i)).ok());
    ASSERT_TRUE(opened.log->WaitDurable(3).ok());
    ASSERT_TRUE(opened.log->Append("cached 4").ok());
    ASSERT_TRUE(opened.log->Append("cached 5").ok());
    fs.FailSyncs(1);
    ASSERT_FALSE(opened.log->WaitDurable(5).ok());
  }  // the process dies; the machine, and its page cache, stay up
  Opened restarted = OpenLog(&fs, Options());
  ASSERT_TRUE(restarted.status.ok()) << restarted.status.ToString();
  ASSERT_EQ(restarted.replayed.size(), 5u) << "the cached records are read back";
  restarted.log.reset();

  fs.Crash(Crash::kLose);  // now the power fails
  Opened after_power_loss = OpenLog(&fs, Options());
  ASSERT_TRUE(after_power_loss.status.ok()) << after_power_loss.status.ToString();
  EXPECT_EQ(after_power_loss.replayed, restarted.replayed)
      << "records once replayed as durable must survive a power loss";
}

TEST(LogTest, FailedFsyncIsFatalAndNeverRetried) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options());
  Log& log = *opened.log;
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(log.Append("durable " + std::to_string(i)).ok());
  ASSERT_TRUE(log.WaitDurable(3).ok());
  ASSERT_EQ(*log.Append("lost"), 4u);
  ASSERT_EQ(*log.Append("lost too"), 5u);
  fs.FailSyncs(1);
  EXPECT_EQ(log.WaitDurable(4).code(), StatusCode::kIoError);
  const uint64_t syncs = fs.sync_count();
  EXPECT_EQ(log.durable_lsn(), 3u);
  // Every later waiter for a record not durable before gets the error; no fsync is retried.
  EXPECT_EQ(log.WaitDurable(5).code(), StatusCode::kIoError);
  EXPECT_EQ(log.WaitDurable(4).code(), StatusCode::kIoError);
  EXPECT_EQ(fs.sync_count(), syncs);
  EXPECT_EQ(log.durable_lsn(), 3u);
  // Records durable before the failure stay acknowledged.
  EXPECT_TRUE(log.WaitDurable(2).ok());
  EXPECT_EQ(log.Append("refused").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log.AppendDurable("refused").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log.last_lsn(), 5u);
  EXPECT_EQ(log.Close().code(), StatusCode::kIoError);
  EXPECT_EQ(fs.sync_count(), syncs);
  opened.log.reset();

  fs.Crash(Crash::kLose);
  Opened reopened = OpenLog(&fs, Options());
  ASSERT_TRUE(reopened.status.ok());
  EXPECT_EQ(reopened.replayed.size(), 3u);
}

TEST(LogTest, FailedFsyncDuringRotationIsFatal) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options(1024));
  Log& log = *opened.log;
  ASSERT_TRUE(log.AppendDurable(std::string(900, 'a')).ok());
  ASSERT_TRUE(log.Append(std::string(900, 'b')).ok());  // starts segment 2
  fs.FailSyncs(1);
  EXPECT_EQ(log.WaitDurable(2).code(), StatusCode::kIoError);
  EXPECT_EQ(log.durable_lsn(), 1u);
  EXPECT_EQ(log.Append("c").status().code(), StatusCode::kFailedPrecondition);
}

TEST(LogTest, RecordLargerThanTheLimitIsInvalidArgument) {
  FaultInjectingFileSystem fs;
  LogOptions options = Options();
  options.record_bytes_max = 100;
  Opened opened = OpenLog(&fs, options);
  EXPECT_TRUE(opened.log->Append(std::string(100, 'x')).ok());
  EXPECT_EQ(opened.log->Append(std::string(101, 'x')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(opened.log->last_lsn(), 1u);
  EXPECT_TRUE(opened.log->Append("still fine").ok());
}

TEST(LogTest, BadOptionsAreInvalidArgument) {
  FaultInjectingFileSystem fs;
  LogOptions no_dir = Options();
  no_dir.dir = "";
  EXPECT_EQ(OpenLog(&fs, no_dir).status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenLog(&fs, Options(kSegmentBytesMin - 1)).status.code(),
            StatusCode::kInvalidArgument);
  LogOptions huge_records = Options();
  huge_records.record_bytes_max = kRecordBytesLimit + 1;
  EXPECT_EQ(OpenLog(&fs, huge_records).status.code(), StatusCode::kInvalidArgument);
  LogOptions no_buffer = Options();
  no_buffer.buffer_bytes_max = 0;
  EXPECT_EQ(OpenLog(&fs, no_buffer).status.code(), StatusCode::kInvalidArgument);
}

TEST(LogTest, ReplayErrorAbortsOpen) {
  FaultInjectingFileSystem fs;
  {
    Opened opened = OpenLog(&fs, Options());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(opened.log->Append("r").ok());
    ASSERT_TRUE(opened.log->Close().ok());
  }
  int calls = 0;
  auto result = Log::Open(&fs, Options(), [&](Lsn lsn, std::string_view) {
    ++calls;
    return lsn == 3 ? Status::Aborted("replay refused") : Status::Ok();
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status(), Status::Aborted("replay refused"));
  EXPECT_EQ(calls, 3);
}

TEST(LogTest, RotationAndPrefixRemovalAcrossReopen) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options(4096));
  for (int i = 1; i <= 200; ++i) {
    ASSERT_EQ(*opened.log->Append(std::string(100, static_cast<char>('a' + i % 26))), Lsn(i));
  }
  ASSERT_TRUE(opened.log->WaitDurable(200).ok());
  const uint64_t segments = opened.log->segment_count();
  EXPECT_GE(segments, 5u);
  for (const std::string& name : SegmentNames(fs)) {
    EXPECT_LE(*fs.FileSize(JoinPath(kDir, name)), 4096u) << name;
  }
  ASSERT_TRUE(opened.log->RemoveSegmentsBefore(100).ok());
  const Lsn first = opened.log->first_lsn();
  EXPECT_GT(first, 60u);
  EXPECT_LE(first, 100u);
  EXPECT_LT(opened.log->segment_count(), segments);
  EXPECT_EQ(SegmentNames(fs).size(), opened.log->segment_count());
  // Removing again with a lower bound removes nothing.
  ASSERT_TRUE(opened.log->RemoveSegmentsBefore(50).ok());
  EXPECT_EQ(opened.log->first_lsn(), first);
  ASSERT_TRUE(opened.log->Close().ok());

  fs.Crash(Crash::kLose);  // the removals were made durable
  Opened reopened = OpenLog(&fs, Options(4096));
  ASSERT_TRUE(reopened.status.ok()) << reopened.status.ToString();
  ASSERT_FALSE(reopened.replayed.empty());
  EXPECT_EQ(reopened.replayed.front().first, first);
  EXPECT_EQ(reopened.replayed.back().first, 200u);
  EXPECT_EQ(reopened.replayed.size(), 200 - first + 1);
  for (const auto& [lsn, record] : reopened.replayed) {
    EXPECT_EQ(record, std::string(100, static_cast<char>('a' + lsn % 26)));
  }
  EXPECT_EQ(*reopened.log->AppendDurable("next"), 201u);
  // Everything can go but the active segment; the LSNs still continue after a reopen.
  ASSERT_TRUE(reopened.log->RemoveSegmentsBefore(202).ok());
  EXPECT_EQ(reopened.log->segment_count(), 1u);
  reopened.log.reset();
  Opened last = OpenLog(&fs, Options(4096));
  ASSERT_TRUE(last.status.ok());
  EXPECT_EQ(last.replayed, (std::vector<std::pair<Lsn, std::string>>{{201, "next"}}));
  EXPECT_EQ(*last.log->Append("after"), 202u);
}

TEST(LogTest, RemovalKeepsASegmentWhoseSuccessorIsNotYetDurable) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options(1024));
  ASSERT_TRUE(opened.log->AppendDurable(std::string(900, 'a')).ok());
  ASSERT_TRUE(opened.log->Append(std::string(900, 'b')).ok());  // segment 2, not written yet
  ASSERT_TRUE(opened.log->RemoveSegmentsBefore(3).ok());
  EXPECT_EQ(opened.log->first_lsn(), 1u);
  EXPECT_EQ(SegmentNames(fs).size(), 1u);
  opened.log.reset();
  fs.Crash(Crash::kLose);
  Opened reopened = OpenLog(&fs, Options(1024));
  ASSERT_TRUE(reopened.status.ok());
  EXPECT_EQ(reopened.log->last_lsn(), 1u);  // the numbering survived
}

TEST(LogTest, StaleBytesOfARecycledSegmentAreRejected) {
  // Segment 2 reuses a file that held segment 7 of some older log: the new records overwrote
  // its beginning, and old fragments (with sound checksums) follow. Variant `aligned`: the
  // old fragments start exactly where the new data ends.
  for (const bool aligned : {true, false}) {
    const std::vector<std::string> first_records = {"r1", "r2", "r3"};
    const std::vector<std::string> new_records(5, std::string(60, 'n'));
    const std::vector<std::string> old_records(40, std::string(aligned ? 60 : 77, 'o'));
    const Layout segment1 = EncodeSegment(1, 1, first_records);
    const Layout segment2 = EncodeSegment(2, 4, new_records);
    const Layout old_segment = EncodeSegment(7, 1000, old_records);
    std::string recycled = old_segment.bytes;
    recycled.replace(0, segment2.bytes.size(), segment2.bytes);
    FaultInjectingFileSystem fs;
    WriteDurably(fs, SegmentPathFor(1), segment1.bytes);
    WriteDurably(fs, SegmentPathFor(2), recycled);

    LogOptions strict = Options();
    strict.recovery_mode = RecoveryMode::kStrict;
    EXPECT_EQ(OpenLog(&fs, strict).status.code(), StatusCode::kCorruption);

    Opened opened = OpenLog(&fs, Options());
    ASSERT_TRUE(opened.status.ok()) << opened.status.ToString();
    std::vector<std::string> expected = first_records;
    expected.insert(expected.end(), new_records.begin(), new_records.end());
    EXPECT_EQ(opened.replayed, Numbered(expected, expected.size()));
    EXPECT_TRUE(opened.report.truncated_tail);
    EXPECT_EQ(opened.report.truncated_file, SegmentPathFor(2));
    EXPECT_EQ(opened.report.truncated_offset, segment2.bytes.size());
    EXPECT_EQ(opened.report.truncated_bytes, recycled.size() - segment2.bytes.size());
    if (aligned) {
      EXPECT_NE(opened.report.truncated_reason.find("stale"), std::string::npos)
          << opened.report.truncated_reason;
    }
  }
}

TEST(LogTest, StrictModeRefusesATornTailAndChangesNothing) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options());
  ASSERT_TRUE(opened.log->AppendDurable("kept").ok());
  ASSERT_TRUE(opened.log->Close().ok());
  const std::string bytes = ReadAll(fs, SegmentPathFor(1));
  WriteDurably(fs, SegmentPathFor(1), bytes + std::string("\x01\x02\x03", 3));
  LogOptions strict = Options();
  strict.recovery_mode = RecoveryMode::kStrict;
  Opened refused = OpenLog(&fs, strict);
  EXPECT_EQ(refused.status.code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status.message().find("0000000001.wal at offset"), std::string::npos)
      << refused.status.message();
  EXPECT_EQ(ReadAll(fs, SegmentPathFor(1)).size(), bytes.size() + 3);
  // The default mode cuts it off; then strict mode accepts the log.
  Opened repaired = OpenLog(&fs, Options());
  ASSERT_TRUE(repaired.status.ok());
  EXPECT_TRUE(repaired.report.truncated_tail);
  EXPECT_EQ(repaired.report.truncated_bytes, 3u);
  repaired.log.reset();
  Opened clean = OpenLog(&fs, strict);
  ASSERT_TRUE(clean.status.ok()) << clean.status.ToString();
  EXPECT_EQ(clean.replayed.size(), 1u);
}

TEST(LogTest, DamageAtTheEndOfASegmentThatIsNotTheLastIsCorruption) {
  FaultInjectingFileSystem fs;
  Opened opened = OpenLog(&fs, Options());
  ASSERT_TRUE(opened.log->AppendDurable("first").ok());
  ASSERT_TRUE(opened.log->Close().ok());
  opened = OpenLog(&fs, Options());  // segment 2
  ASSERT_TRUE(opened.log->AppendDurable("second").ok());
  ASSERT_TRUE(opened.log->Close().ok());
  // Flip the last byte of segment 1: its very last fragment, yet segment 2 follows.
  const uint64_t size = *fs.FileSize(SegmentPathFor(1));
  ASSERT_TRUE(fs.FlipBits(SegmentPathFor(1), size - 1, 0x10).ok());
  Opened refused = OpenLog(&fs, Options());
  EXPECT_EQ(refused.status.code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status.message().find("0000000001.wal"), std::string::npos);
  EXPECT_NE(refused.status.message().find("not the last"), std::string::npos);
}

TEST(LogTest, MissingSegmentIsCorruption) {
  FaultInjectingFileSystem fs;
  for (int i = 0; i < 3; ++i) {
    Opened opened = OpenLog(&fs, Options());
    ASSERT_TRUE(opened.log->AppendDurable("r").ok());
    ASSERT_TRUE(opened.log->Close().ok());
  }
  ASSERT_TRUE(fs.RemoveFile(SegmentPathFor(2)).ok());
  Opened refused = OpenLog(&fs, Options());
  EXPECT_EQ(refused.status.code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status.message().find("0000000002.wal is missing"), std::string::npos)
      << refused.status.message();
}

TEST(LogTest, SegmentWhoseFirstLsnDoesNotContinueIsCorruption) {
  FaultInjectingFileSystem fs;
  WriteDurably(fs, SegmentPathFor(1), EncodeSegment(1, 1, {"a", "b"}).bytes);
  WriteDurably(fs, SegmentPathFor(2), EncodeSegment(2, 4, {"d"}).bytes);  // 3 is missing
  Opened refused = OpenLog(&fs, Options());
  EXPECT_EQ(refused.status.code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status.message().find("does not continue"), std::string::npos);
}

TEST(LogTest, LastSegmentWithATornHeaderIsRemovedAndItsNumberReused) {
  for (uint64_t header_bytes = 0; header_bytes < kSegmentHeaderBytes; ++header_bytes) {
    FaultInjectingFileSystem fs;
    const Layout segment1 = EncodeSegment(1, 1, {"a", "b"});
    WriteDurably(fs, SegmentPathFor(1), segment1.bytes);
    WriteDurably(fs, SegmentPathFor(2), EncodeSegment(2, 3, {}).bytes.substr(0, header_bytes));
    Opened opened = OpenLog(&fs, Options());
    ASSERT_TRUE(opened.status.ok()) << opened.status.ToString();
    EXPECT_EQ(opened.replayed.size(), 2u);
    EXPECT_TRUE(opened.report.truncated_tail);
    EXPECT_EQ(opened.report.truncated_file, SegmentPathFor(2));
    EXPECT_EQ(opened.report.truncated_offset, 0u);
    EXPECT_EQ(opened.report.truncated_bytes, header_bytes);
    EXPECT_EQ(SegmentNames(fs), (std::vector<std::string>{"0000000001.wal", "0000000002.wal"}));
    EXPECT_EQ(*opened.log->AppendDurable("c"), 3u);
    opened.log.reset();
    Opened again = OpenLog(&fs, Options());
    ASSERT_TRUE(again.status.ok());
    EXPECT_EQ(again.replayed.size(), 3u);
  }
}

TEST(LogTest, TheOnlySegmentWithATornHeaderIsCorruptionUnlessItIsTheFirstEver) {
  {
    FaultInjectingFileSystem fs;  // a crash while creating the log: an empty log
    WriteDurably(fs, SegmentPathFor(1), "PAC");
    Opened opened = OpenLog(&fs, Options());
    ASSERT_TRUE(opened.status.ok());
    EXPECT_EQ(*opened.log->Append("first"), 1u);
  }
  {
    FaultInjectingFileSystem fs;  // segment 5 after a prefix removal: its LSNs are unknown
    WriteDurably(fs, SegmentPathFor(5), EncodeSegment(5, 90, {}).bytes.substr(0, 20));
    EXPECT_EQ(OpenLog(&fs, Options()).status.code(), StatusCode::kCorruption);
  }
}

TEST(LogTest, CorruptHeaderOfANonLastSegmentIsCorruption) {
  FaultInjectingFileSystem fs;
  WriteDurably(fs, SegmentPathFor(1), EncodeSegment(1, 1, {"a"}).bytes);
  WriteDurably(fs, SegmentPathFor(2), EncodeSegment(2, 2, {"b"}).bytes);
  ASSERT_TRUE(fs.FlipBits(SegmentPathFor(1), 12, 0x01).ok());  // in the header's magic
  Opened refused = OpenLog(&fs, Options());
  EXPECT_EQ(refused.status.code(), StatusCode::kCorruption);
  EXPECT_NE(refused.status.message().find("0000000001.wal at offset 0"), std::string::npos)
      << refused.status.message();
}

TEST(LogTest, OtherFilesInTheDirectoryAreIgnored) {
  FaultInjectingFileSystem fs;
  WriteDurably(fs, JoinPath(kDir, "CHECKPOINT"), "x");
  WriteDurably(fs, JoinPath(kDir, "0000000001.wal.tmp"), "x");
  Opened opened = OpenLog(&fs, Options());
  ASSERT_TRUE(opened.status.ok()) << opened.status.ToString();
  EXPECT_EQ(*opened.log->AppendDurable("a"), 1u);
}

TEST(LogTest, TrailingSlashInTheDirectoryIsTheSameDirectory) {
  FaultInjectingFileSystem fs;
  LogOptions options = Options();
  options.dir = std::string(kDir) + "/";
  Opened opened = OpenLog(&fs, options);
  ASSERT_TRUE(opened.status.ok());
  ASSERT_TRUE(opened.log->AppendDurable("a").ok());
  opened.log.reset();
  fs.Crash(Crash::kLose);  // the segment's directory entry was synced under the right name
  Opened reopened = OpenLog(&fs, options);
  ASSERT_TRUE(reopened.status.ok());
  EXPECT_EQ(reopened.replayed.size(), 1u);
}

}  // namespace
}  // namespace pact::wal
