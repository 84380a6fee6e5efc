#include "participant/kv/kv_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/check.h"
#include "common/logging.h"
#include "participant/kv/kv_snapshot.h"

namespace pact {
namespace {

constexpr std::string_view kWalDirName = "wal";
constexpr std::string_view kSnapshotFileName = "snapshot";
constexpr std::string_view kTempSuffix = ".tmp";   // FileSystem::WriteFileAtomically's
constexpr uint64_t kAbsentVersion = 0;             // the version a read of a missing key records
constexpr uint64_t kLoadedVersion = 1;             // the version of data loaded at Open
constexpr uint64_t kLockWaitSliceMicros = 10'000;  // lock waits look at the Clock this often

Status CheckRange(std::string_view name, uint64_t value, uint64_t low, uint64_t high) {
  if (value >= low && value <= high) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("kv: KvOptions::{} = {} is not in [{}, {}]", name, value, low, high));
}

Status ValidateOptions(const KvOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("kv: KvOptions::dir is empty");
  PACT_RETURN_IF_ERROR(CheckRange("key_bytes_max", options.key_bytes_max, 1, kKvKeyBytesLimit));
  PACT_RETURN_IF_ERROR(
      CheckRange("value_bytes_max", options.value_bytes_max, 0, kKvValueBytesLimit));
  // One put of the largest key and value must fit in a write-set.
  PACT_RETURN_IF_ERROR(CheckRange("write_set_bytes_max", options.write_set_bytes_max,
                                  kv::OpBytes(options.key_bytes_max, options.value_bytes_max),
                                  kKvWriteSetBytesLimit));
  PACT_RETURN_IF_ERROR(
      CheckRange("read_set_keys_max", options.read_set_keys_max, 1, kKvReadSetKeysLimit));
  PACT_RETURN_IF_ERROR(
      CheckRange("scan_entries_max", options.scan_entries_max, 1, kKvScanEntriesLimit));
  PACT_RETURN_IF_ERROR(CheckRange("branches_max", options.branches_max, 1, kKvBranchesLimit));
  PACT_RETURN_IF_ERROR(CheckRange("lock_wait_ms", options.lock_wait_ms, 0, kKvLockWaitMsLimit));
  return CheckRange("log_segment_bytes_max", options.log_segment_bytes_max, wal::kSegmentBytesMin,
                    wal::kSegmentBytesLimit);
}

// "kv/" and "kv" must name one directory: FileSystem::SyncDir matches entries by ParentDir().
std::string NormalizeDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

bool InRange(std::string_view key, std::string_view end) { return end.empty() || key < end; }

}  // namespace

class KvStore::BusyScope {
 public:
  explicit BusyScope(Branch* branch) : branch_(branch) {
    PACT_CHECK(!branch_->busy);
    branch_->busy = true;
  }
  ~BusyScope() { branch_->busy = false; }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  Branch* const branch_;
};

KvStore::KvStore(FileSystem* fs, KvOptions options)
    : fs_(fs),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : SystemClock::Default()),
      name_(fmt::format("kv:{}", options_.dir)),
      snapshot_path_(JoinPath(options_.dir, kSnapshotFileName)) {}

// Nothing to sync: every acknowledged operation is durable already.
KvStore::~KvStore() = default;

// ---------------------------------------------------------------------------------------------
// Open and recovery

Result<std::unique_ptr<KvStore>> KvStore::Open(FileSystem* fs, const KvOptions& raw_options) {
  PACT_CHECK(fs != nullptr);
  PACT_RETURN_IF_ERROR(ValidateOptions(raw_options));
  KvOptions options = raw_options;
  options.dir = NormalizeDir(options.dir);
  std::unique_ptr<KvStore> store(new KvStore(fs, std::move(options)));
  const KvOptions& opts = store->options_;

  // CreateDirs makes no new directory entry durable (PosixFileSystem does not sync parents):
  // sync the store directory (for wal/) and its parent (for the store directory itself), so a
  // fresh store's acknowledged records cannot vanish with their directories in a crash.
  const std::string wal_dir = JoinPath(opts.dir, kWalDirName);
  PACT_RETURN_IF_ERROR(fs->CreateDirs(wal_dir));
  PACT_RETURN_IF_ERROR(fs->SyncDir(opts.dir));
  PACT_RETURN_IF_ERROR(fs->SyncDir(ParentDir(opts.dir)));
  PACT_RETURN_IF_ERROR(store->RemoveStaleTempFile());
  PACT_RETURN_IF_ERROR(store->LoadSnapshot());

  wal::LogOptions log_options;
  log_options.dir = wal_dir;
  log_options.segment_bytes_max = opts.log_segment_bytes_max;
  log_options.record_bytes_max = opts.write_set_bytes_max + kv::kPrepareOverheadBytes;
  KvStore* raw = store.get();
  Result<std::unique_ptr<wal::Log>> log = wal::Log::Open(
      fs, log_options,
      [raw](wal::Lsn lsn, std::string_view record) { return raw->ReplayRecord(lsn, record); });
  if (!log.ok()) return log.status().WithContext(fmt::format("{}: opening the WAL", store->name_));
  store->log_ = std::move(log).value();
  PACT_RETURN_IF_ERROR(store->CheckLogContinuesSnapshot());
  store->CheckInvariants();

  const KvStats stats = store->Stats();
  PACT_LOG_INFO("{}: opened with {} keys and {} prepared branches; snapshot at LSN {}, WAL {}..{}",
                store->name_, stats.committed_keys, stats.prepared_branches, stats.snapshot_lsn,
                stats.log_first_lsn, stats.log_last_lsn);
  return store;
}

