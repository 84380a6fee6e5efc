#include "participant/sdk/participant_driver.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>

#include <fmt/format.h>

#include "common/check.h"
#include "common/fail_point.h"
#include "common/logging.h"
#include "participant/sdk/rpc_convert.h"

namespace pact::sdk {

using participant::ParticipantEffects;
using participant::ParticipantEvent;
using participant::StoreOp;
using participant::StoreRequest;
using participant::StoreResult;

Result<std::unique_ptr<ParticipantDriver>> ParticipantDriver::Create(
    const ParticipantDriverOptions& options, std::unique_ptr<wal::Log> log,
    std::shared_ptr<Resource> resource, std::unique_ptr<CoordinatorChannel> coordinator) {
  if (options.tick_ms <= 0) return Status::InvalidArgument("tick_ms must be positive");
  if (options.invariant_check_interval_ticks == 0) {
    return Status::InvalidArgument("invariant_check_interval_ticks must be positive");
  }
  return std::unique_ptr<ParticipantDriver>(new ParticipantDriver(
      options, std::move(log), std::move(resource), std::move(coordinator)));
}

Status ParticipantDriver::Start(const std::vector<participant::ParticipantRecord>& records,
                                const std::vector<BranchId>& store_prepared,
                                const std::string& advertise) {
  ParticipantEffects recovered;
  {
    std::lock_guard core_lock(core_mutex_);
    PACT_CHECK(!core_.has_value(), "Start() twice");
    advertise_ = advertise;
    options_.core.name = advertise;
    PACT_RETURN_IF_ERROR(options_.core.Validate());
    core_.emplace(options_.core);
    PACT_ASSIGN_OR_RETURN(recovered, core_->Recover(records, store_prepared));
    epoch_fence_.store(core_->epoch_fence());
  }
  // Recovery's records (the new INCARNATION first) are durable before any request is stepped:
  // every message of this incarnation depends on them, and they must come first in the log.
  wal::Lsn last = wal::kNoLsn;
  for (const participant::ParticipantRecord& record : recovered.persist) {
    Result<wal::Lsn> lsn = log_->Append(participant::EncodeRecord(record));
    if (!lsn.ok()) FailStop(lsn.status());
    last = *lsn;
  }
  if (last != wal::kNoLsn) {
    if (Status s = log_->WaitDurable(last); !s.ok()) FailStop(s);
  }
  {
    std::lock_guard lock(mutex_);
    started_ = true;
    state_changed_.notify_all();
  }
  // Its store operations and inquiries go to the worker pools; their results are stepped there.
  for (participant::ParticipantOutbound& outbound : recovered.send) {
    PACT_CHECK(!ReplyRouter::IsReplyAddress(outbound.to), "recovery answered {}", outbound.to);
    coordinator_pool_.Submit([this, message = std::move(outbound.message)] {
      if (std::optional<protocol::Message> answer = CallCoordinator(message)) {
        Process(MessageInput{options_.core.coordinator, std::move(*answer)},
                Carrier::kWorkerPools);
      }
    });
  }
  for (const StoreRequest& request : recovered.apply) {
    store_pool_.Submit(
        [this, request] { Process(RunStoreOps({request}).front(), Carrier::kWorkerPools); });
  }
  for (const ParticipantEvent& event : recovered.events) Notify(event);
  ticker_ = std::thread([this] { RunTicker(); });
  return Status::Ok();
}

ParticipantDriver::ParticipantDriver(const ParticipantDriverOptions& options,
                                     std::unique_ptr<wal::Log> log,
                                     std::shared_ptr<Resource> resource,
                                     std::unique_ptr<CoordinatorChannel> coordinator)
    : options_(options),
      log_(std::move(log)),
      resource_(std::move(resource)),
      coordinator_(std::move(coordinator)),
      store_pool_(options.store_threads, options.queued_tasks_max),
      coordinator_pool_(options.coordinator_threads, options.queued_tasks_max) {}

ParticipantDriver::~ParticipantDriver() { Stop(); }

void ParticipantDriver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
    state_changed_.notify_all();
    for (auto& [txn, waiter] : joins_) waiter->decided.notify_all();
  }
  replies_.Shutdown();
  if (ticker_.joinable()) ticker_.join();
  store_pool_.Stop();
  coordinator_pool_.Stop();
}

bool ParticipantDriver::WaitStarted(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  state_changed_.wait_until(lock, deadline, [&] { return started_ || stopping_.load(); });
  return started_ && !stopping_.load();
}

