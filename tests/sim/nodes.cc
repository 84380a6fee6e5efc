#include "tests/sim/nodes.h"

#include <fmt/format.h>

#include <cstdio>
#include <deque>

namespace pact::sim {
namespace {

constexpr uint64_t kSegmentBytesMax = 16 << 10;  // small segments keep the fake fsync cheap

// What a node does to its disk when it goes down.
void CrashDisk(FaultInjectingFileSystem& fs, CrashKind kind) {
  if (kind == CrashKind::kPowerLoseUnsynced)
    fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kLose);
  if (kind == CrashKind::kPowerTearUnsynced) {
    fs.Crash(FaultInjectingFileSystem::UnsyncedOnCrash::kTearUnsynced);
  }
}

}  // namespace

std::string_view Name(CrashKind kind) {
  switch (kind) {
    case CrashKind::kPowerLoseUnsynced:
      return "power loss, unsynced bytes lost";
    case CrashKind::kPowerTearUnsynced:
      return "power loss, unsynced bytes torn";
    case CrashKind::kProcess:
      return "process crash";
  }
  return "?";
}

void Tracer::Line(std::string_view text) {
  if (!enabled_) return;
  std::string line = fmt::format("t={:06} {}\n", now_, text);
  if (echo_) std::fputs(line.c_str(), stdout);
  text_ += line;
}

// ---- Coordinator -----------------------------------------------------------------------------

CoordinatorNode::CoordinatorNode(std::string name, uint64_t fs_seed,
                                 const coordinator::CoordinatorOptions& options, Services services)
    : name_(std::move(name)), options_(options), s_(services), fs_(fs_seed) {}

void CoordinatorNode::Start() {
  PACT_CHECK(!up());
  wal::LogOptions log_options;
  log_options.dir = "/" + name_ + "/decisions";
  log_options.segment_bytes_max = kSegmentBytesMax;
  auto log = coordinator::SingleReplicaDecisionLog::Open(&fs_, log_options);
  if (!log.ok() && log.status().code() == StatusCode::kIoError) {
    s_.tracer->Line(fmt::format("start {} failed: {}", name_, log.status().ToString()));
    if (!s_.process_crashes) CrashDisk(fs_, CrashKind::kPowerLoseUnsynced);
    return;
  }
  if (!log.ok()) {
    s_.checker->Violation(
        fmt::format("{} cannot open its decision log: {}", name_, log.status().ToString()));
    return;
  }
  log_ = std::move(log).value();
  s_.checker->OnCoordinatorRecovered(log_->unended());
  core_ = std::make_unique<coordinator::CoordinatorCore>(options_, name_, log_->epoch(),
                                                         log_->unended(), log_->TakeCommitted());
  core_->CheckInvariants();
  if (s_.tracer->enabled()) {
    s_.tracer->Line(
        fmt::format("start {} epoch={} unended={}", name_, log_->epoch(), log_->unended().size()));
  }
}

void CoordinatorNode::Crash(CrashKind kind) {
  PACT_CHECK(up());
  core_.reset();
  log_.reset();  // closes without syncing
  CrashDisk(fs_, kind);
  if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("crash {} ({})", name_, Name(kind)));
}

bool CoordinatorNode::CrashPoint(std::string_view where) {
  if (s_.crash_points == nullptr) return false;
  const std::optional<CrashKind> kind = s_.crash_points->CrashHere(name_, where);
  if (!kind.has_value()) return false;
  if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("crash point {} {}", name_, where));
  Crash(*kind);
  return true;
}

bool CoordinatorNode::FailStop(const Status& status) {
  if (status.ok()) return false;
  s_.tracer->Line(fmt::format("fail-stop {}: {}", name_, status.ToString()));
  Crash(s_.process_crashes ? CrashKind::kProcess : CrashKind::kPowerLoseUnsynced);
  return true;
}

void CoordinatorNode::Deliver(const std::string& from, const protocol::Message& message) {
  PACT_CHECK(up());
  coordinator::CoordinatorEffects fx = core_->Step(from, message);
  core_->CheckInvariants();
  Run(std::move(fx));
}

void CoordinatorNode::Tick() {
  PACT_CHECK(up());
  coordinator::CoordinatorEffects fx = core_->Tick();
  core_->CheckInvariants();
  Run(std::move(fx));
}

