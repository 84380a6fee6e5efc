#include "coordinator/core/coordinator_core.h"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include "common/check.h"

namespace pact::coordinator {

using protocol::Outcome;
using protocol::Vote;

Status CoordinatorOptions::Validate() const {
  auto bad = [](std::string_view field) {
    return Status::InvalidArgument(fmt::format("coordinator option {} out of range", field));
  };
  if (inflight_txns_max == 0) return bad("inflight_txns_max");
  if (branches_per_txn_max == 0 || branches_per_txn_max > kDecisionBranchesMax) {
    return bad("branches_per_txn_max");
  }
  if (txn_timeout_ticks == 0) return bad("txn_timeout_ticks");
  if (txn_timeout_ticks_max < txn_timeout_ticks) return bad("txn_timeout_ticks_max");
  if (prepare_timeout_ticks == 0) return bad("prepare_timeout_ticks");
  if (prepare_resend_ticks == 0) return bad("prepare_resend_ticks");
  if (commit_resend_ticks_min == 0) return bad("commit_resend_ticks_min");
  if (commit_resend_ticks_max < commit_resend_ticks_min) return bad("commit_resend_ticks_max");
  if (lease_txids_max == 0) return bad("lease_txids_max");
  if (lease_ticks == 0) return bad("lease_ticks");
  return Status::Ok();
}

std::string_view Name(TxnState state) {
  switch (state) {
    case TxnState::kActive:
      return "ACTIVE";
    case TxnState::kPreparing:
      return "PREPARING";
    case TxnState::kDeciding:
      return "DECIDING";
    case TxnState::kCommitting:
      return "COMMITTING";
    case TxnState::kOnePhase:
      return "ONE_PHASE";
  }
  PACT_UNREACHABLE("txn state {}", static_cast<int>(state));
}

CoordinatorCore::CoordinatorCore(const CoordinatorOptions& options, std::string name,
                                 uint64_t epoch, const std::vector<CommitDecision>& unended,
                                 CommittedTxns committed)
    : options_(options), name_(std::move(name)), epoch_(epoch), committed_(std::move(committed)) {
  PACT_CHECK_OK(options_.Validate());
  PACT_CHECK(epoch_ > 0, "epoch 0 is never granted");
  for (const CommitDecision& decision : unended) {
    PACT_CHECK_OK(ValidateDecision(decision));
    PACT_CHECK(decision.txn.epoch < epoch_, "decision {} of epoch >= {} before this leader began",
               decision.txn, epoch_);
    Txn txn{.id = decision.txn, .state = TxnState::kCommitting};
    txn.resend_interval = options_.commit_resend_ticks_min;
    for (const DecidedBranch& b : decision.branches) {
      txn.branches.push_back(
          Branch{.number = b.branch, .participant = b.participant, .vote = Vote::kYes});
    }
    const bool inserted = txns_.emplace(decision.txn, std::move(txn)).second;
    PACT_CHECK(inserted, "decision {} resumed twice", decision.txn);
    committed_.Add(decision.txn);  // the log's committed set has it; callers' sets may not
  }
}

CoordinatorEffects CoordinatorCore::Step(std::string_view from, const protocol::Message& message) {
  // Replies a coordinator sends are never addressed to it; anything else is ignored.
  if (const auto* m = std::get_if<protocol::BeginRequest>(&message)) return OnBegin(from, *m);
  if (const auto* m = std::get_if<protocol::EnlistRequest>(&message)) return OnEnlist(from, *m);
  if (const auto* m = std::get_if<protocol::CommitRequest>(&message)) return OnCommit(from, *m);
  if (const auto* m = std::get_if<protocol::AbortRequest>(&message)) return OnAbort(from, *m);
  if (const auto* m = std::get_if<protocol::OutcomeRequest>(&message)) return OnOutcome(from, *m);
  if (const auto* m = std::get_if<protocol::VoteReply>(&message)) return OnVote(from, *m);
  if (const auto* m = std::get_if<protocol::AckReply>(&message)) return OnAck(*m);
  return Ignore();
}

CoordinatorEffects CoordinatorCore::Ignore() {
  ++stats_.ignored_messages;
  return {};
}

CoordinatorEffects CoordinatorCore::OnBegin(std::string_view from,
                                            const protocol::BeginRequest& m) {
  CoordinatorEffects fx;
  protocol::BeginReply reply{.epoch = epoch_, .request_id = m.request_id};
  const uint32_t lease = std::min(m.lease, options_.lease_txids_max);
  const uint64_t timeout = m.timeout_ticks == 0
                               ? options_.txn_timeout_ticks
                               : std::min(m.timeout_ticks, options_.txn_timeout_ticks_max);
  if (lease > 1 && leased_unused_ + lease > options_.leased_unused_max) {
    ++stats_.overloaded;
    reply.status = protocol::BeginStatus::kOverloaded;
  } else if (lease > 1) {
    const uint64_t first = next_sequence_;
    next_sequence_ += lease;
    leases_.emplace(first, Lease{.end_sequence = next_sequence_,
                                 .expires_tick = now_ticks_ + options_.lease_ticks,
                                 .timeout_ticks = timeout,
                                 .unused = lease,
                                 .used = std::vector<bool>(lease, false)});
    leased_unused_ += lease;
    stats_.leased += lease;
    reply.status = protocol::BeginStatus::kOk;
    reply.txn = TxnId{epoch_, first};
    reply.leased = lease;
    reply.lease_ticks = options_.lease_ticks;
  } else if (txns_.size() >= options_.inflight_txns_max) {
    ++stats_.overloaded;
    reply.status = protocol::BeginStatus::kOverloaded;
  } else {
    const TxnId id{epoch_, next_sequence_++};
    Txn txn{.id = id, .began_tick = now_ticks_, .timeout_ticks = timeout, .state_tick = now_ticks_};
    txns_.emplace(id, std::move(txn));
    ++stats_.begun;
    reply.status = protocol::BeginStatus::kOk;
    reply.txn = id;
  }
  fx.send.push_back({std::string(from), reply, {}});
  return fx;
}

bool CoordinatorCore::Unbegun(const TxnId& id) const {
  if (id.epoch != epoch_ || leases_.empty()) return false;
  auto it = leases_.upper_bound(id.sequence);
  if (it == leases_.begin()) return false;
  --it;
  return id.sequence < it->second.end_sequence && !it->second.used[id.sequence - it->first];
}

CoordinatorCore::Txn* CoordinatorCore::BeginLeased(const TxnId& id) {
  PACT_CHECK(Unbegun(id), "{} is not an unused leased txid", id);
  if (txns_.size() >= options_.inflight_txns_max) {
    ++stats_.overloaded;
    return nullptr;
  }
  auto lease = std::prev(leases_.upper_bound(id.sequence));
  Txn txn{.id = id,
          .began_tick = now_ticks_,
          .timeout_ticks = lease->second.timeout_ticks,
          .state_tick = now_ticks_};
  lease->second.used[id.sequence - lease->first] = true;
  --lease->second.unused;
  --leased_unused_;
  if (lease->second.unused == 0) leases_.erase(lease);  // `lease` dangles from here on
  ++stats_.begun;
  return &txns_.emplace(id, std::move(txn)).first->second;
}

void CoordinatorCore::ExpireLeases() {
  // Unused txids of an expired lease are aborted without a trace: issued, not open and not
  // committed, which EndedOutcome answers ABORTED from now on.
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.expires_tick > now_ticks_) {
      ++it;
      continue;
    }
    stats_.lease_expired += it->second.unused;
    leased_unused_ -= it->second.unused;
    it = leases_.erase(it);
  }
}