std::optional<protocol::Message> ParticipantDriver::Call(const protocol::Message& request,
                                                         int wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  if (!WaitStarted(deadline)) return std::nullopt;
  const std::string address = replies_.Register();
  Process(MessageInput{address, request}, Carrier::kThisThread);
  // Usually answered by now; a duplicate of a request still in the store waits for the caller
  // whose store operation runs.
  return replies_.Wait(address, deadline);
}

std::vector<std::optional<protocol::Message>> ParticipantDriver::CallMany(
    const std::vector<protocol::Message>& requests, int wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  std::vector<std::optional<protocol::Message>> answers(requests.size());
  if (!WaitStarted(deadline)) return answers;
  std::vector<std::string> addresses;
  std::deque<Input> inputs;
  for (const protocol::Message& request : requests) {
    addresses.push_back(replies_.Register());
    inputs.push_back(MessageInput{addresses.back(), request});
  }
  Process(std::move(inputs), Carrier::kThisThread);
  for (size_t i = 0; i < requests.size(); ++i) answers[i] = replies_.Wait(addresses[i], deadline);
  return answers;
}

Result<BranchId> ParticipantDriver::StartWork(const TxnId& txn, int wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  if (!WaitStarted(deadline)) {
    if (stopping_.load()) return Status::Unavailable("participant is stopping");
    return Status::Unavailable(
        fmt::format("transaction {}: the participant did not finish recovery within {} ms", txn,
                    wait_ms));
  }
  auto waiter = std::make_shared<JoinWaiter>();
  std::multimap<TxnId, std::shared_ptr<JoinWaiter>>::iterator registered;
  {
    std::lock_guard lock(mutex_);
    if (stopping_.load()) return Status::Unavailable("participant is stopping");
    registered = joins_.emplace(txn, waiter);
  }
  // Enlists on this thread: the answer is usually here when Process returns.
  Process(txn, Carrier::kThisThread);
  std::unique_lock lock(mutex_);
  waiter->decided.wait_until(lock, deadline,
                             [&] { return waiter->result.has_value() || stopping_.load(); });
  joins_.erase(registered);
  if (waiter->result.has_value()) return std::move(*waiter->result);
  if (stopping_.load()) return Status::Unavailable("participant is stopping");
  return Status::Unavailable(fmt::format(
      "transaction {}: no enlistment within {} ms (coordinator unreachable?)", txn, wait_ms));
}

bool ParticipantDriver::Aborted(const BranchId& branch) {
  std::lock_guard core_lock(core_mutex_);
  std::optional<participant::BranchView> view = core_->View(branch.txn);
  return view.has_value() && view->number == branch.branch &&
         (view->state == participant::BranchState::kAborting ||
          view->state == participant::BranchState::kAborted);
}

void ParticipantDriver::RunTicker() {
  const auto tick = std::chrono::milliseconds(options_.tick_ms);
  auto next = std::chrono::steady_clock::now() + tick;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      if (state_changed_.wait_until(lock, next, [&] { return stopping_.load(); })) return;
    }
    next = std::chrono::steady_clock::now() + tick;
    Process(TickInput{}, Carrier::kWorkerPools);
  }
}

wal::Lsn ParticipantDriver::StepLocked(Input& input, ParticipantEffects& effects) {
  if (auto* m = std::get_if<MessageInput>(&input)) {
    effects = core_->Step(m->from, m->message);
  } else if (auto* txn = std::get_if<TxnId>(&input)) {
    effects = core_->StartWork(*txn);
  } else if (auto* result = std::get_if<StoreResult>(&input)) {
    effects = core_->OnStoreResult(*result);
  } else {
    effects = core_->Tick();
    const wal::Lsn durable = log_->durable_lsn();
    std::erase_if(lsn_of_, [&](const auto& entry) { return entry.second <= durable; });
    // The whole-state check walks every branch the core remembers: after every step it took
    // an eighth of the agent's CPU under load. A broken invariant is still caught within a
    // second; the simulator checks after every step.
    if (++ticks_since_check_ >= options_.invariant_check_interval_ticks) {
      core_->CheckInvariants();
      ticks_since_check_ = 0;
    }
  }
  epoch_fence_.store(core_->epoch_fence());
  wal::Lsn must_be_durable = wal::kNoLsn;
  for (const participant::ParticipantRecord& record : effects.persist) {
    Result<wal::Lsn> lsn = log_->Append(participant::EncodeRecord(record));
    if (!lsn.ok()) FailStop(lsn.status());
    lsn_of_[participant::RecordKey::Of(record)] = *lsn;
    must_be_durable = *lsn;
  }
  // A message may answer from a record that another thread's step appended and has not synced
  // yet (a repeated PREPARE answered YES from the first one's PREPARED): the core names that
  // record. Waiting for everything appended instead made every step wait for every fsync in
  // flight - three extra sleeps per branch in pact-bench.
  for (const participant::ParticipantOutbound& outbound : effects.send) {
    if (!outbound.requires_durable.has_value()) continue;
    auto it = lsn_of_.find(*outbound.requires_durable);
    // Not there: appended before this incarnation, or forgotten once durable.
    if (it != lsn_of_.end()) must_be_durable = std::max(must_be_durable, it->second);
  }
  return must_be_durable;
}

