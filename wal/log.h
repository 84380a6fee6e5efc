// Log: the write-ahead log every Pact log is built on (coordinator decision log, participant
// log, embedded KV store). A directory of segment files in the format of docs/wal-format.md:
// records get LSNs 1, 2, 3, ... across segments; appends from many threads share one
// fdatasync (group commit); recovery truncates a torn tail and refuses corruption.
//
// No background threads: group commit is done by the callers of WaitDurable themselves (the
// first waiter whose LSN is not durable becomes the leader, writes everything buffered and
// fdatasyncs once; the others wait). So the deterministic simulator can run the real log on
// FaultInjectingFileSystem from one thread.
//
// Typical use:
//   PACT_ASSIGN_OR_RETURN(std::unique_ptr<wal::Log> log,
//                         wal::Log::Open(fs, options, [&](wal::Lsn lsn, std::string_view r) {
//                           return state.Apply(lsn, r);
//                         }));
//   PACT_ASSIGN_OR_RETURN(wal::Lsn lsn, log->AppendDurable(record));  // now on disk
//
// Thread-safety: Append, WaitDurable, AppendDurable, RemoveSegmentsBefore, Close and the
// accessors may be called from any number of threads at once. The destructor must not run
// concurrently with any other call.
//
// Failure: a failed write or fsync of a segment is fatal (fail-stop; fsync is never retried).
// From then on Append returns FailedPrecondition, every WaitDurable for an LSN that was not
// durable before returns IoError, and durable_lsn() never moves again. Reopen the log (after a
// restart) to recover.
#ifndef PACT_WAL_LOG_H_
#define PACT_WAL_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/file_system.h"
#include "common/status.h"
#include "wal/log_format.h"
#include "wal/log_writer.h"

namespace pact::wal {

// Lsn and kNoLsn come from wal/log_format.h: 1, 2, 3, ... per record, 0 = none.

enum class RecoveryMode {
  // A damaged region at the very end of the last segment (what a crash leaves) is truncated
  // and reported; damage anywhere else is Corruption.
  kTolerateTornTail,
  // Any damage, torn tail included, is Corruption; nothing is changed on disk.
  kStrict,
};

struct LogOptions {
  std::string dir;                                  // the log's directory; created if missing
  uint64_t segment_bytes_max = uint64_t{64} << 20;  // rotate before exceeding (wal-format.md 1)
  uint64_t record_bytes_max = uint64_t{16} << 20;   // larger records: InvalidArgument
  uint64_t buffer_bytes_max = uint64_t{4} << 20;    // Append commits first when more is buffered
  RecoveryMode recovery_mode = RecoveryMode::kTolerateTornTail;
};

// What Open found and did.
struct RecoveryReport {
  uint64_t records = 0;           // records replayed
  Lsn first_lsn = kNoLsn;         // first replayed record, kNoLsn if none
  Lsn last_lsn = kNoLsn;          // last replayed record, kNoLsn if none
  uint64_t segments = 0;          // segment files read (including a removed incomplete one)
  bool truncated_tail = false;    // a torn tail was cut off
  std::string truncated_file;     // the file it was in (path)
  uint64_t truncated_offset = 0;  // where the file now ends (0 if the file was removed)
  uint64_t truncated_bytes = 0;   // bytes cut off
  std::string truncated_reason;   // what was wrong with the first cut-off byte
};

// Called by Open for every record in LSN order. An error aborts Open and is returned.
using ReplayFunction = std::function<Status(Lsn lsn, std::string_view record)>;

class Log {
 public:
  // Opens the log in options.dir (creating an empty log if there is none), checks every
  // segment, repairs a torn tail (kTolerateTornTail), replays every record through `replay`,
  // and starts a new segment to append to after the last record. `fs` is borrowed and must
  // outlive the log. `report`, if given, is filled in (also when Open fails, as far as it got).
  // Fails with InvalidArgument (bad options), Corruption (naming the file and offset), IoError,
  // or the first error returned by `replay`. `replay` is called only once the whole log has
  // been checked, so it never sees records of a log that Open refuses for corruption.
  static Result<std::unique_ptr<Log>> Open(FileSystem* fs, const LogOptions& options,
                                           const ReplayFunction& replay,
                                           RecoveryReport* report = nullptr);

