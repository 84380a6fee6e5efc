#include "wal/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "common/check.h"
#include "common/logging.h"
#include "wal/log_reader.h"

namespace pact::wal {
namespace {

Status ValidateOptions(const LogOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("wal: LogOptions::dir is empty");
  if (options.record_bytes_max > kRecordBytesLimit) {
    return Status::InvalidArgument(fmt::format("wal: record_bytes_max {} exceeds the limit {}",
                                               options.record_bytes_max, kRecordBytesLimit));
  }
  if (options.segment_bytes_max < kSegmentBytesMin ||
      options.segment_bytes_max > kSegmentBytesLimit) {
    return Status::InvalidArgument(fmt::format("wal: segment_bytes_max {} is not in [{}, {}]",
                                               options.segment_bytes_max, kSegmentBytesMin,
                                               kSegmentBytesLimit));
  }
  if (options.buffer_bytes_max == 0) {
    return Status::InvalidArgument("wal: buffer_bytes_max must be at least 1");
  }
  return Status::Ok();
}

// "wal/" and "wal" must name the same directory: FileSystem::SyncDir matches entries by
// ParentDir() of their paths.
std::string NormalizeDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// What one pass over a segment found.
struct SegmentScan {
  std::optional<Lsn> first_lsn;  // nullopt: the header is damaged
  uint64_t records = 0;
  uint64_t file_bytes = 0;
  std::optional<SegmentDamage> damage;
};

// Reads segment `log_number` at `path`, passing each record to `replay` if it is given.
Result<SegmentScan> ScanSegment(FileSystem* fs, const std::string& path, uint32_t log_number,
                                uint64_t record_bytes_max, const ReplayFunction* replay) {
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<ReadableFile> file, fs->OpenReadableFile(path));
  LogReader reader(file.get(), path, log_number, record_bytes_max);
  SegmentScan scan;
  PACT_ASSIGN_OR_RETURN(scan.first_lsn, reader.ReadHeader());
  scan.file_bytes = reader.file_bytes();
  if (scan.first_lsn.has_value()) {
    std::string record;
    while (true) {
      PACT_ASSIGN_OR_RETURN(bool got, reader.ReadRecord(&record));
      if (!got) break;
      if (replay != nullptr)
        PACT_RETURN_IF_ERROR((*replay)(*scan.first_lsn + scan.records, record));
      ++scan.records;
    }
  }
  scan.damage = reader.damage();
  return scan;
}

Status DamageError(const std::string& path, const SegmentDamage& damage, std::string_view why) {
  std::string message =
      fmt::format("{} at offset {}: {} ({})", path, damage.bad_fragment_offset, damage.reason, why);
  if (damage.valid_fragment_follows) {
    message += fmt::format("; a valid fragment follows at offset {}", damage.valid_fragment_offset);
  }
  return Status::Corruption(std::move(message));
}

}  // namespace

Log::Log(FileSystem* fs, LogOptions options) : fs_(fs), options_(std::move(options)) {}

Log::~Log() {
  // No sync: dropping a log without Close is a crash as far as unsynced records go.
  if (file_ != nullptr) (void)file_->Close();
}

std::string Log::SegmentPath(uint32_t log_number) const {
  return JoinPath(options_.dir, SegmentFileName(log_number));
}