void ParticipantDriver::Process(Input input, Carrier carrier) {
  std::deque<Input> inputs;
  inputs.push_back(std::move(input));
  Process(std::move(inputs), carrier);
}

void ParticipantDriver::Process(std::deque<Input> work, Carrier carrier) {
  while (!work.empty() && !stopping_.load()) {
    std::deque<Input> round;
    round.swap(work);
    ParticipantEffects effects;
    wal::Lsn must_be_durable = wal::kNoLsn;
    {
      std::lock_guard core_lock(core_mutex_);
      for (Input& input : round) {
        ParticipantEffects more;
        must_be_durable = std::max(must_be_durable, StepLocked(input, more));
        for (auto& r : more.persist) effects.persist.push_back(std::move(r));
        for (auto& s : more.send) effects.send.push_back(std::move(s));
        for (auto& a : more.apply) effects.apply.push_back(std::move(a));
        for (auto& e : more.events) effects.events.push_back(std::move(e));
      }
    }
    // Persist, then send, apply and tell.
    if (must_be_durable > log_->durable_lsn()) {
      if (Status s = log_->WaitDurable(must_be_durable); !s.ok()) FailStop(s);
    }
    for (const participant::ParticipantRecord& record : effects.persist) {
      if (record.kind == participant::ParticipantRecord::Kind::kPrepared) {
        FailPoint("participant.after_prepared_durable");
      }
    }
    for (participant::ParticipantOutbound& outbound : effects.send) {
      if (ReplyRouter::IsReplyAddress(outbound.to)) {
        replies_.Deliver(outbound.to, std::move(outbound.message));
        continue;
      }
      PACT_CHECK(outbound.to == options_.core.coordinator, "the core sent {} to '{}'",
                 protocol::MessageName(outbound.message), outbound.to);
      if (carrier == Carrier::kThisThread) {
        if (std::optional<protocol::Message> answer = CallCoordinator(outbound.message)) {
          work.push_back(MessageInput{outbound.to, std::move(*answer)});
        }
        continue;
      }
      // Dropped when the pool is full: the core resends enlistments and inquiries on ticks.
      coordinator_pool_.Submit([this, message = std::move(outbound.message)] {
        if (std::optional<protocol::Message> answer = CallCoordinator(message)) {
          Process(MessageInput{options_.core.coordinator, std::move(*answer)},
                  Carrier::kThisThread);
        }
      });
    }
    if (carrier == Carrier::kThisThread) {
      for (StoreResult& result : RunStoreOps(effects.apply)) work.push_back(std::move(result));
    } else {
      for (const StoreRequest& request : effects.apply) {
        const bool queued = store_pool_.Submit(
            [this, request] { Process(RunStoreOps({request}).front(), Carrier::kThisThread); });
        if (!queued) {
          // The core treats a failed store operation as "try again later".
          work.push_back(
              StoreResult{request.op, request.branch, Status::Overloaded("store queue full")});
        }
      }
    }
    for (const ParticipantEvent& event : effects.events) Notify(event);
  }
}

std::optional<protocol::Message> ParticipantDriver::CallCoordinator(
    const protocol::Message& message) {
  if (const auto* m = std::get_if<protocol::EnlistRequest>(&message)) {
    rpc::EnlistRequest request;
    request.txid = ToRpc(m->txn);
    request.participant_id = options_.core.name;
    request.participant_address = advertise_;
    request.incarnation = static_cast<int64_t>(m->incarnation);
    rpc::EnlistReply reply;
    Status status = coordinator_->CallLeader(
        [&](rpc::CoordinatorClient& client) { client.enlist(reply, request); });
    protocol::EnlistReply answer{m->txn.epoch, m->txn, protocol::EnlistStatus::kRefused, 0};
    if (status.ok() && reply.branch.branch > 0 && FromRpc(reply.branch.txid) == m->txn) {
      answer.status = protocol::EnlistStatus::kEnlisted;
      answer.branch = static_cast<uint32_t>(reply.branch.branch);
    } else if (status.ok() || status.code() == StatusCode::kFailedPrecondition ||
               status.code() == StatusCode::kNotFound ||
               status.code() == StatusCode::kStaleEpoch ||
               status.code() == StatusCode::kInvalidArgument) {
      PACT_LOG_WARN("enlistment in {} refused: {}", m->txn, status.ToString());
    } else {
      return std::nullopt;  // unreachable or busy: the core asks again
    }
    return answer;
  }
  if (const auto* m = std::get_if<protocol::OutcomeRequest>(&message)) {
    rpc::OutcomeRequest request;
    request.txid = ToRpc(m->txn);
    request.__set_epoch(static_cast<int64_t>(m->epoch));
    rpc::OutcomeReply reply;
    Status status = coordinator_->CallAny(
        [&](rpc::CoordinatorClient& client) { client.outcome(reply, request); });
    if (!status.ok()) return std::nullopt;
    return protocol::OutcomeReply{m->epoch, m->txn, FromRpc(reply.outcome)};
  }
  PACT_UNREACHABLE("the core sent {} to the coordinator", protocol::MessageName(message));
}