// A crash inside WriteFileAtomically leaves the temp file; it never holds anything needed.
Status KvStore::RemoveStaleTempFile() {
  const std::string temp = snapshot_path_ + std::string(kTempSuffix);
  if (!fs_->FileExists(temp)) return Status::Ok();
  return fs_->RemoveFile(temp);
}

Status KvStore::LoadSnapshot() {
  if (!fs_->FileExists(snapshot_path_)) return Status::Ok();
  PACT_ASSIGN_OR_RETURN(std::string bytes, fs_->ReadFileToString(snapshot_path_));
  Result<kv::Snapshot> snapshot = kv::DecodeSnapshot(bytes);
  if (!snapshot.ok()) {
    // No fallback: the WAL segments an older snapshot would need may be gone.
    return Status::Corruption(fmt::format("{}: snapshot {} is damaged, refusing to open: {}", name_,
                                          snapshot_path_, snapshot.status().message()));
  }
  std::lock_guard lock(mutex_);
  snapshot_lsn_ = snapshot->lsn;
  for (auto& [key, value] : snapshot->data) {
    data_.emplace_hint(data_.end(), key, Entry{std::move(value), kLoadedVersion});
  }
  for (auto& [id, writes] : snapshot->prepared) {
    Branch& branch = branches_[id];
    branch.state = BranchState::kPrepared;
    branch.write_bytes = kv::WriteSetOpBytes(writes);
    branch.writes = std::move(writes);
    LockWritesLocked(id, branch);  // DecodeSnapshot checked that the write-sets are disjoint
  }
  return Status::Ok();
}

Status KvStore::ReplayRecord(wal::Lsn lsn, std::string_view bytes) {
  std::lock_guard lock(mutex_);
  if (lsn <= snapshot_lsn_) return Status::Ok();  // the snapshot reflects it already
  Result<kv::Record> record = kv::DecodeRecord(bytes);
  Status status = record.ok() ? ApplyRecordLocked(std::move(record).value()) : record.status();
  if (!status.ok()) {
    return Status::Corruption(
        fmt::format("{}: WAL record at LSN {}: {}", name_, lsn, status.message()));
  }
  log_bytes_since_checkpoint_ += bytes.size();
  return Status::Ok();
}

// Strict: a record that the running store could not have written is corruption, so that a
// damaged log never silently turns into different data.
Status KvStore::ApplyRecordLocked(kv::Record record) {
  auto it = branches_.find(record.branch);
  if (record.type == kv::RecordType::kPrepare) {
    if (it != branches_.end()) {
      return Status::Corruption(
          fmt::format("PREPARE of branch {}, which is prepared already", record.branch));
    }
    for (const auto& [key, value] : record.write_set) {
      if (std::optional<LockConflict> conflict = FindLockLocked(key)) {
        return Status::Corruption(
            fmt::format("PREPARE of branch {} writes key {}, which prepared branch {} holds",
                        record.branch, kv::Printable(key), conflict->owner));
      }
    }
    Branch& branch = branches_[record.branch];
    branch.state = BranchState::kPrepared;
    branch.write_bytes = kv::WriteSetOpBytes(record.write_set);
    branch.writes = std::move(record.write_set);
    LockWritesLocked(record.branch, branch);
    return Status::Ok();
  }
  if (it == branches_.end()) {
    return Status::Corruption(fmt::format("{} of branch {}, which is not prepared",
                                          kv::RecordTypeName(record.type), record.branch));
  }
  UnlockWritesLocked(it->first, it->second);
  if (record.type == kv::RecordType::kCommit) ApplyWritesLocked(it->second.writes);
  branches_.erase(it);
  return Status::Ok();
}

// The log must hold every record after the snapshot's LSN: a gap means lost commits.
Status KvStore::CheckLogContinuesSnapshot() const {
  const wal::Lsn first = log_->first_lsn();
  const wal::Lsn last = log_->last_lsn();
  if (first <= snapshot_lsn_ + 1 && last >= snapshot_lsn_) return Status::Ok();
  return Status::Corruption(fmt::format(
      "{}: the WAL holds LSNs {}..{} but the snapshot reflects the log up to LSN {}: records "
      "after the snapshot are missing",
      name_, first, last, snapshot_lsn_));
}

// ---------------------------------------------------------------------------------------------
// Helpers under the mutex

Status KvStore::UsableLocked() const { return failed_; }