void CoordinatorNode::Run(coordinator::CoordinatorEffects first) {
  std::deque<coordinator::CoordinatorEffects> queue;
  queue.push_back(std::move(first));
  while (!queue.empty() && up()) {
    coordinator::CoordinatorEffects fx = std::move(queue.front());
    queue.pop_front();
    // 1. Persist: propose, and force the proposals (group commit of this batch).
    if (!fx.propose.empty()) {
      for (const coordinator::CommitDecision& d : fx.propose) {
        if (FailStop(log_->Propose(d))) return;
        if (s_.tracer->enabled()) {
          s_.tracer->Line(fmt::format("{} propose COMMIT {}", name_, coordinator::ToString(d)));
        }
      }
      if (CrashPoint("proposed")) return;
      if (FailStop(log_->Flush())) return;
      if (CrashPoint("flushed")) return;
      for (const TxnId& txn : log_->TakeChosen()) {
        if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("{} chosen COMMIT {}", name_, txn));
        s_.checker->OnChosen(txn);
        queue.push_back(core_->OnChosen(txn));
        core_->CheckInvariants();
      }
    }
    for (const TxnId& txn : fx.record_end) {
      if (FailStop(log_->RecordEnd(txn))) return;
      s_.checker->OnEndAppended(txn);
      if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("{} append END {}", name_, txn));
      if (CrashPoint("end")) return;
    }
    // 2. Send.
    for (coordinator::CoordinatorOutbound& out : fx.send) {
      if (CrashPoint("send")) return;
      CheckSend(out);
      s_.transport->Send(name_, out.to, std::move(out.message));
    }
  }
}

void CoordinatorNode::CheckSend(const coordinator::CoordinatorOutbound& out) {
  auto violation = [&](std::string_view why) {
    s_.checker->Violation(fmt::format("persist-before-send: {} sends {} to {}: {}", name_,
                                      protocol::ToString(out.message), out.to, why));
  };
  if (out.requires_chosen.valid() && !s_.checker->EverChosen(out.requires_chosen)) {
    violation("its decision is not chosen");
  }
  if (const auto* m = std::get_if<protocol::BranchCommitRequest>(&out.message)) {
    if (!m->one_phase && !s_.checker->EverChosen(m->branch.txn)) violation("COMMIT not chosen");
  }
  if (const auto* m = std::get_if<protocol::OutcomeReply>(&out.message)) {
    if (m->outcome == protocol::Outcome::kCommitted && !s_.checker->EverChosen(m->txn)) {
      violation("COMMITTED outcome not chosen");
    }
  }
}

// ---- Participant -----------------------------------------------------------------------------

ParticipantNode::ParticipantNode(const participant::ParticipantOptions& options, uint64_t fs_seed,
                                 Services services)
    : options_(options), s_(services), fs_(fs_seed), resource_(options.name, services.checker) {}

void ParticipantNode::Start() {
  PACT_CHECK(!up());
  wal::LogOptions log_options;
  log_options.dir = "/" + options_.name + "/wal";
  log_options.segment_bytes_max = kSegmentBytesMax;
  std::vector<participant::ParticipantRecord> records;
  lsn_of_.clear();
  auto log = wal::Log::Open(&fs_, log_options, [&](wal::Lsn lsn, std::string_view bytes) {
    PACT_ASSIGN_OR_RETURN(participant::ParticipantRecord r, participant::DecodeRecord(bytes));
    lsn_of_[participant::RecordKey::Of(r)] = lsn;
    records.push_back(std::move(r));
    return Status::Ok();
  });
  if (!log.ok() && log.status().code() == StatusCode::kIoError) {
    s_.tracer->Line(fmt::format("start {} failed: {}", options_.name, log.status().ToString()));
    if (!s_.process_crashes) CrashDisk(fs_, CrashKind::kPowerLoseUnsynced);
    return;
  }
  if (!log.ok()) {
    s_.checker->Violation(
        fmt::format("{} cannot open its WAL: {}", options_.name, log.status().ToString()));
    return;
  }
  log_ = std::move(log).value();
  Result<std::vector<BranchId>> prepared = resource_.ListPrepared();
  PACT_CHECK_OK(prepared.status());
  core_ = std::make_unique<participant::ParticipantCore>(options_);
  Result<participant::ParticipantEffects> fx = core_->Recover(records, *prepared);
  if (!fx.ok()) {
    s_.checker->Violation(
        fmt::format("{} cannot recover: {}", options_.name, fx.status().ToString()));
    core_.reset();
    log_.reset();
    return;
  }
  core_->CheckInvariants();
  if (s_.tracer->enabled()) {
    s_.tracer->Line(fmt::format("start {} incarnation={} records={} store-prepared={}",
                                options_.name, core_->incarnation(), records.size(),
                                prepared->size()));
  }
  Run(std::move(fx).value());
}