Result<std::unique_ptr<Log>> Log::Open(FileSystem* fs, const LogOptions& raw_options,
                                       const ReplayFunction& replay, RecoveryReport* report) {
  PACT_CHECK(fs != nullptr);
  RecoveryReport local_report;
  RecoveryReport& rep = report != nullptr ? *report : local_report;
  rep = RecoveryReport();
  PACT_RETURN_IF_ERROR(ValidateOptions(raw_options));
  LogOptions options = raw_options;
  options.dir = NormalizeDir(options.dir);
  const bool strict = options.recovery_mode == RecoveryMode::kStrict;

  PACT_RETURN_IF_ERROR(fs->CreateDirs(options.dir));
  PACT_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(options.dir));
  std::vector<uint32_t> numbers;
  for (const std::string& name : names) {
    if (std::optional<uint32_t> number = ParseSegmentFileName(name)) numbers.push_back(*number);
  }
  std::sort(numbers.begin(), numbers.end());
  for (size_t i = 1; i < numbers.size(); ++i) {
    if (numbers[i] != numbers[i - 1] + 1) {
      return Status::Corruption(fmt::format("{}: segment {} is missing (found {} after {})",
                                            options.dir, SegmentFileName(numbers[i - 1] + 1),
                                            SegmentFileName(numbers[i]),
                                            SegmentFileName(numbers[i - 1])));
    }
  }

  std::unique_ptr<Log> log(new Log(fs, options));

  // Pass 1: check every segment and decide, changing nothing, so that `replay` only ever sees
  // a log that opens (wal-format.md 6).
  std::vector<SegmentScan> scans;
  bool remove_last = false;  // the last segment was never wholly created
  Lsn next_lsn = 1;
  for (size_t i = 0; i < numbers.size(); ++i) {
    const std::string path = log->SegmentPath(numbers[i]);
    const bool last = i + 1 == numbers.size();
    PACT_ASSIGN_OR_RETURN(SegmentScan scan,
                          ScanSegment(fs, path, numbers[i], options.record_bytes_max, nullptr));
    ++rep.segments;
    if (!scan.first_lsn.has_value()) {
      PACT_CHECK(scan.damage.has_value());
      if (!last) return DamageError(path, *scan.damage, "in a segment that is not the last");
      if (strict) return DamageError(path, *scan.damage, "strict recovery");
      if (scan.damage->valid_fragment_follows) {
        return DamageError(path, *scan.damage, "not a torn tail");
      }
      if (i == 0 && numbers[i] != kLogNumberMin) {
        // Earlier segments were removed, so this one's first LSN was in its lost header.
        return DamageError(path, *scan.damage, "the log's only segment; its first LSN is lost");
      }
      remove_last = true;
      rep.truncated_tail = true;
      rep.truncated_file = path;
      rep.truncated_offset = 0;
      rep.truncated_bytes = scan.file_bytes;
      rep.truncated_reason = scan.damage->reason;
      break;
    }
    if (i > 0 && *scan.first_lsn != next_lsn) {
      return Status::Corruption(fmt::format(
          "{} at offset 0: first LSN {} does not continue the previous segment (expected {})", path,
          *scan.first_lsn, next_lsn));
    }
    next_lsn = *scan.first_lsn + scan.records;
    if (scan.damage.has_value()) {
      if (!last) return DamageError(path, *scan.damage, "in a segment that is not the last");
      if (strict) return DamageError(path, *scan.damage, "strict recovery");
      if (scan.damage->valid_fragment_follows) {
        return DamageError(path, *scan.damage, "not a torn tail");
      }
      rep.truncated_tail = true;
      rep.truncated_file = path;
      rep.truncated_offset = scan.damage->offset;
      rep.truncated_bytes = scan.file_bytes - scan.damage->offset;
      rep.truncated_reason = scan.damage->reason;
    }
    scans.push_back(std::move(scan));
  }

  // Repair the torn tail. TruncateFile is durable; a removal needs the directory synced.
  if (rep.truncated_tail) {
    PACT_LOG_WARN("wal: cutting off a torn tail: {} from offset {} ({} bytes): {}",
                  rep.truncated_file, rep.truncated_offset, rep.truncated_bytes,
                  rep.truncated_reason);
    if (remove_last) {
      PACT_RETURN_IF_ERROR(fs->RemoveFile(rep.truncated_file));
      PACT_RETURN_IF_ERROR(fs->SyncDir(options.dir));
    } else {
      PACT_RETURN_IF_ERROR(fs->TruncateFile(rep.truncated_file, rep.truncated_offset));
    }
  }

  // What recovery reads may only be in the page cache: the process that wrote it may have died
  // before its fsync (or after a failed one) while the machine stayed up. Make every kept
  // segment and the directory durable before anything is replayed as durable; otherwise a
  // later power loss could take back records this process already acted on.
  for (size_t i = 0; i < scans.size(); ++i) {
    PACT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                          fs->OpenAppendableFile(log->SegmentPath(numbers[i])));
    PACT_RETURN_IF_ERROR(file->Sync());
    PACT_RETURN_IF_ERROR(file->Close());
  }
  if (!scans.empty()) PACT_RETURN_IF_ERROR(fs->SyncDir(options.dir));

  // Pass 2: replay. The segments were just checked; any difference now is an IO fault.
  for (size_t i = 0; i < scans.size(); ++i) {
    const std::string path = log->SegmentPath(numbers[i]);
    PACT_ASSIGN_OR_RETURN(SegmentScan scan,
                          ScanSegment(fs, path, numbers[i], options.record_bytes_max, &replay));
    if (scan.first_lsn != scans[i].first_lsn || scan.records != scans[i].records ||
        scan.damage.has_value()) {
      return Status::Corruption(fmt::format("{}: changed while the log was being recovered", path));
    }
    if (rep.records == 0 && scan.records > 0) rep.first_lsn = *scan.first_lsn;
    rep.records += scan.records;
    log->segments_.push_back(Segment{numbers[i], *scan.first_lsn, /*created=*/true});
  }
  if (rep.records > 0) rep.last_lsn = next_lsn - 1;

  // Never append to a recovered file: start a new segment after the last one.
  uint32_t new_number = kLogNumberMin;
  if (!numbers.empty()) {
    if (remove_last) {
      new_number = numbers.back();
    } else if (numbers.back() == kLogNumberMax) {
      return Status::FailedPrecondition(fmt::format("{}: log numbers exhausted", options.dir));
    } else {
      new_number = numbers.back() + 1;
    }
  }
  PACT_RETURN_IF_ERROR(log->CreateFirstSegment(new_number, next_lsn));
  return log;
}