  // Closes without syncing: records not yet durable may be lost, as in a crash.
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Adds `record` (may be empty) after the last one and returns its LSN. Not durable until
  // WaitDurable(lsn) returns OK. Usually only encodes into memory; blocks to commit a group
  // first when more than buffer_bytes_max bytes are buffered. Fails with InvalidArgument if
  // the record is longer than record_bytes_max, FailedPrecondition after Close or a fatal
  // error.
  Result<Lsn> Append(std::string_view record);

  // Returns OK once every record up to `lsn` is durable, taking part in group commit (see
  // the file comment). OK at once for lsn <= durable_lsn() (also after a fatal error); IoError
  // (fatal) if the write or fsync that had to cover `lsn` failed, now or earlier;
  // InvalidArgument if lsn > last_lsn().
  Status WaitDurable(Lsn lsn);

  // Append followed by WaitDurable.
  Result<Lsn> AppendDurable(std::string_view record);

  // Removes whole segments whose every record has an LSN < `lsn` (after a checkpoint that
  // covers them). The active segment, and a segment whose successor is not yet durably
  // created, are kept; so a removal never loses the LSN numbering. IoError if a file could not
  // be removed (the log stays usable; segments not removed are kept and retried next time).
  Status RemoveSegmentsBefore(Lsn lsn);

  // Makes every appended record durable, then closes the active segment. Appends fail from
  // then on. Returns the fatal error if the log failed. A second Close returns OK.
  Status Close();

  Lsn last_lsn() const;            // LSN of the last appended record (kNoLsn if none ever)
  Lsn durable_lsn() const;         // every record up to this LSN is durable
  Lsn first_lsn() const;           // first LSN still kept (first_lsn() > last_lsn() if none kept)
  uint64_t segment_count() const;  // segment files the log holds now (including pending ones)

 private:
  struct Segment {
    uint32_t log_number;
    Lsn first_lsn;
    bool created;  // the file exists and its header and directory entry are durable
  };
  // Bytes encoded for one segment, waiting for a leader to write them.
  struct Chunk {
    uint32_t log_number;
    std::string header;     // non-empty: the segment must be created first (wal-format.md 5)
    uint64_t start_offset;  // where `bytes` start in the segment file
    std::string bytes;      // encoded records
  };

  Log(FileSystem* fs, LogOptions options);

  Status CreateFirstSegment(uint32_t log_number, Lsn first_lsn);
  Status CreateSegmentFile(uint32_t log_number, const std::string& header);
  Status AppendableLocked() const;
  Status CommitLocked(std::unique_lock<std::mutex>& lock, Lsn lsn);
  Status WriteBatch(std::vector<Chunk>& batch, std::vector<uint32_t>* created);
  Status RotateLocked(Lsn first_lsn);
  std::string SegmentPath(uint32_t log_number) const;

  FileSystem* const fs_;
  const LogOptions options_;

  mutable std::mutex mutex_;
  // Waiters for group `g` wait on group_done_cv_[g % 2]: those the group in flight covers, and
  // those that need the next group. So a finished group wakes only the waiters it made
  // durable, plus one waiter to lead the next group, rather than every waiter.
  std::condition_variable group_done_cv_[2];
  uint64_t group_ = 0;      // number of the last group a leader started
  Lsn group_lsn_ = kNoLsn;  // last LSN of that group
  Lsn last_lsn_ = kNoLsn;
  Lsn durable_lsn_ = kNoLsn;
  bool leader_active_ = false;  // a leader owns file_ and is writing outside the mutex
  bool closed_ = false;
  Status error_;                  // the fatal error, once one happened
  std::deque<Segment> segments_;  // oldest first; back() is the active segment
  LogWriter writer_;              // encoder for the active segment (logical end of the log)
  uint64_t active_records_ = 0;   // records in the active segment
  std::vector<Chunk> pending_;    // never empty: back() collects appends to the active segment
  uint64_t pending_bytes_ = 0;

  // Owned by whoever holds leadership (leader_active_), or by Open/Close/~Log.
  std::unique_ptr<WritableFile> file_;
  uint32_t file_log_number_ = 0;

  std::mutex remove_mutex_;  // serializes RemoveSegmentsBefore
};

}  // namespace pact::wal

#endif  // PACT_WAL_LOG_H_