CoordinatorEffects CoordinatorCore::OnEnlist(std::string_view from,
                                             const protocol::EnlistRequest& m) {
  CoordinatorEffects fx;
  protocol::EnlistReply reply{.epoch = epoch_, .txn = m.txn};
  auto it = txns_.find(m.txn);
  if (it == txns_.end() && Unbegun(m.txn)) {
    if (BeginLeased(m.txn) == nullptr) {
      reply.status = protocol::EnlistStatus::kOverloaded;
      fx.send.push_back({std::string(from), reply, {}});
      return fx;
    }
    it = txns_.find(m.txn);
  }
  const bool open = it != txns_.end() && it->second.state == TxnState::kActive;
  if (open && !m.participant.empty() && m.participant.size() <= kParticipantNameBytesMax) {
    Txn& txn = it->second;
    auto same = std::find_if(txn.branches.begin(), txn.branches.end(),
                             [&](const Branch& b) { return b.participant == m.participant; });
    if (same != txn.branches.end()) {
      // A repeat from the same incarnation gets the same branch; a newer incarnation lost the
      // work of the branch it enlisted, which must not be silently replaced by new work.
      if (same->incarnation == m.incarnation) {
        reply.status = protocol::EnlistStatus::kEnlisted;
        reply.branch = same->number;
      }
    } else if (txn.branches.size() >= options_.branches_per_txn_max) {
      reply.status = protocol::EnlistStatus::kOverloaded;
    } else {
      const uint32_t number = static_cast<uint32_t>(txn.branches.size()) + 1;
      txn.branches.push_back(
          Branch{.number = number, .participant = m.participant, .incarnation = m.incarnation});
      reply.status = protocol::EnlistStatus::kEnlisted;
      reply.branch = number;
    }
  }
  fx.send.push_back({std::string(from), reply, {}});
  return fx;
}