void KvStore::FailLocked(const Status& cause) {
  if (!failed_.ok()) return;
  failed_ = Status::FailedPrecondition(fmt::format(
      "{}: failed after an IO error; reopen the store to recover: {}", name_, cause.ToString()));
  PACT_LOG_ERROR("{}", failed_.message());
  state_cv_.notify_all();
}

Result<KvStore::Branch*> KvStore::ActiveBranchLocked(const BranchId& id, std::string_view what) {
  PACT_RETURN_IF_ERROR(UsableLocked());
  auto it = branches_.find(id);
  if (it == branches_.end()) {
    return Status::NotFound(fmt::format(
        "{}: {} in branch {}: no such branch (never begun here, finished, or lost in a restart)",
        name_, what, id));
  }
  if (it->second.busy) {
    return Status::FailedPrecondition(fmt::format(
        "{}: {} in branch {}: another call for the branch is running", name_, what, id));
  }
  if (it->second.state != BranchState::kActive) {
    return Status::FailedPrecondition(fmt::format(
        "{}: {} in branch {}: the branch is prepared; its writes are final", name_, what, id));
  }
  return &it->second;
}

void KvStore::LockWritesLocked(const BranchId& id, const Branch& branch) {
  for (const auto& [key, value] : branch.writes) {
    const bool inserted = locks_.emplace(key, id).second;
    PACT_CHECK(inserted, "{}: branch {} locks key {}, which is locked already", name_, id,
               kv::Printable(key));
  }
}

void KvStore::UnlockWritesLocked(const BranchId& id, const Branch& branch) {
  for (const auto& [key, value] : branch.writes) {
    auto it = locks_.find(key);
    PACT_CHECK(it != locks_.end() && it->second == id, "{}: branch {} does not hold key {}", name_,
               id, kv::Printable(key));
    locks_.erase(it);
  }
  state_cv_.notify_all();
}

// Moves the values out of `writes`; the branch ends right after.
void KvStore::ApplyWritesLocked(kv::WriteSet& writes) {
  ++version_;
  for (auto& [key, value] : writes) {
    if (value.has_value()) {
      Entry& entry = data_[key];
      entry.value = std::move(*value);
      entry.version = version_;
    } else {
      data_.erase(key);
    }
  }
}

uint64_t KvStore::VersionLocked(std::string_view key) const {
  auto it = data_.find(key);
  return it == data_.end() ? kAbsentVersion : it->second.version;
}

// Only prepared branches hold locks, and a caller in an active branch holds none: any lock
// found belongs to another branch.
std::optional<KvStore::LockConflict> KvStore::FindLockLocked(std::string_view key) const {
  auto it = locks_.find(key);
  if (it == locks_.end()) return std::nullopt;
  return LockConflict{it->first, it->second};
}

std::optional<KvStore::LockConflict> KvStore::FindLockInRangeLocked(std::string_view start,
                                                                    std::string_view end) const {
  auto it = locks_.lower_bound(start);
  if (it == locks_.end() || !InRange(it->first, end)) return std::nullopt;
  return LockConflict{it->first, it->second};
}

std::optional<KvStore::LockConflict> KvStore::FindPrepareConflictLocked(
    const Branch& branch) const {
  for (const auto& [key, value] : branch.writes) {
    if (auto conflict = FindLockLocked(key)) return conflict;
  }
  for (const auto& [key, version] : branch.reads) {
    if (auto conflict = FindLockLocked(key)) return conflict;
  }
  for (const ScanRead& scan : branch.scans) {
    if (auto conflict = FindLockInRangeLocked(scan.start, scan.end)) return conflict;
  }
  return std::nullopt;
}

Status KvStore::WaitForLocksLocked(
    std::unique_lock<std::mutex>& lock, std::string_view what, bool for_append,
    const std::function<std::optional<LockConflict>()>& find_conflict) {
  PACT_CHECK(lock.owns_lock());
  const uint64_t deadline_micros = clock_->NowMicros() + options_.lock_wait_ms * 1000;
  while (true) {
    PACT_RETURN_IF_ERROR(UsableLocked());
    std::optional<LockConflict> conflict = find_conflict();
    if (!conflict.has_value()) {
      if (!for_append || !checkpoint_pending_) return Status::Ok();
      state_cv_.wait(lock);  // a checkpoint holds appends back only while it encodes
      continue;
    }
    const uint64_t now_micros = clock_->NowMicros();
    if (now_micros >= deadline_micros) {
      return Status::Unavailable(
          fmt::format("{}: {}: key {} is locked by prepared branch {}; gave up after {} ms", name_,
                      what, kv::Printable(conflict->key), conflict->owner, options_.lock_wait_ms));
    }
    // Time is the Clock's: wake up at least every slice to look at it, so that a clock that
    // is not the steady clock (a test's ManualClock) ends the wait too.
    const uint64_t wait_micros = std::min(deadline_micros - now_micros, kLockWaitSliceMicros);
    state_cv_.wait_for(lock, std::chrono::microseconds(wait_micros));
  }
}

