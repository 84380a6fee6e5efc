#include "coordinator/server/coordinator_driver.h"

#include <fmt/format.h>

#include <cstdlib>

#include "common/check.h"
#include "common/fail_point.h"
#include "common/logging.h"

namespace pact::coordinator {

Result<std::unique_ptr<CoordinatorDriver>> CoordinatorDriver::Start(
    const DriverOptions& options, std::string name, std::unique_ptr<DecisionLog> log,
    Clock* clock) {
  PACT_RETURN_IF_ERROR(options.core.Validate());
  if (options.tick_ms <= 0) return Status::InvalidArgument("tick_ms must be positive");
  std::unique_ptr<CoordinatorDriver> driver(
      new CoordinatorDriver(options, std::move(name), std::move(log), clock));
  driver->ticker_ = std::thread([raw = driver.get()] { raw->RunTicker(); });
  return driver;
}

CoordinatorDriver::CoordinatorDriver(const DriverOptions& options, std::string name,
                                     std::unique_ptr<DecisionLog> log, Clock* clock)
    : options_(options),
      name_(std::move(name)),
      clock_(clock),
      epoch_(log->epoch()),
      log_(std::move(log)),
      core_(options.core, name_, epoch_, log_->unended(), log_->TakeCommitted()) {
  sender_ = std::make_unique<ParticipantSender>(
      options_.sender, [this](std::vector<ParticipantSender::Reply> replies) {
        OnSenderReplies(std::move(replies));
      });
}

CoordinatorDriver::~CoordinatorDriver() { Stop(); }

void CoordinatorDriver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stop_changed_.notify_all();
  }
  replies_.Shutdown();
  if (ticker_.joinable()) ticker_.join();
  {
    // A call may be in the middle of a fan-out; it returns within its participants' call
    // timeout, and must be gone before the sender and the router it uses are.
    std::unique_lock lock(mutex_);
    stop_changed_.wait(lock, [&] { return calls_active_ == 0; });
  }
  if (sender_ != nullptr) sender_->Stop();
}

Result<protocol::Message> CoordinatorDriver::Call(const protocol::Message& request, int wait_ms) {
  const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  Work work{.own_address = replies_.Register()};
  {
    std::unique_lock lock(mutex_);
    Status refused;
    if (stopping_) {
      refused = Status::Unavailable(fmt::format("coordinator {} is stopping", name_));
    } else if (calls_active_ >= options_.calls_active_max) {
      refused = Status::Overloaded(
          fmt::format("coordinator {}: {} requests under way", name_, calls_active_));
    }
    if (!refused.ok()) {
      lock.unlock();
      replies_.Forget(work.own_address);
      return refused;
    }
    ++calls_active_;
    CarryLocked(lock, core_.Step(work.own_address, request), work);
  }
  // Participant messages leave in their participants' next batch; the answers, and what
  // follows from them (the decision, phase 2, this call's reply), are carried out by the
  // sender thread that receives them.
  FinishAsync(work);
  Result<protocol::Message> result =
      Status::OutcomeUnknown(fmt::format("coordinator {}: no reply to {} within {} ms", name_,
                                         protocol::MessageName(request), wait_ms));
  if (work.own_reply.has_value()) {
    replies_.Forget(work.own_address);
    result = std::move(*work.own_reply);
  } else if (std::optional<protocol::Message> reply = replies_.Wait(work.own_address, deadline)) {
    // Another thread carried out the effect that answers this call (it chose our decision in
    // its flush, or a tick aborted our transaction).
    result = std::move(*reply);
  } else if (replies_.shut_down()) {
    result = Status::Unavailable(fmt::format("coordinator {} stopped", name_));
  }
  EndCall();
  return result;
}

void CoordinatorDriver::EndCall() {
  std::lock_guard lock(mutex_);
  PACT_CHECK(calls_active_ > 0);
  --calls_active_;
  if (stopping_ && calls_active_ == 0) stop_changed_.notify_all();
}

std::vector<TxnView> CoordinatorDriver::OpenTxns() {
  std::lock_guard lock(mutex_);
  if (stopping_) return {};
  return core_.OpenTxns();
}

CoordinatorStats CoordinatorDriver::Stats() {
  std::lock_guard lock(mutex_);
  if (stopping_) return {};
  return core_.stats();
}

void CoordinatorDriver::RunTicker() {
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  // The first tick comes at once: it resumes unended decisions rather than one tick from now.
  uint64_t next_tick_us = clock_->NowMicros();
  while (true) {
    Work work;
    {
      std::unique_lock lock(mutex_);
      for (uint64_t now = clock_->NowMicros(); !stopping_ && now < next_tick_us;
           now = clock_->NowMicros()) {
        stop_changed_.wait_for(lock, std::chrono::microseconds(next_tick_us - now));
      }
      if (stopping_) return;
      CarryLocked(lock, core_.Tick(), work);
      // The whole-state check walks every open and remembered transaction; once per tick
      // keeps it off the commit path (the simulator checks every step).
      core_.CheckInvariants();
      next_tick_us = clock_->NowMicros() + tick_us;
    }
    FinishAsync(work);
  }
}

