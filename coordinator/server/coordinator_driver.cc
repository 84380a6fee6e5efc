#include "coordinator/server/coordinator_driver.h"

#include <chrono>
#include <cstdlib>
#include <future>

#include <fmt/format.h>

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
  driver->thread_ = std::thread([raw = driver.get()] { raw->Run(); });
  return driver;
}

CoordinatorDriver::CoordinatorDriver(const DriverOptions& options, std::string name,
                                     std::unique_ptr<DecisionLog> log, Clock* clock)
    : options_(options),
      name_(std::move(name)),
      clock_(clock),
      epoch_(log->epoch()),
      log_(std::move(log)),
      core_(options.core, name_, epoch_, log_->unended()) {
  sender_ = std::make_unique<ParticipantSender>(
      options_.sender, [this](std::vector<ParticipantSender::Reply> replies) {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        // Replies are never refused for a full queue: they finish work the core started.
        for (ParticipantSender::Reply& reply : replies) {
          inputs_.push_back(Input{std::move(reply.from), std::move(reply.message)});
        }
        inputs_changed_.notify_one();
      });
}

CoordinatorDriver::~CoordinatorDriver() { Stop(); }

void CoordinatorDriver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    inputs_changed_.notify_all();
  }
  replies_.Shutdown();
  if (thread_.joinable()) thread_.join();
  if (sender_ != nullptr) sender_->Stop();
}

Result<protocol::Message> CoordinatorDriver::Call(const protocol::Message& request, int wait_ms) {
  const std::string address = replies_.Register();
  {
    std::lock_guard lock(mutex_);
    Status refused;
    if (stopping_) {
      refused = Status::Unavailable(fmt::format("coordinator {} is stopping", name_));
    } else if (inputs_.size() >= options_.inputs_queued_max) {
      refused = Status::Overloaded(
          fmt::format("coordinator {}: {} requests queued", name_, inputs_.size()));
    }
    if (!refused.ok()) {
      replies_.Forget(address);
      return refused;
    }
    inputs_.push_back(Input{address, request});
    inputs_changed_.notify_one();
  }
  std::optional<protocol::Message> reply = replies_.Wait(
      address, std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms));
  if (reply.has_value()) return std::move(*reply);
  if (replies_.shut_down()) return Status::Unavailable(fmt::format("coordinator {} stopped", name_));
  return Status::OutcomeUnknown(fmt::format("coordinator {}: no reply to {} within {} ms", name_,
                                            protocol::MessageName(request), wait_ms));
}

std::vector<TxnView> CoordinatorDriver::OpenTxns() {
  auto promise = std::make_shared<std::promise<std::vector<TxnView>>>();
  std::future<std::vector<TxnView>> future = promise->get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return {};
    inspections_.push_back([this, promise] { promise->set_value(core_.OpenTxns()); });
    inputs_changed_.notify_one();
  }
  return future.get();
}

CoordinatorStats CoordinatorDriver::Stats() {
  auto promise = std::make_shared<std::promise<CoordinatorStats>>();
  std::future<CoordinatorStats> future = promise->get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return {};
    inspections_.push_back([this, promise] { promise->set_value(core_.stats()); });
    inputs_changed_.notify_one();
  }
  return future.get();
}

void CoordinatorDriver::Run() {
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  uint64_t next_tick_us = clock_->NowMicros() + tick_us;
  // Resume unended decisions at once rather than one tick from now.
  Carry(core_.Tick());
  while (true) {
    std::deque<Input> batch;
    std::deque<std::function<void()>> inspections;
    {
      std::unique_lock lock(mutex_);
      inputs_changed_.wait_for(lock, std::chrono::microseconds(tick_us), [&] {
        return stopping_ || !inputs_.empty() || !inspections_.empty() ||
               clock_->NowMicros() >= next_tick_us;
      });
      if (stopping_) break;
      batch.swap(inputs_);
      inspections.swap(inspections_);
    }
    // Every input of the batch is stepped before anything is persisted, so that one flush of
    // the decision log covers all of them (group commit across transactions).
    CoordinatorEffects effects;
    for (Input& input : batch) {
      CoordinatorEffects more = core_.Step(input.from, input.message);
      Append(effects, std::move(more));
    }
    bool ticked = false;
    if (clock_->NowMicros() >= next_tick_us) {
      Append(effects, core_.Tick());
      next_tick_us = clock_->NowMicros() + tick_us;
      ticked = true;
    }
    Carry(std::move(effects));
    // The whole-state check walks every open and remembered transaction; once per tick rather
    // than after every batch keeps it off the commit path (the simulator checks every step).
    if (ticked) core_.CheckInvariants();
    for (auto& inspect : inspections) inspect();
  }
}

void CoordinatorDriver::Append(CoordinatorEffects& into, CoordinatorEffects more) {
  for (auto& decision : more.propose) into.propose.push_back(std::move(decision));
  for (auto& txn : more.record_end) into.record_end.push_back(txn);
  for (auto& outbound : more.send) into.send.push_back(std::move(outbound));
}

void CoordinatorDriver::Carry(CoordinatorEffects effects) {
  // Persist, then send, then apply - until the core has nothing more to say. OnChosen may
  // produce further sends (phase 2, client replies) but never further proposals.
  while (!effects.empty()) {
    bool flush = false;
    for (const CommitDecision& decision : effects.propose) {
      if (Status s = log_->Propose(decision); !s.ok()) FailStop(s);
      flush = true;
    }
    for (const TxnId& txn : effects.record_end) {
      if (Status s = log_->RecordEnd(txn); !s.ok()) FailStop(s);
    }
    if (flush) {
      FailPoint("coordinator.before_decision_flush");
      if (Status s = log_->Flush(); !s.ok()) FailStop(s);
      FailPoint("coordinator.after_decision_durable");
    }
    for (CoordinatorOutbound& outbound : effects.send) SendOrHold(std::move(outbound));
    effects = CoordinatorEffects();
    for (const TxnId& txn : log_->TakeChosen()) Append(effects, core_.OnChosen(txn));
    ReleaseHeld();
  }
}

void CoordinatorDriver::SendOrHold(CoordinatorOutbound outbound) {
  if (outbound.requires_chosen.valid() && !log_->IsChosen(outbound.requires_chosen)) {
    held_.push_back(std::move(outbound));
    return;
  }
  Route(std::move(outbound));
}

void CoordinatorDriver::ReleaseHeld() {
  std::vector<CoordinatorOutbound> still_held;
  for (CoordinatorOutbound& outbound : held_) {
    if (log_->IsChosen(outbound.requires_chosen)) {
      Route(std::move(outbound));
    } else {
      still_held.push_back(std::move(outbound));
    }
  }
  held_.swap(still_held);
}

void CoordinatorDriver::Route(CoordinatorOutbound outbound) {
  if (ReplyRouter::IsReplyAddress(outbound.to)) {
    replies_.Deliver(outbound.to, std::move(outbound.message));
    return;
  }
  sender_->Send(outbound.to, std::move(outbound.message));
}

void CoordinatorDriver::FailStop(const Status& status) {
  PACT_LOG_ERROR("coordinator {}: decision log failed, stopping: {}", name_, status.ToString());
  spdlog::default_logger_raw()->flush();
  std::_Exit(70);  // EX_SOFTWARE: nothing after this point may be acknowledged
}

}  // namespace pact::coordinator