Status KvStore::WaitForAppendsLocked(std::unique_lock<std::mutex>& lock) {
  while (true) {
    PACT_RETURN_IF_ERROR(UsableLocked());
    if (!checkpoint_pending_) return Status::Ok();
    state_cv_.wait(lock);
  }
}

// Silo's validation: every key read still has the version the branch saw, and every scanned
// range still holds exactly the (key, version) pairs it saw. Callers have waited until no other
// branch locks any of them, so a prepared branch cannot change them before this one commits.
Status KvStore::ValidateReadsLocked(const BranchId& id, const Branch& branch) const {
  for (const auto& [key, version] : branch.reads) {
    if (VersionLocked(key) == version) continue;
    return Status::Aborted(
        fmt::format("{}: prepare of branch {}: key {} changed after the branch read it "
                    "(serialization conflict); the branch is rolled back",
                    name_, id, kv::Printable(key)));
  }
  for (const ScanRead& scan : branch.scans) {
    auto it = data_.lower_bound(scan.start);
    size_t i = 0;
    for (; it != data_.end() && InRange(it->first, scan.end); ++it, ++i) {
      if (i < scan.seen.size() && scan.seen[i].first == it->first &&
          scan.seen[i].second == it->second.version) {
        continue;
      }
      break;
    }
    const bool unchanged =
        i == scan.seen.size() && (it == data_.end() || !InRange(it->first, scan.end));
    if (unchanged) continue;
    return Status::Aborted(fmt::format(
        "{}: prepare of branch {}: a commit added, changed or removed a key in the range "
        "[{}, {}) the branch scanned (serialization conflict); the branch is rolled back",
        name_, id, kv::Printable(scan.start), scan.end.empty() ? "end" : kv::Printable(scan.end)));
  }
  return Status::Ok();
}

// The first version seen is the one Prepare checks: a later read of a changed key is a
// conflict already.
Status KvStore::RecordReadLocked(Branch* branch, std::string_view key, uint64_t version) {
  if (branch->reads.contains(key)) return Status::Ok();
  if (branch->read_keys >= options_.read_set_keys_max) {
    return Status::InvalidArgument(
        fmt::format("{}: the branch read {} keys, read_set_keys_max", name_, branch->read_keys));
  }
  branch->reads.emplace(std::string(key), version);
  ++branch->read_keys;
  return Status::Ok();
}

std::vector<KvEntry> KvStore::MergeScanLocked(const kv::WriteSet& writes, std::string_view start,
                                              std::string_view end, uint64_t limit,
                                              std::string* covered_end) const {
  std::vector<KvEntry> entries;
  auto committed = data_.lower_bound(start);
  auto own = writes.lower_bound(start);
  while (entries.size() < limit) {
    const bool has_committed = committed != data_.end() && InRange(committed->first, end);
    const bool has_own = own != writes.end() && InRange(own->first, end);
    if (!has_committed && !has_own) break;
    if (has_own && (!has_committed || own->first <= committed->first)) {
      if (has_committed && committed->first == own->first) ++committed;  // shadowed
      if (own->second.has_value()) entries.push_back(KvEntry{own->first, *own->second});
      ++own;
    } else {
      entries.push_back(KvEntry{committed->first, committed->second.value});
      ++committed;
    }
  }
  // A full page depends on the keys up to its last one only; else on the whole range.
  if (entries.size() == limit) {
    *covered_end = entries.back().key;
    covered_end->push_back('\0');  // the smallest key after it
  } else {
    covered_end->assign(end);
  }
  return entries;
}

std::string KvStore::EncodeSnapshotLocked(wal::Lsn lsn) const {
  kv::SnapshotEncoder encoder(lsn, data_.size());
  for (const auto& [key, entry] : data_) encoder.AddEntry(key, entry.value);
  for (const auto& [id, branch] : branches_) {
    PACT_CHECK(branch.state == BranchState::kActive || branch.state == BranchState::kPrepared,
               "{}: snapshot while branch {} is in flight", name_, id);
    if (branch.state == BranchState::kPrepared) encoder.AddPrepared(id, branch.writes);
  }
  return encoder.Finish();
}

// ---------------------------------------------------------------------------------------------
// Argument checks (no state)

Status KvStore::CheckKey(std::string_view key, std::string_view what) const {
  if (key.empty()) return Status::InvalidArgument(fmt::format("{}: {}: empty key", name_, what));
  if (key.size() > options_.key_bytes_max) {
    return Status::InvalidArgument(fmt::format("{}: {}: key of {} bytes exceeds key_bytes_max {}",
                                               name_, what, key.size(), options_.key_bytes_max));
  }
  return Status::Ok();
}