void ParticipantNode::CompleteStoreOps() {
  while (up() && !store_ops_.empty() && store_ops_.begin()->first.first <= *s_.now) {
    const participant::StoreRequest request = store_ops_.begin()->second;
    store_ops_.erase(store_ops_.begin());
    participant::StoreResult result = Apply(request);
    if (CrashPoint("applied")) return;
    participant::ParticipantEffects fx = core_->OnStoreResult(result);
    core_->CheckInvariants();
    Run(std::move(fx));
  }
}

void ParticipantNode::Crash(CrashKind kind) {
  PACT_CHECK(up());
  // An operation the store was carrying out may or may not have happened.
  for (const auto& [key, request] : store_ops_) {
    if (s_.random->OneIn(2)) Apply(request);
  }
  store_ops_.clear();
  core_.reset();
  log_.reset();
  CrashDisk(fs_, kind);
  resource_.Crash();  // the store's sessions die with the process: active work is gone
  lsn_of_.clear();
  pending_work_.clear();
  if (s_.tracer->enabled()) {
    s_.tracer->Line(fmt::format("crash {} ({})", options_.name, Name(kind)));
  }
}

bool ParticipantNode::CrashPoint(std::string_view where) {
  if (s_.crash_points == nullptr) return false;
  const std::optional<CrashKind> kind = s_.crash_points->CrashHere(options_.name, where);
  if (!kind.has_value()) return false;
  if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("crash point {} {}", options_.name, where));
  Crash(*kind);
  return true;
}

bool ParticipantNode::FailStop(const Status& status) {
  if (status.ok()) return false;
  s_.tracer->Line(fmt::format("fail-stop {}: {}", options_.name, status.ToString()));
  Crash(s_.process_crashes ? CrashKind::kProcess : CrashKind::kPowerLoseUnsynced);
  return true;
}

void ParticipantNode::Deliver(const std::string& from, const SimMessage& message) {
  PACT_CHECK(up());
  participant::ParticipantEffects fx;
  if (const auto* m = std::get_if<protocol::Message>(&message)) {
    fx = core_->Step(from, *m);
  } else if (const auto* w = std::get_if<WorkRequest>(&message)) {
    pending_work_[w->txn].push_back({from, w->kind});
    fx = core_->StartWork(w->txn);
  } else {
    return;
  }
  core_->CheckInvariants();
  Run(std::move(fx));
}

void ParticipantNode::Tick() {
  PACT_CHECK(up());
  participant::ParticipantEffects fx = core_->Tick();
  core_->CheckInvariants();
  Run(std::move(fx));
}

void ParticipantNode::Run(participant::ParticipantEffects first) {
  std::deque<participant::ParticipantEffects> queue;
  queue.push_back(std::move(first));
  while (!queue.empty() && up()) {
    participant::ParticipantEffects fx = std::move(queue.front());
    queue.pop_front();
    // 1. Persist: append every record, then force them with one fsync.
    if (!fx.persist.empty()) {
      wal::Lsn last = 0;
      for (const participant::ParticipantRecord& r : fx.persist) {
        Result<wal::Lsn> lsn = log_->Append(participant::EncodeRecord(r));
        if (FailStop(lsn.status())) return;
        lsn_of_[participant::RecordKey::Of(r)] = *lsn;
        last = *lsn;
        if (s_.tracer->enabled()) {
          s_.tracer->Line(fmt::format("{} persist {}", options_.name, participant::ToString(r)));
        }
      }
      if (CrashPoint("appended")) return;
      if (FailStop(log_->WaitDurable(last))) return;
      if (CrashPoint("persisted")) return;
    }
    // 2. Send.
    for (participant::ParticipantOutbound& out : fx.send) {
      if (CrashPoint("send")) return;
      CheckSend(out);
      s_.transport->Send(options_.name, out.to, std::move(out.message));
    }
    // 3. Apply, feeding each result back (later, if the store is slow).
    for (const participant::StoreRequest& request : fx.apply) {
      if (CrashPoint("apply")) return;
      if (s_.store_delay_ticks_max > 0) {
        const uint64_t due = *s_.now + s_.random->Range(1, s_.store_delay_ticks_max);
        store_ops_.emplace(std::make_pair(due, store_op_seq_++), request);
        continue;
      }
      participant::StoreResult result = Apply(request);
      if (CrashPoint("applied")) return;
      queue.push_back(core_->OnStoreResult(result));
      core_->CheckInvariants();
    }
    // 4. Events.
    for (const participant::ParticipantEvent& event : fx.events) {
      if (!up()) return;
      OnEvent(event);
    }
  }
}