Status Log::CreateSegmentFile(uint32_t log_number, const std::string& header) {
  const std::string path = SegmentPath(log_number);
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, fs_->NewWritableFile(path));
  PACT_CHECK(file->Size() == 0, "{}: new segment is not empty", path);
  // Header durable before the directory entry: a segment that survives a crash has a header.
  PACT_RETURN_IF_ERROR(file->Append(header));
  PACT_RETURN_IF_ERROR(file->Sync());
  PACT_RETURN_IF_ERROR(fs_->SyncDir(options_.dir));
  file_ = std::move(file);
  file_log_number_ = log_number;
  return Status::Ok();
}

Status Log::CreateFirstSegment(uint32_t log_number, Lsn first_lsn) {
  writer_ = LogWriter(log_number, 0);
  std::string header;
  writer_.AddHeader(first_lsn, &header);
  PACT_RETURN_IF_ERROR(CreateSegmentFile(log_number, header));
  std::lock_guard lock(mutex_);
  segments_.push_back(Segment{log_number, first_lsn, /*created=*/true});
  last_lsn_ = first_lsn - 1;
  durable_lsn_ = last_lsn_;
  active_records_ = 0;
  pending_.clear();
  pending_.push_back(Chunk{log_number, "", writer_.offset(), ""});
  pending_bytes_ = 0;
  return Status::Ok();
}

Status Log::AppendableLocked() const {
  if (closed_) return Status::FailedPrecondition(fmt::format("wal {}: closed", options_.dir));
  if (!error_.ok()) {
    return Status::FailedPrecondition(fmt::format("wal {}: refuses appends after a fatal error: {}",
                                                  options_.dir, error_.message()));
  }
  return Status::Ok();
}

