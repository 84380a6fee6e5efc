// KvStore: the embedded, ordered, transactional key-value store that takes part in two-phase
// commit as a Resource (docs/kv-store.md). Committed data lives in memory and is made durable
// by the store's WAL (wal::Log) and periodic snapshots.
//
// Branches: BeginBranch, then Get/Put/Delete/Scan. Writes are buffered in the branch's
// write-set; reads see them over the committed data. Prepare writes the write-set to the WAL
// and fsyncs before it returns kPrepared; CommitPrepared makes COMMIT durable, then applies the
// write-set; Rollback drops the branch (durably, if it was prepared). Prepared branches, with
// their locks, survive a restart.
//
// Isolation is serializable: Prepare locks the write-set's keys until the branch ends and
// validates the branch's reads (docs/kv-store.md 1). Any branch operation touching a key a
// prepared branch holds waits up to lock_wait_ms for it to end.
//
// Errors (Status codes):
//   kInvalidArgument    a key, value, write-set, read-set or scan beyond its limit, bad options
//   kNotFound           no such branch (never begun here, finished, or lost in a restart)
//   kFailedPrecondition the branch is in the wrong state for the call (prepared, active, busy
//                       with another call); or the store failed after an IO error (reopen)
//   kUnavailable        a lock wait timed out in Get/Put/Delete/Scan; the branch stays usable
//   kAborted            Prepare rolled the branch back: a lock wait timed out, or a read was
//                       invalidated by a commit (serialization conflict)
//   kOverloaded         branches_max branches are open
//   kIoError            a WAL write or fsync failed: fatal, the store fails (see above)
//   kCorruption         Open: a snapshot or WAL record fails its checks
//
// Thread-safety: every method may be called from any number of threads at once; calls for one
// branch must come from one thread at a time (a call that overlaps another for the same branch
// fails with kFailedPrecondition). One mutex guards the store's state; it is never held across
// WAL fsyncs, so concurrent branches share them (group commit). The destructor must not run
// concurrently with any call. No background threads: the thread whose commit or rollback
// pushes the WAL past checkpoint_log_bytes writes the checkpoint before that call returns.
#ifndef PACT_PARTICIPANT_KV_KV_STORE_H_
#define PACT_PARTICIPANT_KV_KV_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/branch_id.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "common/status.h"
#include "pact/resource.h"
#include "participant/kv/kv_coding.h"
#include "participant/kv/kv_record.h"
#include "wal/log.h"

namespace pact {

// Bounds on the KvOptions limits themselves.
inline constexpr uint64_t kKvKeyBytesLimit = uint64_t{1} << 20;
inline constexpr uint64_t kKvValueBytesLimit = uint64_t{256} << 20;
inline constexpr uint64_t kKvWriteSetBytesLimit = uint64_t{512} << 20;
inline constexpr uint64_t kKvLockWaitMsLimit = uint64_t{3'600'000};
inline constexpr uint64_t kKvReadSetKeysLimit = uint64_t{1} << 30;
inline constexpr uint64_t kKvScanEntriesLimit = uint64_t{1} << 24;
inline constexpr uint64_t kKvBranchesLimit = uint64_t{1} << 24;

// Limits (docs/kv-store.md 2). A request beyond one fails with kInvalidArgument.
struct KvOptions {
  // The store's directory; created if missing. Holds `snapshot` and `wal/`.
  std::string dir;
  // Keys are 1..key_bytes_max bytes; values 0..value_bytes_max bytes.
  uint64_t key_bytes_max = uint64_t{4} << 10;
  uint64_t value_bytes_max = uint64_t{1} << 20;
  // Encoded ops of one branch's write-set (sum of kv::OpBytes): bounds the PREPARE record.
  uint64_t write_set_bytes_max = uint64_t{16} << 20;
  // Keys one branch may read (a scan counts its committed entries in range, plus one).
  uint64_t read_set_keys_max = 100'000;
  // The largest `limit` of one Scan.
  uint64_t scan_entries_max = 10'000;
  // Open branches, active or prepared; BeginBranch beyond it fails with kOverloaded.
  uint64_t branches_max = 10'000;
  // How long a branch operation waits for a prepared branch's lock (0: fail at once).
  uint64_t lock_wait_ms = 1'000;
  // WAL bytes appended after which a commit or rollback checkpoints (0: only Checkpoint()).
  uint64_t checkpoint_log_bytes = uint64_t{64} << 20;
  // WAL segment size (wal::LogOptions::segment_bytes_max); checkpoints remove whole segments.
  uint64_t log_segment_bytes_max = uint64_t{8} << 20;
  // Time for lock waits; not owned, must outlive the store. Null: SystemClock::Default().
  Clock* clock = nullptr;
};

struct KvEntry {
  std::string key;
  std::string value;
  friend bool operator==(const KvEntry&, const KvEntry&) = default;
};

// A consistent picture of the store, for tests, metrics and pactctl.
struct KvStats {
  uint64_t committed_keys = 0;
  uint64_t active_branches = 0;
  uint64_t prepared_branches = 0;  // including those committing or rolling back
  uint64_t locked_keys = 0;
  wal::Lsn snapshot_lsn = wal::kNoLsn;  // the last checkpoint's, as far as this process knows
  wal::Lsn log_first_lsn = wal::kNoLsn;
  wal::Lsn log_last_lsn = wal::kNoLsn;
  uint64_t log_segments = 0;
  uint64_t checkpoints = 0;  // completed since Open
  bool failed = false;
};

class KvStore final : public Resource {
 public:
  // Opens (or creates) the store in options.dir: loads the snapshot, replays the WAL after it,
  // restores prepared branches and their locks. `fs` is borrowed and must outlive the store.
  // Fails with InvalidArgument (bad options), Corruption (a snapshot or WAL record fails its
  // checks, or the WAL does not continue the snapshot: the operator must look), IoError.
  static Result<std::unique_ptr<KvStore>> Open(FileSystem* fs, const KvOptions& options);