CoordinatorEffects CoordinatorCore::OnCommit(std::string_view from,
                                             const protocol::CommitRequest& m) {
  CoordinatorEffects fx;
  auto it = txns_.find(m.txn);
  if (it == txns_.end() && Unbegun(m.txn) && BeginLeased(m.txn) != nullptr) {
    it = txns_.find(m.txn);  // begun and committed at once, with no branch
  }
  if (it == txns_.end()) {
    // Not open: answer only what we know for certain. A COMMIT was chosen before the
    // transaction ended: nothing to wait for (and the log no longer reports it chosen once END
    // is recorded, so a gate would never open).
    const Outcome outcome = EndedOutcome(m.txn).value_or(Outcome::kUnknown);
    fx.send.push_back({std::string(from), protocol::CommitReply{epoch_, m.txn, outcome}, {}});
    return fx;
  }
  Txn& txn = it->second;
  if (txn.state == TxnState::kCommitting) {
    fx.send.push_back(
        {std::string(from), protocol::CommitReply{epoch_, m.txn, Outcome::kCommitted}, m.txn});
    return fx;
  }
  if (std::find(txn.waiters.begin(), txn.waiters.end(), from) == txn.waiters.end()) {
    txn.waiters.emplace_back(from);
  }
  if (txn.state == TxnState::kActive) StartCommit(txn, fx);
  return fx;
}

CoordinatorEffects CoordinatorCore::OnAbort(std::string_view from,
                                            const protocol::AbortRequest& m) {
  CoordinatorEffects fx;
  auto it = txns_.find(m.txn);
  Outcome outcome = Outcome::kUnknown;
  TxnId needs;
  if (it == txns_.end() && Unbegun(m.txn) && BeginLeased(m.txn) != nullptr) {
    it = txns_.find(m.txn);
  }
  if (it == txns_.end()) {
    outcome = EndedOutcome(m.txn).value_or(Outcome::kUnknown);  // chosen before it ended: no gate
  } else if (it->second.state == TxnState::kActive || it->second.state == TxnState::kPreparing) {
    AbortTxn(it->second, fx);  // erases it
    outcome = Outcome::kAborted;
  } else if (it->second.state == TxnState::kCommitting) {
    outcome = Outcome::kCommitted;
    needs = m.txn;
  }  // kDeciding, kOnePhase: too late to abort, too early to know.
  fx.send.push_back({std::string(from), protocol::AbortReply{epoch_, m.txn, outcome}, needs});
  return fx;
}