Result<Lsn> Log::Append(std::string_view record) {
  if (record.size() > options_.record_bytes_max) {
    return Status::InvalidArgument(
        fmt::format("wal: record of {} bytes exceeds record_bytes_max {}", record.size(),
                    options_.record_bytes_max));
  }
  std::unique_lock lock(mutex_);
  // Back-pressure: keep the buffer bounded by committing it before adding more.
  while (pending_bytes_ > 0 && pending_bytes_ + record.size() > options_.buffer_bytes_max) {
    PACT_RETURN_IF_ERROR(AppendableLocked());
    if (!CommitLocked(lock, last_lsn_).ok()) {
      PACT_CHECK(!error_.ok(), "a commit failed without a fatal error");
      return AppendableLocked();
    }
  }
  PACT_RETURN_IF_ERROR(AppendableLocked());
  const Lsn lsn = last_lsn_ + 1;
  if (active_records_ > 0 &&
      writer_.offset() + writer_.EncodedBytes(record.size()) > options_.segment_bytes_max) {
    PACT_RETURN_IF_ERROR(RotateLocked(lsn));
  }
  Chunk& chunk = pending_.back();
  PACT_CHECK(chunk.log_number == writer_.log_number());
  PACT_CHECK(chunk.start_offset + chunk.bytes.size() == writer_.offset());
  const size_t before = chunk.bytes.size();
  writer_.AddRecord(record, &chunk.bytes);
  pending_bytes_ += chunk.bytes.size() - before;
  ++active_records_;
  last_lsn_ = lsn;
  return lsn;
}

Status Log::RotateLocked(Lsn first_lsn) {
  if (writer_.log_number() == kLogNumberMax) {
    return Status::FailedPrecondition(fmt::format("wal {}: log numbers exhausted", options_.dir));
  }
  const uint32_t number = writer_.log_number() + 1;
  writer_ = LogWriter(number, 0);
  Chunk chunk{number, "", 0, ""};
  writer_.AddHeader(first_lsn, &chunk.header);
  chunk.start_offset = writer_.offset();
  pending_bytes_ += chunk.header.size();
  pending_.push_back(std::move(chunk));
  segments_.push_back(Segment{number, first_lsn, /*created=*/false});
  active_records_ = 0;
  return Status::Ok();
}

Status Log::WaitDurable(Lsn lsn) {
  std::unique_lock lock(mutex_);
  if (lsn > last_lsn_) {
    return Status::InvalidArgument(
        fmt::format("wal: WaitDurable({}) past the last LSN {}", lsn, last_lsn_));
  }
  return CommitLocked(lock, lsn);
}

Result<Lsn> Log::AppendDurable(std::string_view record) {
  PACT_ASSIGN_OR_RETURN(Lsn lsn, Append(record));
  PACT_RETURN_IF_ERROR(WaitDurable(lsn));
  return lsn;
}

Status Log::CommitLocked(std::unique_lock<std::mutex>& lock, Lsn lsn) {
  PACT_CHECK(lock.owns_lock());
  PACT_CHECK(lsn <= last_lsn_, "commit of LSN {} past the last LSN {}", lsn, last_lsn_);
  while (true) {
    if (durable_lsn_ >= lsn) return Status::Ok();
    if (!error_.ok()) return error_;
    if (!leader_active_) break;
    // A leader is writing group_; `lsn` is in it, or will be in the next one.
    const uint64_t group = lsn <= group_lsn_ ? group_ : group_ + 1;
    group_done_cv_[group % 2].wait(lock);
  }

  // Lead: take everything buffered (it includes `lsn`), write and sync it without the mutex,
  // so that appends meanwhile gather into the next group.
  leader_active_ = true;
  const uint64_t group = ++group_;
  group_lsn_ = last_lsn_;
  std::vector<Chunk> batch;
  batch.swap(pending_);
  pending_.push_back(Chunk{writer_.log_number(), "", writer_.offset(), ""});
  pending_bytes_ = 0;
  const Lsn batch_lsn = group_lsn_;
  PACT_CHECK(batch_lsn >= lsn && batch_lsn > durable_lsn_);

  lock.unlock();
  std::vector<uint32_t> created;
  const Status status = WriteBatch(batch, &created);
  lock.lock();

  leader_active_ = false;
  if (status.ok()) {
    PACT_CHECK(durable_lsn_ < batch_lsn, "durable LSN {} moved during a commit to {}", durable_lsn_,
               batch_lsn);
    durable_lsn_ = batch_lsn;
    for (Segment& segment : segments_) {
      if (std::find(created.begin(), created.end(), segment.log_number) != created.end()) {
        segment.created = true;
      }
    }
  } else {
    // Fail-stop: after a failed fsync the page cache may have dropped the data, so a later
    // successful fsync would prove nothing. Never retry; never acknowledge again.
    error_ = Status::IoError(
        fmt::format("wal {}: failed, reopen to recover: {}", options_.dir, status.ToString()));
    PACT_LOG_ERROR("{}", error_.ToString());
  }
  // Wake the waiters this group covered, and one waiter of the next group to lead it (any
  // waiter of the next group is covered by whoever leads it, so one is enough). Notify
  // without the mutex, so the woken threads do not at once block on it again.
  Status result = status.ok() ? Status::Ok() : error_;
  lock.unlock();
  group_done_cv_[group % 2].notify_all();
  if (status.ok()) {
    group_done_cv_[(group + 1) % 2].notify_one();
  } else {
    group_done_cv_[(group + 1) % 2].notify_all();
  }
  lock.lock();
  return result;
}