participant::StoreResult ParticipantNode::Apply(const participant::StoreRequest& request) {
  participant::StoreResult result{.op = request.op, .branch = request.branch};
  switch (request.op) {
    case participant::StoreOp::kPrepare: {
      Result<PrepareResult> prepared = resource_.Prepare(request.branch);
      if (prepared.ok()) {
        result.prepared = *prepared;
      } else {
        result.status = prepared.status();
      }
      break;
    }
    case participant::StoreOp::kCommitPrepared:
      result.status = resource_.CommitPrepared(request.branch);
      break;
    case participant::StoreOp::kRollback:
      result.status = resource_.Rollback(request.branch);
      break;
  }
  if (s_.tracer->enabled()) {
    s_.tracer->Line(
        fmt::format("{} store {} {} -> {}{}", options_.name, participant::Name(request.op),
                    request.branch, result.status.ToString(),
                    request.op == participant::StoreOp::kPrepare && result.status.ok()
                        ? (result.prepared == PrepareResult::kPrepared ? " prepared" : " read-only")
                        : ""));
  }
  return result;
}

void ParticipantNode::OnEvent(const participant::ParticipantEvent& event) {
  using Kind = participant::ParticipantEvent::Kind;
  if (event.kind == Kind::kInconsistent) {
    s_.checker->Violation(
        fmt::format("{} reports {}: {}", options_.name, event.branch, event.detail));
    return;
  }
  auto it = pending_work_.find(event.txn);
  if (it == pending_work_.end()) return;
  const std::vector<PendingWork> work = std::move(it->second);
  pending_work_.erase(it);
  for (const PendingWork& w : work) {
    WorkReply reply{.txn = event.txn, .ok = false, .kind = w.kind};
    if (event.kind == Kind::kEnlisted) {
      // A repeated work request joins the branch already begun.
      (void)resource_.BeginBranch(event.branch);
      reply.ok = resource_.DoWork(event.branch, w.kind).ok();
      reply.branch = event.branch;
    }
    if (CrashPoint("work")) return;
    s_.transport->Send(options_.name, w.client, reply);
  }
}

bool ParticipantNode::Durable(const participant::RecordKey& key) const {
  auto it = lsn_of_.find(key);
  return it != lsn_of_.end() && it->second <= log_->durable_lsn();
}

void ParticipantNode::CheckSend(const participant::ParticipantOutbound& out) {
  using Kind = participant::ParticipantRecord::Kind;
  auto violation = [&](std::string_view why) {
    s_.checker->Violation(fmt::format("persist-before-send: {} sends {} to {}: {}", options_.name,
                                      protocol::ToString(out.message), out.to, why));
  };
  if (out.requires_durable.has_value() && !Durable(*out.requires_durable)) {
    violation("the record it depends on is not durable");
  }
  if (const auto* m = std::get_if<protocol::VoteReply>(&out.message)) {
    if (m->vote == protocol::Vote::kYes && !Durable({Kind::kPrepared, m->branch, 0})) {
      violation("YES without a durable PREPARED");
    }
    s_.checker->OnVote(options_.name, m->branch, m->vote);
  }
  if (const auto* m = std::get_if<protocol::AckReply>(&out.message)) {
    if (m->outcome == protocol::Outcome::kCommitted && !Durable({Kind::kCommitted, m->branch, 0})) {
      violation("COMMITTED without a durable COMMITTED");
    }
    const auto view = core_->View(m->branch.txn);
    const bool read_only = view && view->state == participant::BranchState::kReadOnly;
    if (m->outcome == protocol::Outcome::kAborted && !read_only &&
        !Durable({Kind::kAborted, m->branch, 0})) {
      violation("ABORTED without a durable ABORTED");
    }
    if (m->outcome == protocol::Outcome::kAborted) {
      s_.checker->OnAbortAcknowledged(options_.name, m->branch);
    }
  }
}

}  // namespace pact::sim