CoordinatorEffects CoordinatorCore::OnOutcome(std::string_view from,
                                              const protocol::OutcomeRequest& m) {
  CoordinatorEffects fx;
  Outcome outcome = Outcome::kUnknown;
  TxnId needs;
  auto it = txns_.find(m.txn);
  if (it != txns_.end()) {
    if (it->second.state == TxnState::kCommitting) {
      outcome = Outcome::kCommitted;
      needs = m.txn;
    }
  } else if (const std::optional<Outcome> ended = EndedOutcome(m.txn)) {
    outcome = *ended;  // chosen before it ended: no gate
  } else if (m.txn.epoch < epoch_ ||
             (m.txn.epoch == epoch_ && m.txn.sequence < next_sequence_ && !Unbegun(m.txn))) {
    // Presumed abort. An older epoch is closed: its leader can choose nothing any more, and
    // every COMMIT it chose is in txns_ until END. Of our own epoch, a transaction that is not
    // open either aborted or ended - and after END no branch is in doubt, so no one asks.
    // A sequence not issued yet is neither: it may still begin and commit, so it is UNKNOWN.
    outcome = Outcome::kAborted;
  }
  fx.send.push_back({std::string(from), protocol::OutcomeReply{epoch_, m.txn, outcome}, needs});
  return fx;
}

CoordinatorEffects CoordinatorCore::OnVote(std::string_view from, const protocol::VoteReply& m) {
  auto it = txns_.find(m.branch.txn);
  if (it == txns_.end()) {
    if (m.vote == Vote::kYes && EndedOutcome(m.branch.txn) == Outcome::kAborted) {
      // A YES that arrived after we aborted: tell the branch at once instead of leaving it in
      // doubt until it asks.
      CoordinatorEffects fx;
      fx.send.push_back({std::string(from), protocol::BranchAbortRequest{epoch_, m.branch}, {}});
      return fx;
    }
    return Ignore();
  }
  Txn& txn = it->second;
  Branch* branch = FindBranch(txn, m.branch.branch);
  if (txn.state != TxnState::kPreparing || branch == nullptr || branch->vote.has_value()) {
    return Ignore();
  }
  branch->vote = m.vote;
  CoordinatorEffects fx;
  if (m.vote == Vote::kNo) {
    AbortTxn(txn, fx);
  } else if (AllVoted(txn)) {
    Decide(txn, fx);
  }
  return fx;
}

CoordinatorEffects CoordinatorCore::OnAck(const protocol::AckReply& m) {
  auto it = txns_.find(m.branch.txn);
  if (it == txns_.end()) return Ignore();
  Txn& txn = it->second;
  Branch* branch = FindBranch(txn, m.branch.branch);
  if (branch == nullptr || branch->acknowledged ||
      (txn.state != TxnState::kCommitting && txn.state != TxnState::kOnePhase)) {
    return Ignore();
  }
  CoordinatorEffects fx;
  if (txn.state == TxnState::kOnePhase) {
    // The single branch decided: its answer is the transaction's outcome.
    if (m.outcome != Outcome::kCommitted && m.outcome != Outcome::kAborted) return Ignore();
    ReplyToWaiters(txn, m.outcome, fx);
    if (m.outcome == Outcome::kCommitted) {
      ++stats_.committed_one_phase;
    } else {
      ++stats_.aborted;
    }
    Finish(txn.id, m.outcome);
    return fx;
  }
  if (m.outcome != Outcome::kCommitted) {
    // The branch contradicts a chosen COMMIT. Nothing we do can repair that; keep driving
    // COMMIT (it may be a confused duplicate) and let the operator see it in the stats.
    ++stats_.contradicting_acks;
    return fx;
  }
  branch->acknowledged = true;
  const bool all = std::all_of(txn.branches.begin(), txn.branches.end(), [](const Branch& b) {
    return b.vote != Vote::kYes || b.acknowledged;
  });
  if (all) {
    fx.record_end.push_back(txn.id);
    ++stats_.committed;
    Finish(txn.id, Outcome::kCommitted);
  }
  return fx;
}