Status Log::WriteBatch(std::vector<Chunk>& batch, std::vector<uint32_t>* created) {
  bool unsynced = false;
  for (Chunk& chunk : batch) {
    if (!chunk.header.empty()) {
      // Rotation: the old segment is wholly durable before the new one exists, so only the
      // last segment can ever have a torn tail (wal-format.md 5).
      if (unsynced) PACT_RETURN_IF_ERROR(file_->Sync());
      unsynced = false;
      PACT_RETURN_IF_ERROR(file_->Close());
      file_.reset();
      PACT_RETURN_IF_ERROR(CreateSegmentFile(chunk.log_number, chunk.header));
      created->push_back(chunk.log_number);
    }
    PACT_CHECK(file_ != nullptr && chunk.log_number == file_log_number_,
               "chunk for segment {} but segment {} is open", chunk.log_number, file_log_number_);
    if (chunk.bytes.empty()) continue;
    PACT_CHECK(file_->Size() == chunk.start_offset,
               "{}: file holds {} bytes but the writer put the next record at {}",
               SegmentPath(chunk.log_number), file_->Size(), chunk.start_offset);
    PACT_RETURN_IF_ERROR(file_->Append(chunk.bytes));
    unsynced = true;
  }
  if (unsynced) PACT_RETURN_IF_ERROR(file_->Sync());
  return Status::Ok();
}

Status Log::RemoveSegmentsBefore(Lsn lsn) {
  std::lock_guard remove_lock(remove_mutex_);
  std::vector<uint32_t> victims;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
      const Segment& next = segments_[i + 1];
      // Every record of segment i is below next.first_lsn; keeping the successor's creation
      // durable first means the directory never loses the LSN numbering.
      if (!next.created || next.first_lsn > lsn) break;
      victims.push_back(segments_[i].log_number);
    }
  }
  if (victims.empty()) return Status::Ok();
  // Oldest first: a crash part-way leaves a shorter removed prefix, never a gap.
  size_t removed = 0;
  Status status;
  for (uint32_t number : victims) {
    status = fs_->RemoveFile(SegmentPath(number));
    if (!status.ok()) break;
    ++removed;
  }
  if (removed > 0) {
    Status sync = fs_->SyncDir(options_.dir);
    if (status.ok()) status = sync;
  }
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < removed; ++i) {
    PACT_CHECK(segments_.size() > 1 && segments_.front().log_number == victims[i]);
    segments_.pop_front();
  }
  return status;
}

Status Log::Close() {
  std::unique_lock lock(mutex_);
  if (closed_) return Status::Ok();
  closed_ = true;
  Status status = CommitLocked(lock, last_lsn_);
  while (leader_active_) group_done_cv_[group_ % 2].wait(lock);
  if (file_ != nullptr) {
    Status close = file_->Close();
    file_.reset();
    if (status.ok()) status = close;
  }
  return status;
}

Lsn Log::last_lsn() const {
  std::lock_guard lock(mutex_);
  return last_lsn_;
}

Lsn Log::durable_lsn() const {
  std::lock_guard lock(mutex_);
  return durable_lsn_;
}

Lsn Log::first_lsn() const {
  std::lock_guard lock(mutex_);
  PACT_CHECK(!segments_.empty());
  return segments_.front().first_lsn;
}

uint64_t Log::segment_count() const {
  std::lock_guard lock(mutex_);
  return segments_.size();
}

}  // namespace pact::wal