Status KvStore::CheckScanArgs(std::string_view start, std::string_view end, uint64_t limit) const {
  if (start.size() > options_.key_bytes_max || end.size() > options_.key_bytes_max) {
    return Status::InvalidArgument(
        fmt::format("{}: scan: a bound exceeds key_bytes_max {}", name_, options_.key_bytes_max));
  }
  if (!end.empty() && !(start < end)) {
    return Status::InvalidArgument(fmt::format("{}: scan: start key {} is not below end key {}",
                                               name_, kv::Printable(start), kv::Printable(end)));
  }
  if (limit == 0 || limit > options_.scan_entries_max) {
    return Status::InvalidArgument(fmt::format("{}: scan: limit {} is not in [1, {}]", name_, limit,
                                               options_.scan_entries_max));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Resource

Status KvStore::BeginBranch(const BranchId& id) {
  if (!id.valid()) {
    return Status::InvalidArgument(fmt::format("{}: begin of invalid branch {}", name_, id));
  }
  std::lock_guard lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  if (branches_.contains(id)) {
    return Status::FailedPrecondition(fmt::format("{}: branch {} is open here already", name_, id));
  }
  if (branches_.size() >= options_.branches_max) {
    return Status::Overloaded(
        fmt::format("{}: {} branches are open (branches_max)", name_, branches_.size()));
  }
  branches_.emplace(id, Branch{});
  return Status::Ok();
}

Result<PrepareResult> KvStore::Prepare(const BranchId& id) {
  std::unique_lock lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  auto it = branches_.find(id);
  if (it == branches_.end()) {
    return Status::NotFound(fmt::format(
        "{}: prepare of branch {}: no such branch (never begun here, finished, or lost in a "
        "restart)",
        name_, id));
  }
  Branch& branch = it->second;
  if (branch.busy) {
    return Status::FailedPrecondition(
        fmt::format("{}: prepare of branch {}: another call for it is running", name_, id));
  }
  if (branch.state == BranchState::kPrepared) return PrepareResult::kPrepared;  // a repeat
  PACT_CHECK(branch.state == BranchState::kActive);

  branch.busy = true;
  Status status =
      WaitForLocksLocked(lock, fmt::format("prepare of branch {}", id),
                         /*for_append=*/true, [&] { return FindPrepareConflictLocked(branch); });
  if (status.ok()) status = ValidateReadsLocked(id, branch);
  if (!status.ok()) {
    branches_.erase(it);  // Resource: a failed Prepare has rolled the branch back
    if (status.code() != StatusCode::kUnavailable) return status;
    return Status::Aborted(status.message() + "; the branch is rolled back");
  }
  if (branch.writes.empty()) {
    branches_.erase(it);
    return PrepareResult::kReadOnly;
  }
  return PersistPrepareLocked(lock, it);
}

Result<PrepareResult> KvStore::PersistPrepareLocked(std::unique_lock<std::mutex>& lock,
                                                    std::map<BranchId, Branch>::iterator it) {
  const BranchId id = it->first;
  Branch& branch = it->second;
  PACT_CHECK(branch.state == BranchState::kActive && branch.busy && !branch.writes.empty());
  LockWritesLocked(id, branch);
  branch.state = BranchState::kPreparing;
  // Validated: the branch is serialized here (docs/kv-store.md 1); its reads are not needed.
  branch.reads.clear();
  branch.scans.clear();
  branch.read_keys = 0;
  ++inflight_;
  lock.unlock();

  // Without the mutex: the branch is busy, so nobody else touches its write-set, and concurrent
  // branches share the fsync.
  const std::string record = kv::EncodePrepare(id, branch.writes);
  const Result<wal::Lsn> lsn = log_->Append(record);
  PACT_CHECK(lsn.ok() || lsn.status().code() != StatusCode::kInvalidArgument,
             "record_bytes_max must admit every write-set: {}", lsn.status().ToString());
  const Status durable = lsn.ok() ? log_->WaitDurable(*lsn) : lsn.status();

  lock.lock();
  --inflight_;
  state_cv_.notify_all();
  branch.busy = false;
  if (!lsn.ok()) {
    // Not in the log (the log failed earlier): undo.
    UnlockWritesLocked(id, branch);
    branches_.erase(it);
    FailLocked(lsn.status());
    return lsn.status().WithContext(fmt::format("{}: prepare of branch {}", name_, id));
  }
  // Prepared in memory even when the fsync failed: the PREPARE may be on disk, so nobody else
  // may take its keys; the store fails and the next Open decides.
  branch.state = BranchState::kPrepared;
  if (!durable.ok()) {
    FailLocked(durable);
    return durable.WithContext(fmt::format("{}: prepare of branch {}", name_, id));
  }
  log_bytes_since_checkpoint_ += record.size();
  return PrepareResult::kPrepared;
}

Status KvStore::EndPreparedLocked(std::unique_lock<std::mutex>& lock,
                                  std::map<BranchId, Branch>::iterator it, kv::RecordType type) {
  const BranchId id = it->first;
  Branch& branch = it->second;
  PACT_CHECK(branch.state == BranchState::kPrepared && !branch.busy);
  branch.busy = true;
  if (Status wait = WaitForAppendsLocked(lock); !wait.ok()) {
    branch.busy = false;
    return wait;
  }
  branch.state =
      type == kv::RecordType::kCommit ? BranchState::kCommitting : BranchState::kRollingBack;
  ++inflight_;
  lock.unlock();

  const std::string record = kv::EncodeEnd(type, id);
  const Result<wal::Lsn> lsn = log_->Append(record);
  const Status durable = lsn.ok() ? log_->WaitDurable(*lsn) : lsn.status();

  lock.lock();
  --inflight_;
  state_cv_.notify_all();
  branch.busy = false;
  if (!durable.ok()) {
    // The record may or may not be on disk: after a restart the branch is either ended or
    // still prepared, never half applied. Until then it stays prepared here.
    branch.state = BranchState::kPrepared;
    FailLocked(durable);
    return durable.WithContext(
        fmt::format("{}: {} of branch {}", name_, kv::RecordTypeName(type), id));
  }
  // Apply only now that the record is durable: nobody reads a commit a crash could undo.
  UnlockWritesLocked(id, branch);
  if (type == kv::RecordType::kCommit) ApplyWritesLocked(branch.writes);
  branches_.erase(it);
  log_bytes_since_checkpoint_ += record.size();
  return Status::Ok();
}

Status KvStore::CommitPrepared(const BranchId& id) {
  std::unique_lock lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  auto it = branches_.find(id);
  if (it == branches_.end()) {
    return Status::NotFound(fmt::format(
        "{}: commit of branch {}: no prepared branch of that id here (committed or rolled back "
        "already, or never prepared)",
        name_, id));
  }
  if (it->second.busy) {
    return Status::FailedPrecondition(
        fmt::format("{}: commit of branch {}: another call for it is running", name_, id));
  }
  if (it->second.state == BranchState::kActive) {
    return Status::FailedPrecondition(
        fmt::format("{}: commit of branch {}: the branch is active, not prepared", name_, id));
  }
  PACT_RETURN_IF_ERROR(EndPreparedLocked(lock, it, kv::RecordType::kCommit));
  const bool due = CheckpointDueLocked();
  lock.unlock();
  if (due) MaybeCheckpoint();
  return Status::Ok();
}

Status KvStore::Rollback(const BranchId& id) {
  std::unique_lock lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  auto it = branches_.find(id);
  if (it == branches_.end()) return Status::Ok();
  if (it->second.busy) {
    return Status::FailedPrecondition(
        fmt::format("{}: rollback of branch {}: another call for it is running", name_, id));
  }
  if (it->second.state == BranchState::kActive) {
    branches_.erase(it);  // nothing of it is in the log or holds a lock
    return Status::Ok();
  }
  PACT_RETURN_IF_ERROR(EndPreparedLocked(lock, it, kv::RecordType::kRollback));
  const bool due = CheckpointDueLocked();
  lock.unlock();
  if (due) MaybeCheckpoint();
  return Status::Ok();
}

Result<std::vector<BranchId>> KvStore::ListPrepared() {
  std::lock_guard lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  std::vector<BranchId> prepared;
  for (const auto& [id, branch] : branches_) {
    if (branch.state != BranchState::kActive && branch.state != BranchState::kPreparing) {
      prepared.push_back(id);
    }
  }
  return prepared;
}

// ---------------------------------------------------------------------------------------------
// Work in a branch

Result<std::optional<std::string>> KvStore::Get(const BranchId& id, std::string_view key) {
  PACT_RETURN_IF_ERROR(CheckKey(key, "get"));
  std::unique_lock lock(mutex_);
  PACT_ASSIGN_OR_RETURN(Branch * branch, ActiveBranchLocked(id, "get"));
  if (auto own = branch->writes.find(key); own != branch->writes.end()) return own->second;
  BusyScope busy(branch);
  PACT_RETURN_IF_ERROR(
      WaitForLocksLocked(lock, fmt::format("get of key {} in branch {}", kv::Printable(key), id),
                         /*for_append=*/false, [&] { return FindLockLocked(key); }));
  auto entry = data_.find(key);
  PACT_RETURN_IF_ERROR(
      RecordReadLocked(branch, key, entry == data_.end() ? kAbsentVersion : entry->second.version));
  if (entry == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(entry->second.value);
}

Status KvStore::Put(const BranchId& id, std::string_view key, std::string_view value) {
  return WriteInBranch(id, key, value);
}

Status KvStore::Delete(const BranchId& id, std::string_view key) {
  return WriteInBranch(id, key, std::nullopt);
}

Status KvStore::WriteInBranch(const BranchId& id, std::string_view key,
                              std::optional<std::string_view> value) {
  const std::string_view what = value.has_value() ? "put" : "delete";
  PACT_RETURN_IF_ERROR(CheckKey(key, what));
  if (value.has_value() && value->size() > options_.value_bytes_max) {
    return Status::InvalidArgument(
        fmt::format("{}: put of key {}: value of {} bytes exceeds value_bytes_max {}", name_,
                    kv::Printable(key), value->size(), options_.value_bytes_max));
  }
  std::unique_lock lock(mutex_);
  PACT_ASSIGN_OR_RETURN(Branch * branch, ActiveBranchLocked(id, what));
  auto existing = branch->writes.find(key);
  const uint64_t old_bytes =
      existing == branch->writes.end() ? 0 : kv::OpBytes(existing->first, existing->second);
  const uint64_t new_bytes = kv::OpBytes(
      key.size(), value.has_value() ? std::optional<uint64_t>(value->size()) : std::nullopt);
  const uint64_t total = branch->write_bytes - old_bytes + new_bytes;
  if (total > options_.write_set_bytes_max) {
    return Status::InvalidArgument(
        fmt::format("{}: {} of key {} in branch {}: the write-set would take {} bytes, "
                    "write_set_bytes_max is {}",
                    name_, what, kv::Printable(key), id, total, options_.write_set_bytes_max));
  }
  BusyScope busy(branch);
  PACT_RETURN_IF_ERROR(WaitForLocksLocked(
      lock, fmt::format("{} of key {} in branch {}", what, kv::Printable(key), id),
      /*for_append=*/false, [&] { return FindLockLocked(key); }));
  std::optional<std::string> stored;
  if (value.has_value()) stored.emplace(*value);
  branch->writes.insert_or_assign(std::string(key), std::move(stored));
  branch->write_bytes = total;
  return Status::Ok();
}

Result<std::vector<KvEntry>> KvStore::Scan(const BranchId& id, std::string_view start_key,
                                           std::string_view end_key, uint64_t limit) {
  PACT_RETURN_IF_ERROR(CheckScanArgs(start_key, end_key, limit));
  std::unique_lock lock(mutex_);
  PACT_ASSIGN_OR_RETURN(Branch * branch, ActiveBranchLocked(id, "scan"));
  BusyScope busy(branch);
  std::vector<KvEntry> entries;
  std::string covered_end;
  // The range the result depends on shrinks as the data grows, so scan again after each wait.
  PACT_RETURN_IF_ERROR(
      WaitForLocksLocked(lock, fmt::format("scan in branch {}", id), /*for_append=*/false, [&] {
        entries = MergeScanLocked(branch->writes, start_key, end_key, limit, &covered_end);
        return FindLockInRangeLocked(start_key, covered_end);
      }));
  ScanRead read{std::string(start_key), covered_end, {}};
  for (auto it = data_.lower_bound(start_key); it != data_.end() && InRange(it->first, covered_end);
       ++it) {
    read.seen.emplace_back(it->first, it->second.version);
  }
  const uint64_t keys = read.seen.size() + 1;  // the range itself counts once
  if (branch->read_keys + keys > options_.read_set_keys_max) {
    return Status::InvalidArgument(
        fmt::format("{}: scan in branch {}: the branch would read {} keys, read_set_keys_max is {}",
                    name_, id, branch->read_keys + keys, options_.read_set_keys_max));
  }
  branch->read_keys += keys;
  branch->scans.push_back(std::move(read));
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Committed data

Result<std::optional<std::string>> KvStore::GetCommitted(std::string_view key) {
  PACT_RETURN_IF_ERROR(CheckKey(key, "get"));
  std::lock_guard lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  auto entry = data_.find(key);
  if (entry == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(entry->second.value);
}

Result<std::vector<KvEntry>> KvStore::ScanCommitted(std::string_view start_key,
                                                    std::string_view end_key, uint64_t limit) {
  PACT_RETURN_IF_ERROR(CheckScanArgs(start_key, end_key, limit));
  static const kv::WriteSet kNoWrites;
  std::lock_guard lock(mutex_);
  PACT_RETURN_IF_ERROR(UsableLocked());
  std::string covered_end;
  return MergeScanLocked(kNoWrites, start_key, end_key, limit, &covered_end);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

bool KvStore::CheckpointDueLocked() const {
  return options_.checkpoint_log_bytes > 0 &&
         log_bytes_since_checkpoint_ >= options_.checkpoint_log_bytes && !checkpoint_pending_ &&
         failed_.ok();
}

// Called after a commit or rollback returned its own result: a checkpoint failure is logged,
// not reported to that caller, and retried after another checkpoint_log_bytes.
void KvStore::MaybeCheckpoint() {
  std::unique_lock checkpoint_lock(checkpoint_mutex_, std::try_to_lock);
  if (!checkpoint_lock.owns_lock()) return;  // another thread is checkpointing
  if (Status status = RunCheckpoint(); !status.ok()) {
    PACT_LOG_WARN("{}: checkpoint failed (the WAL keeps everything): {}", name_, status.ToString());
  }
}

Status KvStore::Checkpoint() {
  std::lock_guard checkpoint_lock(checkpoint_mutex_);
  return RunCheckpoint();
}

// docs/kv-store.md 5 gives the steps and what a crash after each leaves.
Status KvStore::RunCheckpoint() {
  std::string snapshot;
  wal::Lsn lsn = wal::kNoLsn;
  {
    std::unique_lock lock(mutex_);
    PACT_RETURN_IF_ERROR(UsableLocked());
    // Step 1: hold appends back until every appended record is durable and applied, so the
    // state is exactly the replay of the log up to its last LSN.
    checkpoint_pending_ = true;
    state_cv_.wait(lock, [this] { return inflight_ == 0 || !failed_.ok(); });
    checkpoint_pending_ = false;
    state_cv_.notify_all();
    PACT_RETURN_IF_ERROR(UsableLocked());
    lsn = log_->last_lsn();
    PACT_CHECK(log_->durable_lsn() >= lsn, "{}: checkpoint at LSN {} but only {} is durable", name_,
               lsn, log_->durable_lsn());
    snapshot = EncodeSnapshotLocked(lsn);
    log_bytes_since_checkpoint_ = 0;
  }
  // Step 2: the snapshot replaces the old one atomically and durably.
  PACT_RETURN_IF_ERROR(fs_->WriteFileAtomically(snapshot_path_, snapshot)
                           .WithContext(fmt::format("{}: writing the snapshot", name_)));
  {
    std::lock_guard lock(mutex_);
    snapshot_lsn_ = lsn;
  }
  // Step 3: only now may the log forget what the snapshot covers.
  PACT_RETURN_IF_ERROR(log_->RemoveSegmentsBefore(lsn + 1).WithContext(
      fmt::format("{}: removing WAL segments before LSN {}", name_, lsn + 1)));
  std::lock_guard lock(mutex_);
  ++checkpoints_;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Introspection

KvStats KvStore::Stats() const {
  std::lock_guard lock(mutex_);
  KvStats stats;
  stats.committed_keys = data_.size();
  for (const auto& [id, branch] : branches_) {
    if (branch.state == BranchState::kActive || branch.state == BranchState::kPreparing) {
      ++stats.active_branches;
    } else {
      ++stats.prepared_branches;
    }
  }
  stats.locked_keys = locks_.size();
  stats.snapshot_lsn = snapshot_lsn_;
  if (log_ != nullptr) {
    stats.log_first_lsn = log_->first_lsn();
    stats.log_last_lsn = log_->last_lsn();
    stats.log_segments = log_->segment_count();
  }
  stats.checkpoints = checkpoints_;
  stats.failed = !failed_.ok();
  return stats;
}

void KvStore::CheckInvariants() const {
  std::lock_guard lock(mutex_);
  uint64_t locked = 0;
  uint64_t inflight = 0;
  for (const auto& [id, branch] : branches_) {
    PACT_CHECK(id.valid(), "{}: invalid branch id {}", name_, id);
    PACT_CHECK(branch.write_bytes == kv::WriteSetOpBytes(branch.writes),
               "{}: branch {} counts {} write bytes, holds {}", name_, id, branch.write_bytes,
               kv::WriteSetOpBytes(branch.writes));
    PACT_CHECK(branch.read_keys >= branch.reads.size() + branch.scans.size(),
               "{}: branch {} read count", name_, id);
    const bool transit = branch.state == BranchState::kPreparing ||
                         branch.state == BranchState::kCommitting ||
                         branch.state == BranchState::kRollingBack;
    PACT_CHECK(!transit || branch.busy, "{}: branch {} in flight, not busy", name_, id);
    inflight += transit ? 1 : 0;
    for (const auto& [key, value] : branch.writes) {
      PACT_CHECK(!key.empty() && key.size() <= kKvKeyBytesLimit, "{}: bad key in branch {}", name_,
                 id);
      auto owner = locks_.find(key);
      if (branch.state == BranchState::kActive) {
        PACT_CHECK(owner == locks_.end() || owner->second != id,
                   "{}: active branch {} holds a lock", name_, id);
      } else {
        PACT_CHECK(owner != locks_.end() && owner->second == id,
                   "{}: prepared branch {} does not hold key {}", name_, id, kv::Printable(key));
        ++locked;
      }
    }
    PACT_CHECK(branch.state == BranchState::kActive ||
                   (branch.reads.empty() && branch.scans.empty() && branch.read_keys == 0),
               "{}: prepared branch {} keeps reads", name_, id);
  }
  PACT_CHECK(locked == locks_.size(), "{}: {} locks, {} held by prepared branches", name_,
             locks_.size(), locked);
  PACT_CHECK(inflight == inflight_, "{}: {} branches in flight, counted {}", name_, inflight,
             inflight_);
  for (const auto& [key, entry] : data_) {
    PACT_CHECK(!key.empty(), "{}: empty committed key", name_);
    PACT_CHECK(entry.version >= kLoadedVersion && entry.version <= version_,
               "{}: key {} has version {} (latest {})", name_, kv::Printable(key), entry.version,
               version_);
  }
  if (log_ != nullptr) {
    PACT_CHECK(snapshot_lsn_ <= log_->last_lsn(), "{}: snapshot LSN {} beyond the log's {}", name_,
               snapshot_lsn_, log_->last_lsn());
  }
}

}  // namespace pact