CoordinatorEffects CoordinatorCore::OnChosen(const TxnId& id) {
  auto it = txns_.find(id);
  if (it == txns_.end() || it->second.state != TxnState::kDeciding) return Ignore();
  Txn& txn = it->second;
  CoordinatorEffects fx;
  SetState(txn, TxnState::kCommitting);
  txn.resend_interval = options_.commit_resend_ticks_min;
  txn.resend_tick = now_ticks_ + txn.resend_interval;
  ReplyToWaiters(txn, Outcome::kCommitted, fx);
  txn.waiters.clear();
  SendCommits(txn, fx);
  return fx;
}

CoordinatorEffects CoordinatorCore::Tick() {
  ++now_ticks_;
  ExpireLeases();
  CoordinatorEffects fx;
  std::vector<TxnId> ids;
  ids.reserve(txns_.size());
  for (const auto& [id, txn] : txns_) ids.push_back(id);
  for (const TxnId& id : ids) {
    auto it = txns_.find(id);
    if (it != txns_.end()) TickTxn(it->second, fx);
  }
  return fx;
}

void CoordinatorCore::TickTxn(Txn& txn, CoordinatorEffects& fx) {
  switch (txn.state) {
    case TxnState::kActive:
      if (now_ticks_ - txn.began_tick >= txn.timeout_ticks) AbortTxn(txn, fx);
      return;
    case TxnState::kPreparing:
      if (now_ticks_ - txn.state_tick >= options_.prepare_timeout_ticks) {
        AbortTxn(txn, fx);
      } else if (now_ticks_ >= txn.resend_tick) {
        SendPrepares(txn, fx);
        txn.resend_tick = now_ticks_ + options_.prepare_resend_ticks;
      }
      return;
    case TxnState::kDeciding:
      return;  // the decision log decides when; a proposed COMMIT must never be abandoned
    case TxnState::kCommitting:
    case TxnState::kOnePhase:
      if (now_ticks_ >= txn.resend_tick) {
        SendCommits(txn, fx);
        txn.resend_interval = std::min(txn.resend_interval * 2, options_.commit_resend_ticks_max);
        txn.resend_tick = now_ticks_ + txn.resend_interval;
      }
      return;
  }
}

void CoordinatorCore::StartCommit(Txn& txn, CoordinatorEffects& fx) {
  PACT_CHECK(txn.state == TxnState::kActive);
  if (txn.branches.empty()) {
    // Nothing enlisted, nothing to make durable.
    ReplyToWaiters(txn, Outcome::kCommitted, fx);
    ++stats_.committed_read_only;
    Finish(txn.id, Outcome::kCommitted);
  } else if (txn.branches.size() == 1) {
    StartOnePhase(txn, fx);
  } else {
    StartPrepare(txn, fx);
  }
}

void CoordinatorCore::StartPrepare(Txn& txn, CoordinatorEffects& fx) {
  SetState(txn, TxnState::kPreparing);
  SendPrepares(txn, fx);
  txn.resend_tick = now_ticks_ + options_.prepare_resend_ticks;
}

void CoordinatorCore::StartOnePhase(Txn& txn, CoordinatorEffects& fx) {
  SetState(txn, TxnState::kOnePhase);
  txn.resend_interval = options_.commit_resend_ticks_min;
  txn.resend_tick = now_ticks_ + txn.resend_interval;
  SendCommits(txn, fx);
}

void CoordinatorCore::Decide(Txn& txn, CoordinatorEffects& fx) {
  CommitDecision decision{.txn = txn.id};
  for (const Branch& b : txn.branches) {
    if (b.vote == Vote::kYes) decision.branches.push_back({b.number, b.participant});
  }
  if (decision.branches.empty()) {
    // Every branch READ_ONLY: all of them are finished and none is in doubt.
    ReplyToWaiters(txn, Outcome::kCommitted, fx);
    ++stats_.committed_read_only;
    Finish(txn.id, Outcome::kCommitted);
    return;
  }
  SetState(txn, TxnState::kDeciding);
  fx.propose.push_back(std::move(decision));
}