std::vector<StoreResult> ParticipantDriver::RunStoreOps(const std::vector<StoreRequest>& requests) {
  std::vector<StoreResult> results;
  std::vector<size_t> commits, prepares, rollbacks;  // indices into requests, by operation
  std::vector<BranchId> commit_branches, prepare_branches;
  for (size_t i = 0; i < requests.size(); ++i) {
    const StoreRequest& request = requests[i];
    results.push_back({request.op, request.branch, Status::Ok(), PrepareResult::kPrepared});
    switch (request.op) {
      case StoreOp::kCommitPrepared:
        commits.push_back(i);
        commit_branches.push_back(request.branch);
        break;
      case StoreOp::kPrepare:
        prepares.push_back(i);
        prepare_branches.push_back(request.branch);
        break;
      case StoreOp::kRollback:
        rollbacks.push_back(i);
        break;
    }
  }
  // Every COMMIT PREPARED of the round in one go: with a batch from Participant.exchange, one
  // PostgreSQL round trip and one WAL flush instead of one of each per branch.
  if (!commits.empty()) {
    std::vector<Status> committed = resource_->CommitPreparedMany(commit_branches);
    PACT_CHECK(committed.size() == commits.size(), "CommitPreparedMany answered {} of {}",
               committed.size(), commits.size());
    for (size_t k = 0; k < commits.size(); ++k) results[commits[k]].status = committed[k];
    for (size_t i : commits) {
      if (results[i].status.ok()) FailPoint("participant.after_store_commit");
    }
  }
  // Every PREPARE of the round at once too: the store overlaps their round trips and flushes.
  if (!prepares.empty()) {
    std::vector<Result<PrepareResult>> prepared = resource_->PrepareMany(prepare_branches);
    PACT_CHECK(prepared.size() == prepares.size(), "PrepareMany answered {} of {}",
               prepared.size(), prepares.size());
    for (size_t k = 0; k < prepares.size(); ++k) {
      StoreResult& result = results[prepares[k]];
      result.status = prepared[k].status();
      if (prepared[k].ok()) result.prepared = *prepared[k];
    }
    for (size_t i : prepares) {
      if (results[i].status.ok() && results[i].prepared == PrepareResult::kPrepared) {
        FailPoint("participant.after_store_prepare");
      }
    }
  }
  for (size_t i : rollbacks) {
    results[i].status = resource_->Rollback(requests[i].branch);
    if (results[i].status.ok()) FailPoint("participant.after_store_rollback");
  }
  return results;
}

void ParticipantDriver::Notify(const ParticipantEvent& event) {
  if (event.kind == ParticipantEvent::Kind::kInconsistent) {
    PACT_LOG_ERROR("branch {}: inconsistent state, left for an operator: {}", event.branch,
                   event.detail);
    return;
  }
  std::optional<Result<BranchId>> result;
  if (event.kind == ParticipantEvent::Kind::kEnlisted) {
    result = event.branch;
  } else {
    result = Status::FailedPrecondition(fmt::format(
        "transaction {} takes no new work here (commit started, it ended, or this participant "
        "restarted since it enlisted){}",
        event.txn, event.detail.empty() ? "" : ": " + event.detail));
  }
  std::lock_guard lock(mutex_);
  auto [begin, end] = joins_.equal_range(event.txn);
  for (auto it = begin; it != end; ++it) {
    if (!it->second->result.has_value()) it->second->result = *result;
    it->second->decided.notify_all();
  }
}

void ParticipantDriver::FailStop(const Status& status) {
  PACT_LOG_ERROR("participant WAL failed, stopping: {}", status.ToString());
  spdlog::default_logger_raw()->flush();
  std::_Exit(70);  // EX_SOFTWARE: nothing after this point may be acknowledged
}

}  // namespace pact::sdk