  // Closes without syncing anything more: every acknowledged operation is durable already;
  // active branches are lost (they would vote NO), prepared ones come back at the next Open.
  ~KvStore() override;
  KvStore(const KvStore&) = delete;
  KvStore& operator=(const KvStore&) = delete;

  // "kv:<dir>".
  std::string_view name() const override { return name_; }

  // --- Resource -------------------------------------------------------------------------------

  // InvalidArgument for an invalid id; FailedPrecondition when the branch is open here already.
  Status BeginBranch(const BranchId& branch) override;

  // Waits (up to lock_wait_ms) until no other branch holds a lock on a key the branch read or
  // wrote, validates its reads, and then: an empty write-set -> kReadOnly (the branch is
  // finished); else locks the write-set's keys, appends PREPARE and returns kPrepared once it
  // is durable. A repeated Prepare of a prepared branch returns kPrepared. Errors: NotFound (no
  // such branch), kAborted (rolled back: lock wait timed out or serialization conflict),
  // kIoError (fatal; the PREPARE may or may not be durable).
  Result<PrepareResult> Prepare(const BranchId& branch) override;

  // Appends COMMIT, waits until it is durable, applies the write-set and releases its locks.
  // NotFound when no such branch is here (already committed or rolled back, or never prepared);
  // FailedPrecondition when the branch is active, not prepared; kIoError (fatal: after a
  // restart the branch is either committed or still prepared).
  Status CommitPrepared(const BranchId& branch) override;

  // Drops an active branch's write-set; for a prepared one appends ROLLBACK, waits until it is
  // durable and releases the locks. OK when the store holds nothing of the branch.
  Status Rollback(const BranchId& branch) override;

  // Every prepared branch (restored after a restart, too), sorted.
  Result<std::vector<BranchId>> ListPrepared() override;

  // --- Work in a branch (active branches only) ------------------------------------------------

  // The value the branch sees: its own write if any, else the committed value (nullopt when
  // absent). Records the read for validation at Prepare. Waits for a prepared branch's lock.
  Result<std::optional<std::string>> Get(const BranchId& branch, std::string_view key);
  // Buffers a write. Waits for a prepared branch's lock on the key, then buffers.
  Status Put(const BranchId& branch, std::string_view key, std::string_view value);
  Status Delete(const BranchId& branch, std::string_view key);
  // Up to `limit` (1..scan_entries_max) entries with start_key <= key < end_key in key order,
  // the branch's writes merged over the committed data. An empty end_key means no upper bound;
  // otherwise start_key < end_key. Records the range read for validation at Prepare (no
  // phantoms). Waits for prepared branches' locks in the range.
  Result<std::vector<KvEntry>> Scan(const BranchId& branch, std::string_view start_key,
                                    std::string_view end_key, uint64_t limit);

  // --- Committed data, outside any branch (never waits, never conflicts) ----------------------

  Result<std::optional<std::string>> GetCommitted(std::string_view key);
  Result<std::vector<KvEntry>> ScanCommitted(std::string_view start_key, std::string_view end_key,
                                             uint64_t limit);

  // --- Maintenance ----------------------------------------------------------------------------

  // Writes a snapshot of the state and removes the WAL segments it covers (docs/kv-store.md 5).
  // Briefly holds back PREPARE/COMMIT/ROLLBACK appends. An IoError here is not fatal: the WAL
  // still holds everything.
  Status Checkpoint();

  KvStats Stats() const;

  // CHECKs every invariant of the store's state (locks match prepared write-sets, byte counts,
  // versions, in-flight counts). For tests: O(size of the state).
  void CheckInvariants() const;

 private:
  enum class BranchState {
    kActive,       // reading and buffering writes
    kPreparing,    // locks held, PREPARE appended or being appended, not yet durable
    kPrepared,     // PREPARE durable
    kCommitting,   // COMMIT being made durable
    kRollingBack,  // ROLLBACK being made durable
  };

  // A range a Scan covered, [start, end) (end "" = unbounded), and the committed (key, version)
  // pairs in it at the time.
  struct ScanRead {
    std::string start;
    std::string end;
    std::vector<std::pair<std::string, uint64_t>> seen;
  };