void CoordinatorCore::AbortTxn(Txn& txn, CoordinatorEffects& fx) {
  PACT_CHECK(txn.state == TxnState::kActive || txn.state == TxnState::kPreparing,
             "abort of {} in {}", txn.id, Name(txn.state));
  // Presumed abort: nothing is recorded; ABORT goes out once, best-effort. A branch that
  // misses it asks for the outcome and hears ABORTED.
  for (const Branch& b : txn.branches) {
    if (b.vote == Vote::kNo || b.vote == Vote::kReadOnly) continue;
    fx.send.push_back(
        {b.participant, protocol::BranchAbortRequest{epoch_, BranchId{txn.id, b.number}}, {}});
  }
  ReplyToWaiters(txn, Outcome::kAborted, fx);
  ++stats_.aborted;
  Finish(txn.id, Outcome::kAborted);
}

void CoordinatorCore::SendPrepares(const Txn& txn, CoordinatorEffects& fx) const {
  for (const Branch& b : txn.branches) {
    if (b.vote.has_value()) continue;
    fx.send.push_back(
        {b.participant, protocol::PrepareRequest{epoch_, BranchId{txn.id, b.number}}, {}});
  }
}

void CoordinatorCore::SendCommits(const Txn& txn, CoordinatorEffects& fx) const {
  const bool one_phase = txn.state == TxnState::kOnePhase;
  PACT_CHECK(one_phase || txn.state == TxnState::kCommitting);
  for (const Branch& b : txn.branches) {
    if (b.acknowledged || (!one_phase && b.vote != Vote::kYes)) continue;
    fx.send.push_back({b.participant,
                       protocol::BranchCommitRequest{epoch_, BranchId{txn.id, b.number}, one_phase},
                       one_phase ? TxnId{} : txn.id});
  }
}

void CoordinatorCore::ReplyToWaiters(const Txn& txn, Outcome outcome,
                                     CoordinatorEffects& fx) const {
  const bool chosen = outcome == Outcome::kCommitted && txn.state == TxnState::kCommitting;
  for (const std::string& waiter : txn.waiters) {
    fx.send.push_back(
        {waiter, protocol::CommitReply{epoch_, txn.id, outcome}, chosen ? txn.id : TxnId{}});
  }
}

void CoordinatorCore::Finish(TxnId id, Outcome outcome) {
  PACT_CHECK(outcome == Outcome::kCommitted || outcome == Outcome::kAborted);
  const size_t erased = txns_.erase(id);
  PACT_CHECK(erased == 1, "finish of {} which is not open", id);
  // An abort needs no record: a transaction of this epoch that was issued, is not open and is
  // not committed, aborted.
  if (outcome == Outcome::kCommitted) committed_.Add(id);
}

void CoordinatorCore::SetState(Txn& txn, TxnState state) {
  txn.state = state;
  txn.state_tick = now_ticks_;
}

std::optional<Outcome> CoordinatorCore::EndedOutcome(const TxnId& id) const {
  if (txns_.contains(id) || Unbegun(id)) return std::nullopt;
  if (committed_.Contains(id)) return Outcome::kCommitted;
  if (id.epoch == epoch_ && id.sequence != 0 && id.sequence < next_sequence_) {
    return Outcome::kAborted;
  }
  return std::nullopt;
}

bool CoordinatorCore::AllVoted(const Txn& txn) const {
  return std::all_of(txn.branches.begin(), txn.branches.end(),
                     [](const Branch& b) { return b.vote.has_value(); });
}

CoordinatorCore::Branch* CoordinatorCore::FindBranch(Txn& txn, uint32_t number) {
  for (Branch& b : txn.branches) {
    if (b.number == number) return &b;
  }
  return nullptr;
}

std::optional<TxnView> CoordinatorCore::View(const TxnId& id) const {
  auto it = txns_.find(id);
  if (it == txns_.end()) return std::nullopt;
  const Txn& txn = it->second;
  TxnView view{
      .txn = id, .state = txn.state, .branches = static_cast<uint32_t>(txn.branches.size())};
  for (const Branch& b : txn.branches) view.acknowledged += b.acknowledged ? 1 : 0;
  return view;
}

