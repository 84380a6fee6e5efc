#include "participant/sdk/participant_driver.h"

#include <chrono>
#include <cstdlib>

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
    std::shared_ptr<Resource> resource, std::unique_ptr<CoordinatorChannel> coordinator,
    Clock* clock) {
  if (options.tick_ms <= 0) return Status::InvalidArgument("tick_ms must be positive");
  if (options.invariant_check_interval_ticks == 0) {
    return Status::InvalidArgument("invariant_check_interval_ticks must be positive");
  }
  return std::unique_ptr<ParticipantDriver>(new ParticipantDriver(
      options, std::move(log), std::move(resource), std::move(coordinator), clock));
}

Status ParticipantDriver::Start(const std::vector<participant::ParticipantRecord>& records,
                                const std::vector<BranchId>& store_prepared,
                                const std::string& advertise) {
  PACT_CHECK(!core_.has_value(), "Start() twice");
  advertise_ = advertise;
  options_.core.name = advertise;
  PACT_RETURN_IF_ERROR(options_.core.Validate());
  core_.emplace(options_.core);
  PACT_ASSIGN_OR_RETURN(ParticipantEffects recovered, core_->Recover(records, store_prepared));
  // Recovery's effects run before the driver thread exists; the store results and coordinator
  // answers they cause arrive as inputs once it runs.
  Carry(std::move(recovered));
  epoch_fence_.store(core_->epoch_fence());
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

ParticipantDriver::ParticipantDriver(const ParticipantDriverOptions& options,
                                     std::unique_ptr<wal::Log> log,
                                     std::shared_ptr<Resource> resource,
                                     std::unique_ptr<CoordinatorChannel> coordinator,
                                     Clock* clock)
    : options_(options),
      clock_(clock),
      log_(std::move(log)),
      resource_(std::move(resource)),
      coordinator_(std::move(coordinator)),
      store_pool_(options.store_threads, options.queued_tasks_max),
      coordinator_pool_(options.coordinator_threads, options.queued_tasks_max) {}

ParticipantDriver::~ParticipantDriver() { Stop(); }

void ParticipantDriver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    inputs_changed_.notify_all();
    for (auto& [txn, waiter] : joins_) waiter->decided.notify_all();
  }
  replies_.Shutdown();
  if (thread_.joinable()) thread_.join();
  store_pool_.Stop();
  coordinator_pool_.Stop();
}

void ParticipantDriver::Post(Input input) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  inputs_.push_back(std::move(input));
  inputs_changed_.notify_one();
}