  struct Branch {
    BranchState state = BranchState::kActive;
    bool busy = false;  // a call for this branch is running with the mutex released
    kv::WriteSet writes;
    uint64_t write_bytes = 0;                            // kv::WriteSetOpBytes(writes)
    std::map<std::string, uint64_t, std::less<>> reads;  // key -> version seen (0: absent)
    std::vector<ScanRead> scans;
    uint64_t read_keys = 0;  // against read_set_keys_max
  };

  struct Entry {
    std::string value;
    uint64_t version;  // the commit that wrote it, counted in this process
  };
  using Data = std::map<std::string, Entry, std::less<>>;

  // A lock that another branch holds on a key the caller needs.
  struct LockConflict {
    std::string key;
    BranchId owner;
  };

  // Marks a branch busy while a call runs with the mutex released. Lives under the mutex.
  class BusyScope;

  KvStore(FileSystem* fs, KvOptions options);

  // Open, in order.
  Status RemoveStaleTempFile();
  Status LoadSnapshot();
  Status ReplayRecord(wal::Lsn lsn, std::string_view bytes);
  Status CheckLogContinuesSnapshot() const;

  // The rest require mutex_.
  Status UsableLocked() const;
  void FailLocked(const Status& cause);
  Result<Branch*> ActiveBranchLocked(const BranchId& id, std::string_view what);
  Status ApplyRecordLocked(kv::Record record);
  void LockWritesLocked(const BranchId& id, const Branch& branch);
  void UnlockWritesLocked(const BranchId& id, const Branch& branch);
  void ApplyWritesLocked(kv::WriteSet& writes);
  uint64_t VersionLocked(std::string_view key) const;

  std::optional<LockConflict> FindLockLocked(std::string_view key) const;
  std::optional<LockConflict> FindLockInRangeLocked(std::string_view start,
                                                    std::string_view end) const;
  std::optional<LockConflict> FindPrepareConflictLocked(const Branch& branch) const;
  // Waits (releasing `lock`) until `find_conflict` finds nothing, at most lock_wait_ms; then
  // Unavailable. With `for_append`, also waits while a checkpoint holds appends back.
  Status WaitForLocksLocked(std::unique_lock<std::mutex>& lock, std::string_view what,
                            bool for_append,
                            const std::function<std::optional<LockConflict>()>& find_conflict);
  Status WaitForAppendsLocked(std::unique_lock<std::mutex>& lock);

  Status ValidateReadsLocked(const BranchId& id, const Branch& branch) const;
  Status RecordReadLocked(Branch* branch, std::string_view key, uint64_t version);
  Status WriteInBranch(const BranchId& id, std::string_view key,
                       std::optional<std::string_view> value);
  // Merges `writes` over the committed data: entries in [start, end) up to `limit`, and the
  // end of the range the result depends on ("" = unbounded).
  std::vector<KvEntry> MergeScanLocked(const kv::WriteSet& writes, std::string_view start,
                                       std::string_view end, uint64_t limit,
                                       std::string* covered_end) const;
  // Locks a validated, busy branch's writes, appends PREPARE and waits until it is durable.
  Result<PrepareResult> PersistPrepareLocked(std::unique_lock<std::mutex>& lock,
                                             std::map<BranchId, Branch>::iterator it);
  // Appends COMMIT or ROLLBACK for a prepared branch and ends it once that is durable.
  Status EndPreparedLocked(std::unique_lock<std::mutex>& lock,
                           std::map<BranchId, Branch>::iterator it, kv::RecordType type);
  std::string EncodeSnapshotLocked(wal::Lsn lsn) const;
  bool CheckpointDueLocked() const;
  void MaybeCheckpoint();
  Status RunCheckpoint();  // requires checkpoint_mutex_, not mutex_

  Status CheckKey(std::string_view key, std::string_view what) const;
  Status CheckScanArgs(std::string_view start, std::string_view end, uint64_t limit) const;

  FileSystem* const fs_;
  const KvOptions options_;
  Clock* const clock_;
  const std::string name_;
  const std::string snapshot_path_;
  std::unique_ptr<wal::Log> log_;  // set by Open; never null afterwards

  std::mutex checkpoint_mutex_;  // one checkpoint at a time; taken before mutex_

  mutable std::mutex mutex_;
  // Signalled when a lock is released, an append ends, a checkpoint stops or starts holding
  // appends back, or the store fails.
  std::condition_variable state_cv_;
  Data data_;
  std::map<BranchId, Branch> branches_;  // ordered: ListPrepared and snapshots are sorted
  std::map<std::string, BranchId, std::less<>> locks_;  // key -> the branch that locked it
  uint64_t version_ = 1;             // the last commit's version; data loaded at Open has version 1
  uint64_t inflight_ = 0;            // branches in kPreparing, kCommitting or kRollingBack
  bool checkpoint_pending_ = false;  // a checkpoint holds new appends back
  uint64_t log_bytes_since_checkpoint_ = 0;
  wal::Lsn snapshot_lsn_ = wal::kNoLsn;
  uint64_t checkpoints_ = 0;
  Status failed_;  // set once a WAL write or fsync failed
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_KV_KV_STORE_H_