std::vector<TxnView> CoordinatorCore::OpenTxns() const {
  std::vector<TxnView> views;
  for (const auto& [id, txn] : txns_) views.push_back(*View(id));
  return views;
}

void CoordinatorCore::CheckInvariants() const {
  uint64_t unused = 0;
  uint64_t previous_end = 1;
  for (const auto& [first, lease] : leases_) {
    PACT_CHECK(
        first >= previous_end && first < lease.end_sequence && lease.end_sequence <= next_sequence_,
        "lease [{}, {}) overlaps or is not issued", first, lease.end_sequence);
    PACT_CHECK(lease.used.size() == lease.end_sequence - first);
    PACT_CHECK(lease.unused > 0 &&
               lease.unused ==
                   static_cast<uint64_t>(std::count(lease.used.begin(), lease.used.end(), false)));
    unused += lease.unused;
    previous_end = lease.end_sequence;
  }
  PACT_CHECK(unused == leased_unused_ && unused <= options_.leased_unused_max);
  for (const auto& [id, txn] : txns_) {
    PACT_CHECK(id == txn.id && id.valid(), "txn key {} holds {}", id, txn.id);
    PACT_CHECK(!Unbegun(id), "{} open but its leased txid unused", id);
    // Only a COMMIT resumed from the log is both open and committed.
    PACT_CHECK(
        !committed_.Contains(id) || (id.epoch < epoch_ && txn.state == TxnState::kCommitting),
        "{} both open and committed", id);
    PACT_CHECK(txn.began_tick <= txn.state_tick && txn.state_tick <= now_ticks_);
    PACT_CHECK(txn.state != TxnState::kActive ||
                   (txn.timeout_ticks > 0 && txn.timeout_ticks <= options_.txn_timeout_ticks_max),
               "{} active with timeout {}", id, txn.timeout_ticks);
    // A leader decides only its own epoch; older epochs survive only as chosen COMMITs.
    if (id.epoch == epoch_) {
      PACT_CHECK(id.sequence < next_sequence_, "{} not issued yet", id);
    } else {
      PACT_CHECK(id.epoch < epoch_ && txn.state == TxnState::kCommitting,
                 "{} of another epoch in {}", id, Name(txn.state));
    }
    PACT_CHECK(txn.branches.size() <=
               std::max<size_t>(options_.branches_per_txn_max, kDecisionBranchesMax));
    uint32_t previous = 0;
    size_t yes = 0;
    for (const Branch& b : txn.branches) {
      PACT_CHECK(b.number > previous && !b.participant.empty(), "{} branch order", id);
      previous = b.number;
      if (b.vote == Vote::kYes) ++yes;
      PACT_CHECK(!b.acknowledged || txn.state == TxnState::kCommitting, "{} acknowledged in {}", id,
                 Name(txn.state));
      PACT_CHECK(!b.vote.has_value() || txn.state != TxnState::kActive, "{} vote while active", id);
      PACT_CHECK(b.vote != Vote::kNo, "{} still open after a NO vote", id);
    }
    switch (txn.state) {
      case TxnState::kActive:
        PACT_CHECK(txn.waiters.empty(), "{} has waiters before commit", id);
        break;
      case TxnState::kPreparing:
        PACT_CHECK(txn.branches.size() >= 2 && !AllVoted(txn), "{} preparing", id);
        break;
      case TxnState::kDeciding:
        PACT_CHECK(AllVoted(txn) && yes >= 1, "{} deciding without YES", id);
        break;
      case TxnState::kCommitting:
        PACT_CHECK(yes >= 1 && txn.waiters.empty(), "{} committing", id);
        PACT_CHECK(txn.resend_interval >= options_.commit_resend_ticks_min &&
                   txn.resend_interval <= options_.commit_resend_ticks_max);
        break;
      case TxnState::kOnePhase:
        PACT_CHECK(txn.branches.size() == 1 && !txn.branches[0].vote.has_value(), "{} one-phase",
                   id);
        break;
    }
  }
}

}  // namespace pact::coordinator
