#include "tests/sim/client.h"

#include <fmt/format.h>

#include <algorithm>

namespace pact::sim {

using protocol::Outcome;

SimClient::SimClient(std::string name, std::string coordinator,
                     std::vector<std::string> participants, const ClientOptions& options,
                     Random* random, Services services)
    : name_(std::move(name)),
      coordinator_(std::move(coordinator)),
      participants_(std::move(participants)),
      options_(options),
      random_(random),
      s_(services) {}

void SimClient::Tick() {
  ++now_;
  switch (state_) {
    case State::kIdle:
      if (stopped_ || started_ >= options_.txns || now_ < next_start_) return;
      ++started_;
      if (!leased_.empty() && now_ < leased_until_) {
        txn_ = leased_.front();
        leased_.pop_front();
        StartWork();
        return;
      }
      leased_.clear();
      state_ = State::kBeginning;
      deadline_ = now_ + options_.begin_wait_ticks;
      s_.transport->Send(name_, coordinator_,
                         protocol::Message{protocol::BeginRequest{++request_id_, options_.lease,
                                                                  options_.timeout_ticks}});
      return;
    case State::kBeginning:
      if (now_ >= deadline_) {
        state_ = State::kIdle;  // try again (counts as one of the transactions)
        next_start_ = now_ + random_->Range(1, options_.think_ticks_max);
      }
      return;
    case State::kWorking:
      if (now_ >= deadline_) Finish();
      return;
    case State::kFinishing:
      if (now_ >= deadline_) {
        Told(Outcome::kUnknown);
      } else if (now_ >= resend_at_) {
        SendFinish();
      }
      return;
  }
}

void SimClient::Deliver(const std::string& from, const SimMessage& message) {
  if (const auto* reply = std::get_if<WorkReply>(&message)) {
    if (state_ != State::kWorking || reply->txn != txn_) return;
    auto it = work_.find(from);
    if (it == work_.end() || work_done_.contains(from)) return;
    work_done_[from] = reply->ok;
    if (reply->ok) s_.checker->OnWorkDone(txn_, from, reply->branch, reply->kind);
    if (work_done_.size() == work_.size()) Finish();
    return;
  }
  const auto* m = std::get_if<protocol::Message>(&message);
  if (m == nullptr) return;
  if (const auto* begin = std::get_if<protocol::BeginReply>(m)) {
    if (state_ != State::kBeginning || begin->request_id != request_id_) return;
    if (begin->status != protocol::BeginStatus::kOk) {
      state_ = State::kIdle;
      next_start_ = now_ + random_->Range(1, options_.think_ticks_max);
      return;
    }
    txn_ = begin->txn;
    for (uint64_t i = 1; i < begin->leased; ++i) {
      leased_.push_back(TxnId{begin->txn.epoch, begin->txn.sequence + i});
    }
    leased_until_ = now_ + begin->lease_ticks / 2;
    StartWork();
  } else if (const auto* commit = std::get_if<protocol::CommitReply>(m)) {
    if (state_ == State::kFinishing && commit->txn == txn_) Told(commit->outcome);
  } else if (const auto* abort = std::get_if<protocol::AbortReply>(m)) {
    if (state_ == State::kFinishing && abort->txn == txn_) Told(abort->outcome);
  }
}

void SimClient::StartWork() {
  state_ = State::kWorking;
  deadline_ = now_ + options_.work_wait_ticks;
  work_.clear();
  work_done_.clear();
  std::vector<std::string> shuffled = participants_;
  for (size_t i = shuffled.size(); i > 1; --i)
    std::swap(shuffled[i - 1], shuffled[random_->Uniform(i)]);
  const uint64_t count =
      random_->Range(1, std::min<uint64_t>(options_.branches_per_txn_max, shuffled.size()));
  for (uint64_t i = 0; i < count; ++i) {
    WorkKind kind = WorkKind::kWrite;
    const uint64_t roll = random_->Uniform(1000);
    if (roll < options_.read_permille) {
      kind = WorkKind::kRead;
    } else if (roll < options_.read_permille + options_.fail_permille) {
      kind = WorkKind::kFailPrepare;
    }
    work_[shuffled[i]] = kind;
    s_.transport->Send(name_, shuffled[i], WorkRequest{txn_, kind});
  }
}

void SimClient::Finish() {
  const bool all_ok =
      work_done_.size() == work_.size() &&
      std::all_of(work_done_.begin(), work_done_.end(), [](const auto& e) { return e.second; });
  if (random_->Permille(options_.walk_away_permille)) {
    // Gone without a word: the coordinator's transaction timeout must clean up.
    if (s_.tracer->enabled()) s_.tracer->Line(fmt::format("{} walks away from {}", name_, txn_));
    state_ = State::kIdle;
    next_start_ = now_ + random_->Range(1, options_.think_ticks_max);
    return;
  }
  state_ = State::kFinishing;
  deadline_ = now_ + options_.finish_wait_ticks;
  committing_ = all_ok && !random_->Permille(options_.abort_permille);
  SendFinish();
}

void SimClient::SendFinish() {
  resend_at_ = now_ + options_.finish_resend_ticks;
  if (committing_) {
    s_.transport->Send(name_, coordinator_, protocol::Message{protocol::CommitRequest{txn_}});
  } else {
    s_.transport->Send(name_, coordinator_, protocol::Message{protocol::AbortRequest{txn_}});
  }
}

void SimClient::Told(Outcome outcome) {
  if (s_.tracer->enabled()) {
    s_.tracer->Line(fmt::format("{} told {} {}", name_, txn_, protocol::Name(outcome)));
  }
  if (outcome == Outcome::kUnknown) ++unknown_;
  s_.checker->OnClientTold(name_, txn_, outcome);
  state_ = State::kIdle;
  next_start_ = now_ + random_->Range(1, options_.think_ticks_max);
}

}  // namespace pact::sim