void CoordinatorDriver::OnSenderReplies(std::vector<ParticipantSender::Reply> replies) {
  Work work;
  {
    std::unique_lock lock(mutex_);
    if (stopping_) return;
    // Every reply of the batch is stepped before anything is persisted, so that one flush
    // covers every decision they lead to.
    CoordinatorEffects effects;
    for (ParticipantSender::Reply& reply : replies) {
      Append(effects, core_.Step(reply.from, reply.message));
    }
    CarryLocked(lock, std::move(effects), work);
  }
  FinishAsync(work);
}

void CoordinatorDriver::Append(CoordinatorEffects& into, CoordinatorEffects more) {
  for (auto& decision : more.propose) into.propose.push_back(std::move(decision));
  for (auto& txn : more.record_end) into.record_end.push_back(txn);
  for (auto& outbound : more.send) into.send.push_back(std::move(outbound));
}

void CoordinatorDriver::CarryLocked(std::unique_lock<std::mutex>& lock, CoordinatorEffects effects,
                                    Work& work) {
  PACT_CHECK(lock.owns_lock());
  // Persist, then send, then apply - until the core has nothing more to say. OnChosen may
  // produce further sends (phase 2, client replies) but never further proposals.
  while (!effects.empty()) {
    for (const CommitDecision& decision : effects.propose) {
      if (Status s = log_->Propose(decision); !s.ok()) FailStop(s);
    }
    // Which messages may leave is settled before this batch records any END: a decision whose
    // END is recorded is no longer reported chosen, though it stays chosen forever.
    std::vector<CoordinatorOutbound> ready;
    for (CoordinatorOutbound& outbound : effects.send) {
      if (outbound.requires_chosen.valid() && !log_->IsChosen(outbound.requires_chosen)) {
        held_.push_back(std::move(outbound));
      } else {
        ready.push_back(std::move(outbound));
      }
    }
    for (const TxnId& txn : effects.record_end) {
      if (Status s = log_->RecordEnd(txn); !s.ok()) FailStop(s);
    }
    const FlushTicket ticket = effects.propose.empty() ? FlushTicket{} : log_->StartFlush();
    if (!ticket.empty()) {
      // The wait (an fsync) runs without the mutex, so that other callers can step, propose
      // and join the same group commit meanwhile.
      lock.unlock();
      FailPoint("coordinator.before_decision_flush");
      if (Status s = log_->WaitFlush(ticket); !s.ok()) FailStop(s);
      FailPoint("coordinator.after_decision_durable");
      lock.lock();
      log_->FinishFlush(ticket);
    }
    for (CoordinatorOutbound& outbound : ready) Route(std::move(outbound), work);
    // Every decision chosen, this caller's or not: whoever takes it from the log carries out
    // what follows from it, so that no decision waits for its proposer to come back.
    effects = CoordinatorEffects();
    for (const TxnId& txn : log_->TakeChosen()) Append(effects, core_.OnChosen(txn));
    ReleaseHeldLocked(work);
  }
}

void CoordinatorDriver::ReleaseHeldLocked(Work& work) {
  if (held_.empty()) return;
  std::vector<CoordinatorOutbound> still_held;
  for (CoordinatorOutbound& outbound : held_) {
    if (log_->IsChosen(outbound.requires_chosen)) {
      Route(std::move(outbound), work);
    } else {
      still_held.push_back(std::move(outbound));
    }
  }
  held_.swap(still_held);
}

void CoordinatorDriver::Route(CoordinatorOutbound outbound, Work& work) {
  if (!work.own_address.empty() && outbound.to == work.own_address) {
    if (!work.own_reply.has_value()) work.own_reply = std::move(outbound.message);
  } else if (ReplyRouter::IsReplyAddress(outbound.to)) {
    work.to_callers.push_back(std::move(outbound));
  } else {
    work.to_participants.push_back(std::move(outbound));
  }
}

void CoordinatorDriver::DeliverToCallers(Work& work) {
  for (CoordinatorOutbound& outbound : work.to_callers) {
    replies_.Deliver(outbound.to, std::move(outbound.message));
  }
  work.to_callers.clear();
}

void CoordinatorDriver::FinishAsync(Work& work) {
  DeliverToCallers(work);
  if (work.to_participants.empty()) return;
  std::vector<ParticipantSender::Outgoing> messages;
  messages.reserve(work.to_participants.size());
  for (CoordinatorOutbound& outbound : work.to_participants) {
    messages.push_back({std::move(outbound.to), std::move(outbound.message)});
  }
  work.to_participants.clear();
  sender_->Send(std::move(messages));
}

void CoordinatorDriver::FailStop(const Status& status) {
  PACT_LOG_ERROR("coordinator {}: decision log failed, stopping: {}", name_, status.ToString());
  spdlog::default_logger_raw()->flush();
  std::_Exit(70);  // EX_SOFTWARE: nothing after this point may be acknowledged
}

}  // namespace pact::coordinator