std::optional<protocol::Message> ParticipantDriver::Call(const protocol::Message& request,
                                                         int wait_ms) {
  const std::string address = replies_.Register();
  Post(MessageInput{address, request});
  return replies_.Wait(address,
                       std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
}

Result<BranchId> ParticipantDriver::StartWork(const TxnId& txn, int wait_ms) {
  auto waiter = std::make_shared<JoinWaiter>();
  std::unique_lock lock(mutex_);
  if (stopping_) return Status::Unavailable("participant is stopping");
  auto registered = joins_.emplace(txn, waiter);
  inputs_.push_back(txn);
  inputs_changed_.notify_one();
  waiter->decided.wait_for(lock, std::chrono::milliseconds(wait_ms),
                           [&] { return waiter->result.has_value() || stopping_; });
  joins_.erase(registered);
  if (waiter->result.has_value()) return std::move(*waiter->result);
  if (stopping_) return Status::Unavailable("participant is stopping");
  return Status::Unavailable(fmt::format(
      "transaction {}: no enlistment within {} ms (coordinator unreachable?)", txn, wait_ms));
}

void ParticipantDriver::Run() {
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  uint64_t next_tick_us = clock_->NowMicros() + tick_us;
  uint64_t ticks_since_check = 0;
  while (true) {
    std::deque<Input> batch;
    {
      std::unique_lock lock(mutex_);
      inputs_changed_.wait_for(lock, std::chrono::microseconds(tick_us), [&] {
        return stopping_ || !inputs_.empty() || clock_->NowMicros() >= next_tick_us;
      });
      if (stopping_) return;
      batch.swap(inputs_);
    }
    // Step the whole batch first so that one WaitDurable covers every record it produces.
    ParticipantEffects effects;
    auto append = [&](ParticipantEffects more) {
      for (auto& r : more.persist) effects.persist.push_back(std::move(r));
      for (auto& s : more.send) effects.send.push_back(std::move(s));
      for (auto& a : more.apply) effects.apply.push_back(std::move(a));
      for (auto& e : more.events) effects.events.push_back(std::move(e));
    };
    for (Input& input : batch) {
      if (auto* m = std::get_if<MessageInput>(&input)) {
        append(core_->Step(m->from, m->message));
      } else if (auto* txn = std::get_if<TxnId>(&input)) {
        append(core_->StartWork(*txn));
      } else {
        append(core_->OnStoreResult(std::get<StoreResult>(input)));
      }
    }
    bool ticked = false;
    if (clock_->NowMicros() >= next_tick_us) {
      append(core_->Tick());
      next_tick_us = clock_->NowMicros() + tick_us;
      ticked = true;
    }
    Carry(std::move(effects));
    // The whole-state check walks every branch the core remembers: after every batch it took
    // an eighth of the agent's CPU under load, and once per tick a fifth after a minute of
    // pact-bench. A broken invariant is still caught within a second.
    if (ticked && ++ticks_since_check >= options_.invariant_check_interval_ticks) {
      core_->CheckInvariants();
      ticks_since_check = 0;
    }
    epoch_fence_.store(core_->epoch_fence());
  }
}

void ParticipantDriver::Carry(ParticipantEffects effects) {
  Persist(effects.persist);
  // Persist, then send: every record the batch produced is durable now, so every message
  // that depends on one may leave.
  PACT_CHECK(log_->durable_lsn() == log_->last_lsn(), "sending before the log is durable");
  for (participant::ParticipantOutbound& outbound : effects.send) Send(std::move(outbound));
  for (const StoreRequest& request : effects.apply) Apply(request);
  for (const ParticipantEvent& event : effects.events) Notify(event);
}

void ParticipantDriver::Persist(const std::vector<participant::ParticipantRecord>& records) {
  if (records.empty()) return;
  wal::Lsn last = 0;
  for (const participant::ParticipantRecord& record : records) {
    Result<wal::Lsn> lsn = log_->Append(participant::EncodeRecord(record));
    if (!lsn.ok()) FailStop(lsn.status());
    last = *lsn;
  }
  if (Status s = log_->WaitDurable(last); !s.ok()) FailStop(s);
  for (const participant::ParticipantRecord& record : records) {
    if (record.kind == participant::ParticipantRecord::Kind::kPrepared) {
      FailPoint("participant.after_prepared_durable");
    }
  }
}

void ParticipantDriver::Send(participant::ParticipantOutbound outbound) {
  if (ReplyRouter::IsReplyAddress(outbound.to)) {
    replies_.Deliver(outbound.to, std::move(outbound.message));
  } else {
    PACT_CHECK(outbound.to == options_.core.coordinator, "the core sent {} to '{}'",
               protocol::MessageName(outbound.message), outbound.to);
    CallCoordinator(std::move(outbound.message));
  }
}

void ParticipantDriver::CallCoordinator(protocol::Message message) {
  // Dropped when the pool is full: the core resends enlistments and inquiries on its ticks.
  coordinator_pool_.Submit([this, message = std::move(message)] {
    const std::string& from = options_.core.coordinator;
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
        return;  // unreachable or busy: the core asks again
      }
      Post(MessageInput{from, answer});
    } else if (const auto* m = std::get_if<protocol::OutcomeRequest>(&message)) {
      rpc::OutcomeRequest request;
      request.txid = ToRpc(m->txn);
      request.__set_epoch(static_cast<int64_t>(m->epoch));
      rpc::OutcomeReply reply;
      Status status = coordinator_->CallAny(
          [&](rpc::CoordinatorClient& client) { client.outcome(reply, request); });
      if (!status.ok()) return;
      Post(MessageInput{from, protocol::OutcomeReply{m->epoch, m->txn, FromRpc(reply.outcome)}});
    } else {
      PACT_UNREACHABLE("the core sent {} to the coordinator", protocol::MessageName(message));
    }
  });
}

void ParticipantDriver::Apply(const StoreRequest& request) {
  const bool queued = store_pool_.Submit([this, request] {
    StoreResult result{request.op, request.branch, Status::Ok(), PrepareResult::kPrepared};
    switch (request.op) {
      case StoreOp::kPrepare: {
        Result<PrepareResult> prepared = resource_->Prepare(request.branch);
        result.status = prepared.status();
        if (prepared.ok()) {
          result.prepared = *prepared;
          if (*prepared == PrepareResult::kPrepared) FailPoint("participant.after_store_prepare");
        }
        break;
      }
      case StoreOp::kCommitPrepared:
        result.status = resource_->CommitPrepared(request.branch);
        if (result.status.ok()) FailPoint("participant.after_store_commit");
        break;
      case StoreOp::kRollback:
        result.status = resource_->Rollback(request.branch);
        if (result.status.ok()) FailPoint("participant.after_store_rollback");
        break;
    }
    Post(result);
  });
  if (!queued) {
    // The core treats a failed store operation as "try again later".
    Post(StoreResult{request.op, request.branch, Status::Overloaded("store queue full")});
  }
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
