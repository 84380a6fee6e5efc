// pact-wal-bench: group commit throughput of the WAL against a raw write + fdatasync loop on
// the same disk (docs/wal-format.md section 5).
//
// For each writer-thread count, every thread appends `record_bytes` records and waits for each
// to be durable (AppendDurable) for `seconds`; the bench prints records/s and the p50/p99
// latency of one AppendDurable. The baseline, in the same run and directory, is one thread
// writing the same record size and calling fdatasync after each write. The last line is
// `group_commit_speedup=X`: records/s with the last (largest) thread count divided by raw
// fdatasyncs/s (measured before and after the group commit runs, pooled).
#include <fmt/format.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/check.h"
#include "common/file_system.h"
#include "common/sync_hook_file_system.h"
#include "wal/log.h"

namespace pact::wal {
namespace {

using Clock = std::chrono::steady_clock;

struct Measurement {
  uint64_t operations = 0;
  uint64_t syncs = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // one per operation

  double PerSecond() const { return seconds > 0 ? static_cast<double>(operations) / seconds : 0; }
  double Percentile(double p) {
    if (latencies_ms.empty()) return 0;
    const size_t index = std::min(
        latencies_ms.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies_ms.size())));
    std::nth_element(latencies_ms.begin(), latencies_ms.begin() + static_cast<long>(index),
                     latencies_ms.end());
    return latencies_ms[index];
  }
};

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The baseline: what one durable write costs without group commit.
Measurement RawFdatasyncLoop(FileSystem* fs, const std::string& dir, size_t record_bytes,
                             double seconds) {
  const std::string path = JoinPath(dir, "raw-fdatasync");
  auto file = fs->NewWritableFile(path);
  PACT_CHECK_OK(file.status());
  PACT_CHECK_OK(fs->SyncDir(dir));
  const std::string record(record_bytes, 'r');
  Measurement measurement;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < deadline) {
    const Clock::time_point op_start = Clock::now();
    PACT_CHECK_OK((*file)->Append(record));
    PACT_CHECK_OK((*file)->Sync());
    measurement.latencies_ms.push_back(MillisSince(op_start));
    ++measurement.operations;
  }
  measurement.seconds = MillisSince(start) / 1000;
  PACT_CHECK_OK((*file)->Close());
  PACT_CHECK_OK(fs->RemoveFile(path));
  return measurement;
}

Measurement GroupCommit(FileSystem* fs, const std::string& dir, int threads, size_t record_bytes,
                        double seconds) {
  LogOptions options;
  options.dir = dir;
  // Counts fdatasyncs of log segments (to report records per group).
  SyncHookFileSystem counting(fs);
  auto opened = Log::Open(&counting, options, [](Lsn, std::string_view) { return Status::Ok(); });
  PACT_CHECK_OK(opened.status());
  std::unique_ptr<Log> log = std::move(opened).value();

  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  const uint64_t syncs_before = counting.file_syncs();
  const Clock::duration run =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string record(record_bytes, static_cast<char>('a' + t % 26));
      while (!go.load()) std::this_thread::yield();
      const Clock::time_point deadline = Clock::now() + run;
      std::vector<double>& mine = latencies[static_cast<size_t>(t)];
      while (Clock::now() < deadline) {
        const Clock::time_point op_start = Clock::now();
        const Result<Lsn> lsn = log->AppendDurable(record);
        PACT_CHECK_OK(lsn.status());
        mine.push_back(MillisSince(op_start));
      }
    });
  }
  const Clock::time_point start = Clock::now();
  go = true;
  for (std::thread& worker : workers) worker.join();
  Measurement measurement;
  measurement.seconds = MillisSince(start) / 1000;
  measurement.syncs = counting.file_syncs() - syncs_before;
  for (const auto& mine : latencies) {
    measurement.latencies_ms.insert(measurement.latencies_ms.end(), mine.begin(), mine.end());
  }
  measurement.operations = measurement.latencies_ms.size();
  PACT_CHECK(log->durable_lsn() == measurement.operations);
  PACT_CHECK_OK(log->Close());
  return measurement;
}

std::string MakeTempDir(const std::string& parent) {
  std::string pattern = JoinPath(parent, "pact-wal-bench-XXXXXX");
  PACT_CHECK(::mkdtemp(pattern.data()) != nullptr, "cannot create a directory in {}", parent);
  return pattern;
}

int Main(int argc, char** argv) {
  CLI::App app("pact-wal-bench: WAL group commit against raw write + fdatasync");
  std::string parent;
  double seconds = 2;
  size_t record_bytes = 64;
  std::vector<int> thread_counts = {1, 4, 16, 64};
  app.add_option("--dir", parent,
                 "directory to benchmark in (a fresh subdirectory is made and removed); "
                 "default: $TMPDIR, else the current directory");
  app.add_option("--seconds", seconds, "seconds per configuration")->check(CLI::PositiveNumber);
  app.add_option("--record-bytes", record_bytes, "record size")->check(CLI::Range(1, 1 << 20));
  app.add_option("--threads", thread_counts, "writer thread counts")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  if (parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    parent = tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : ".";
  }
  const std::string dir = MakeTempDir(parent);
  FileSystem* fs = PosixFileSystem::Default();

  fmt::print("pact-wal-bench: dir={} record_bytes={} seconds={} per configuration\n", dir,
             record_bytes, seconds);
  // The disk's fdatasync time drifts (other IO on the machine), so the baseline is measured
  // before and after the group commit runs and pooled.
  auto print_raw = [](std::string_view when, Measurement& raw) {
    fmt::print("raw write+fdatasync ({}): {:.0f} syncs/s p50={:.3f}ms p99={:.3f}ms\n", when,
               raw.PerSecond(), raw.Percentile(0.50), raw.Percentile(0.99));
  };
  Measurement raw_before = RawFdatasyncLoop(fs, dir, record_bytes, seconds);
  print_raw("before", raw_before);
  std::vector<std::pair<int, Measurement>> groups;
  for (int threads : thread_counts) {
    const std::string log_dir = JoinPath(dir, fmt::format("log-{}", threads));
    Measurement group = GroupCommit(fs, log_dir, threads, record_bytes, seconds);
    fmt::print(
        "threads={:<3} records/s={:.0f} p50={:.3f}ms p99={:.3f}ms fdatasyncs/s={:.0f} "
        "records/fdatasync={:.1f}\n",
        threads, group.PerSecond(), group.Percentile(0.50), group.Percentile(0.99),
        static_cast<double>(group.syncs) / group.seconds,
        static_cast<double>(group.operations) /
            static_cast<double>(std::max<uint64_t>(group.syncs, 1)));
    std::filesystem::remove_all(log_dir);
    groups.emplace_back(threads, std::move(group));
  }
  Measurement raw_after = RawFdatasyncLoop(fs, dir, record_bytes, seconds);
  print_raw("after", raw_after);
  const double raw_per_second = static_cast<double>(raw_before.operations + raw_after.operations) /
                                (raw_before.seconds + raw_after.seconds);
  fmt::print("raw write+fdatasync (pooled baseline): {:.0f} syncs/s\n", raw_per_second);
  for (auto& [threads, group] : groups) {
    fmt::print("threads={:<3} speedup_vs_raw={:.1f}\n", threads,
               group.PerSecond() / raw_per_second);
  }
  const double last_records_per_second = groups.back().second.PerSecond();
  std::filesystem::remove_all(dir);
  fmt::print("group_commit_speedup={:.1f}\n", last_records_per_second / raw_per_second);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace pact::wal

int main(int argc, char** argv) { return pact::wal::Main(argc, argv); }
