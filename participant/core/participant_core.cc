#include "participant/core/participant_core.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <variant>

#include "common/check.h"

namespace pact::participant {

using protocol::Outcome;
using protocol::Vote;
using recovery::Action;
using recovery::Decision;
using recovery::LogState;
using recovery::Reachability;
using recovery::StoreState;
using Kind = ParticipantRecord::Kind;

namespace {
// Callers kept waiting on one branch's store operation; more are left to time out and ask again
// (a coordinator resending every few ticks to a slow store must not grow the list without end).
constexpr size_t kWaitersMax = 16;
}  // namespace

Status ParticipantOptions::Validate() const {
  auto bad = [](std::string_view field) {
    return Status::InvalidArgument(fmt::format("participant option {} out of range", field));
  };
  if (name.empty()) return bad("name");
  if (coordinator.empty()) return bad("coordinator");
  if (enlist_resend_ticks == 0) return bad("enlist_resend_ticks");
  if (enlist_attempts_max == 0) return bad("enlist_attempts_max");
  if (inquiry_ticks_min == 0) return bad("inquiry_ticks_min");
  if (inquiry_ticks_max < inquiry_ticks_min) return bad("inquiry_ticks_max");
  if (active_idle_ticks == 0) return bad("active_idle_ticks");
  if (coordinator_silence_ticks == 0) return bad("coordinator_silence_ticks");
  if (finished_retention_ticks == 0) return bad("finished_retention_ticks");
  return Status::Ok();
}

std::string_view Name(BranchState state) {
  switch (state) {
    case BranchState::kEnlisting:
      return "ENLISTING";
    case BranchState::kActive:
      return "ACTIVE";
    case BranchState::kPreparing:
      return "PREPARING";
    case BranchState::kPrepared:
      return "PREPARED";
    case BranchState::kCommitting:
      return "COMMITTING";
    case BranchState::kAborting:
      return "ABORTING";
    case BranchState::kCommitted:
      return "COMMITTED";
    case BranchState::kAborted:
      return "ABORTED";
    case BranchState::kReadOnly:
      return "READ_ONLY";
  }
  PACT_UNREACHABLE("branch state {}", static_cast<int>(state));
}

std::string_view Name(StoreOp op) {
  switch (op) {
    case StoreOp::kPrepare:
      return "Prepare";
    case StoreOp::kCommitPrepared:
      return "CommitPrepared";
    case StoreOp::kRollback:
      return "Rollback";
  }
  PACT_UNREACHABLE("store op {}", static_cast<int>(op));
}

RecordKey RecordKey::Of(const ParticipantRecord& record) {
  if (record.kind == Kind::kIncarnation) {
    return RecordKey{.kind = Kind::kIncarnation, .incarnation = record.incarnation};
  }
  return RecordKey{.kind = record.kind, .branch = record.branch};
}

ParticipantCore::ParticipantCore(const ParticipantOptions& options) : options_(options) {
  PACT_CHECK_OK(options_.Validate());
}

// ---- Recovery --------------------------------------------------------------------------------

Result<ParticipantEffects> ParticipantCore::Recover(const std::vector<ParticipantRecord>& records,
                                                    const std::vector<BranchId>& store_prepared) {
  PACT_CHECK(!recovered_, "Recover called twice");
  recovered_ = true;
  for (const ParticipantRecord& r : records) {
    auto corrupt = [&](std::string_view what) {
      return Status::Corruption(fmt::format("participant log: {} at {}", what, ToString(r)));
    };
    if (r.kind == Kind::kIncarnation) {
      if (r.incarnation <= incarnation_) return corrupt("incarnation does not increase");
      incarnation_ = r.incarnation;
      continue;
    }
    fence_ = std::max(fence_, r.epoch);
    auto [it, inserted] = branches_.try_emplace(r.branch.txn);
    Branch& b = it->second;
    if (inserted) {
      b.txn = r.branch.txn;
      b.number = r.branch.branch;
    } else if (b.number != r.branch.branch) {
      return corrupt("second branch of one transaction");
    }
    if (b.committed_record || (b.aborted_record && r.kind != Kind::kAborted)) {
      return corrupt("record after the branch ended");
    }
    switch (r.kind) {
      case Kind::kPrepared:
        if (b.prepared_record) return corrupt("second PREPARED");
        b.prepared_record = true;
        b.one_phase = r.one_phase;
        b.state = BranchState::kPrepared;
        break;
      case Kind::kCommitted:
        b.committed_record = true;
        b.state = BranchState::kCommitted;
        break;
      case Kind::kAborted:
        b.aborted_record = true;
        b.state = BranchState::kAborted;
        break;
      case Kind::kIncarnation:
        PACT_UNREACHABLE("handled above");
    }
  }
  ParticipantEffects fx;
  ++incarnation_;
  fx.persist.push_back(ParticipantRecord::Incarnation(incarnation_));
  last_heard_tick_ = now_ticks_;  // optimistic: ask at once, learn otherwise

  const std::set<BranchId> in_store(store_prepared.begin(), store_prepared.end());
  for (auto& [txn, b] : branches_) {
    if (b.committed_record || b.aborted_record) WatchForEnd(b);
    // A branch the log knows: its own records (a one-phase PREPARED carries the decision)
    // and what the store holds select the row.
    const Decision decision = b.one_phase && b.state == BranchState::kPrepared
                                  ? Decision::kCommitted
                                  : Decision::kNotKnown;
    const StoreState store =
        in_store.contains(IdOf(b)) ? StoreState::kPrepared : StoreState::kNothing;
    ApplyDecision(b, decision, store, "", fx);
  }
  for (const BranchId& id : in_store) {
    if (FindBranch(id) != nullptr) continue;
    if (Find(id.txn) != nullptr) {
      return Status::Corruption(fmt::format("store holds {} but the log names another branch", id));
    }
    // Prepared in the store, never logged: the participant never voted (the store's Prepare
    // comes before the PREPARED record).
    Branch& b = branches_[id.txn];
    b.txn = id.txn;
    b.number = id.branch;
    b.state = BranchState::kAborting;
    const recovery::Case when{Decision::kNotKnown, LogState::kNone, StoreState::kPrepared,
                              Reachability::kCoordinatorReachable};
    if (recovery::Decide(when) == Action::kRollbackInStore) {
      RequestStore(b, BranchState::kAborting, StoreOp::kRollback, fx);
    } else {
      Report(b, when, "store-only prepared branch", fx);
    }
  }
  return fx;
}

// ---- Local application -----------------------------------------------------------------------

ParticipantEffects ParticipantCore::StartWork(const TxnId& txn) {
  PACT_CHECK(recovered_);
  PACT_CHECK(txn.valid());
  ParticipantEffects fx;
  if (Branch* b = Find(txn)) {
    if (b->state == BranchState::kActive) {
      fx.events.push_back({ParticipantEvent::Kind::kEnlisted, txn, IdOf(*b), ""});
    } else if (b->state != BranchState::kEnlisting) {
      fx.events.push_back({ParticipantEvent::Kind::kWorkRefused, txn, {}, Name(b->state).data()});
    }
    return fx;
  }
  Branch& b = branches_[txn];
  b.txn = txn;
  b.state = BranchState::kEnlisting;
  b.enlist_attempts = 1;
  ScheduleTick(b, now_ticks_ + options_.enlist_resend_ticks);
  fx.send.push_back({options_.coordinator,
                     protocol::EnlistRequest{fence_, txn, options_.name, incarnation_},
                     RecordKey{.kind = Kind::kIncarnation, .incarnation = incarnation_}});
  return fx;
}

// ---- Protocol messages -----------------------------------------------------------------------

ParticipantEffects ParticipantCore::Step(std::string_view from, const protocol::Message& message) {
  PACT_CHECK(recovered_);
  const uint64_t fence_before = fence_;
  ParticipantEffects fx = Dispatch(from, message);
  if (fence_ > fence_before) AbortActiveOfClosedEpochs(fx);
  return fx;
}

ParticipantEffects ParticipantCore::Dispatch(std::string_view from,
                                             const protocol::Message& message) {
  if (const auto* m = std::get_if<protocol::EnlistReply>(&message)) return OnEnlistReply(*m);
  if (const auto* m = std::get_if<protocol::PrepareRequest>(&message)) return OnPrepare(from, *m);
  if (const auto* m = std::get_if<protocol::BranchCommitRequest>(&message))
    return OnCommit(from, *m);
  if (const auto* m = std::get_if<protocol::BranchAbortRequest>(&message)) return OnAbort(from, *m);
  if (const auto* m = std::get_if<protocol::OutcomeReply>(&message)) return OnOutcome(*m);
  ++stats_.ignored_messages;
  return {};
}

void ParticipantCore::AbortActiveOfClosedEpochs(ParticipantEffects& fx) {
  // A newer leader exists, so every older epoch is closed: its transactions can only end in
  // abort unless their COMMIT was chosen (DESIGN §2), and no COMMIT can include a branch that
  // has not voted. Abort such branches now instead of after active_idle_ticks, which releases
  // their locks in the store at once (an abandoned branch of a crashed leader otherwise blocks
  // every later transaction on the same rows until it asks).
  for (auto& [txn, b] : branches_) {
    if (b.state != BranchState::kActive || txn.epoch >= fence_) continue;
    ApplyDecision(b, Decision::kAborted, StoreStateOf(b), "", fx);
  }
}

ParticipantEffects ParticipantCore::OnEnlistReply(const protocol::EnlistReply& m) {
  ParticipantEffects fx;
  if (!Admit(m.epoch)) return fx;
  Branch* b = Find(m.txn);
  if (b == nullptr || b->state != BranchState::kEnlisting) {
    ++stats_.ignored_messages;
    return fx;
  }
  if (m.status == protocol::EnlistStatus::kEnlisted && m.branch != 0) {
    b->number = m.branch;
    b->state = BranchState::kActive;
    ScheduleTick(*b, now_ticks_ + options_.active_idle_ticks);
    b->interval = options_.inquiry_ticks_min;
    ++stats_.enlisted;
    fx.events.push_back({ParticipantEvent::Kind::kEnlisted, m.txn, IdOf(*b), ""});
  } else {
    fx.events.push_back(
        {ParticipantEvent::Kind::kWorkRefused, m.txn, {}, std::string(Name(m.status))});
    branches_.erase(m.txn);
  }
  return fx;
}

ParticipantEffects ParticipantCore::OnPrepare(std::string_view from,
                                              const protocol::PrepareRequest& m) {
  ParticipantEffects fx;
  if (!Admit(m.epoch)) return fx;
  Branch* b = Find(m.branch.txn);
  if (b == nullptr || b->state == BranchState::kEnlisting) {
    // No work here for this branch (lost in a crash, or enlistment never completed): NO, and
    // a tombstone so that the branch can never be prepared later.
    SendVote(Tombstone(m.branch, fx), std::string(from), Vote::kNo, fx);
    return fx;
  }
  if (b->number != m.branch.branch) {
    ++stats_.ignored_messages;
    return fx;
  }
  switch (b->state) {
    case BranchState::kActive:
      Await(*b, from);
      b->vote_pending = true;
      RequestStore(*b, BranchState::kPreparing, StoreOp::kPrepare, fx);
      break;
    case BranchState::kPrepared:
    case BranchState::kCommitting:
    case BranchState::kCommitted:
      if (b->prepared_record) SendVote(*b, std::string(from), Vote::kYes, fx);
      break;
    case BranchState::kAborting:
    case BranchState::kAborted:
      SendVote(*b, std::string(from), Vote::kNo, fx);
      break;
    case BranchState::kReadOnly:
      SendVote(*b, std::string(from), Vote::kReadOnly, fx);
      break;
    case BranchState::kPreparing:
      // A repeat while the store prepares: it hears the same vote, when the store answers. (A
      // one-phase commit in progress owes no vote.)
      if (b->vote_pending) Await(*b, from);
      break;
    case BranchState::kEnlisting:
      break;
  }
  return fx;
}

ParticipantEffects ParticipantCore::OnCommit(std::string_view from,
                                             const protocol::BranchCommitRequest& m) {
  ParticipantEffects fx;
  if (!Admit(m.epoch)) return fx;
  Branch* b = Find(m.branch.txn);
  if (b != nullptr && b->number != m.branch.branch && b->state != BranchState::kEnlisting) {
    // Another branch of this transaction is ours; this one was never here.
    ++stats_.ignored_messages;
    fx.send.push_back(
        {std::string(from), protocol::AckReply{fence_, m.branch, Outcome::kUnknown}, std::nullopt});
    return fx;
  }
  if (m.one_phase) {
    if (b == nullptr || b->state == BranchState::kEnlisting) {
      // Nothing to commit (the work is gone): the one-phase transaction aborts.
      SendAck(Tombstone(m.branch, fx), std::string(from), fx);
      return fx;
    }
    return OnOnePhaseCommit(from, *b);
  }
  if (b == nullptr) {
    const recovery::Case when{Decision::kCommitted, LogState::kNone, StoreState::kNothing,
                              Reachability::kCoordinatorReachable};
    Branch unknown{.txn = m.branch.txn, .number = m.branch.branch};
    Report(unknown, when, "COMMIT for a branch this participant does not know", fx);
    // Say so rather than stay silent (the caller would wait for nothing): the log does not
    // show the branch committed, and nothing changes here.
    fx.send.push_back(
        {std::string(from), protocol::AckReply{fence_, m.branch, Outcome::kUnknown}, std::nullopt});
    return fx;
  }
  if (b->state == BranchState::kCommitting) {
    Await(*b, from);  // the ack follows the store's answer
    return fx;
  }
  if (b->state == BranchState::kPreparing || b->state == BranchState::kAborting) {
    // No vote YES was given (preparing), or the decision was ABORT (aborting).
    Report(*b,
           {Decision::kCommitted, LogStateOf(*b), StoreState::kNothing,
            Reachability::kCoordinatorReachable},
           "COMMIT while the store is busy", fx);
    return fx;
  }
  ApplyDecision(*b, Decision::kCommitted, StoreStateOf(*b), std::string(from), fx);
  return fx;
}

ParticipantEffects ParticipantCore::OnOnePhaseCommit(std::string_view from, Branch& b) {
  ParticipantEffects fx;
  switch (b.state) {
    case BranchState::kActive:
      b.one_phase = true;
      Await(b, from);
      RequestStore(b, BranchState::kPreparing, StoreOp::kPrepare, fx);
      break;
    case BranchState::kPrepared:
      // Prepared with the one-phase request before a restart: the decision is COMMIT.
      b.one_phase = true;
      ApplyDecision(b, Decision::kCommitted, StoreStateOf(b), std::string(from), fx);
      break;
    case BranchState::kCommitted:
    case BranchState::kAborted:
      SendAck(b, std::string(from), fx);
      break;
    case BranchState::kPreparing:
    case BranchState::kCommitting:
    case BranchState::kAborting:
      if (!b.vote_pending) Await(b, from);  // the ack follows the store
      break;
    case BranchState::kReadOnly:
    case BranchState::kEnlisting:
      ++stats_.ignored_messages;
      break;
  }
  return fx;
}

ParticipantEffects ParticipantCore::OnAbort(std::string_view from,
                                            const protocol::BranchAbortRequest& m) {
  ParticipantEffects fx;
  if (!Admit(m.epoch)) return fx;
  Branch* b = Find(m.branch.txn);
  if (b == nullptr || b->state == BranchState::kEnlisting) {
    SendAck(Tombstone(m.branch, fx), std::string(from), fx);
    return fx;
  }
  if (b->number != m.branch.branch) {
    ++stats_.ignored_messages;
    return fx;
  }
  switch (b->state) {
    case BranchState::kPreparing:
      // The tombstone goes first; when the store answers, a prepared branch is rolled back
      // and the vote is NO.
      if (!b->aborted_record) {
        Persist(*b, ParticipantRecord::Aborted(IdOf(*b), fence_), fx);
        ++stats_.tombstones;
      }
      SendAck(*b, std::string(from), fx);
      return fx;
    case BranchState::kAborting:
      Await(*b, from);  // the ack follows the store's answer
      return fx;
    case BranchState::kCommitting:
      Report(*b,
             {Decision::kAborted, LogStateOf(*b), StoreState::kNothing,
              Reachability::kCoordinatorReachable},
             "ABORT while committing", fx);
      return fx;
    case BranchState::kReadOnly:
      SendAck(*b, std::string(from), fx);
      return fx;
    default:
      ApplyDecision(*b, Decision::kAborted, StoreStateOf(*b), std::string(from), fx);
      return fx;
  }
}

ParticipantEffects ParticipantCore::OnOutcome(const protocol::OutcomeReply& m) {
  ParticipantEffects fx;
  if (!Admit(m.epoch)) return fx;
  Branch* b = Find(m.txn);
  // Only a branch that asked listens: a finished branch ignores late answers to old questions.
  if (b == nullptr || (b->state != BranchState::kPrepared && b->state != BranchState::kActive)) {
    ++stats_.ignored_messages;
    return fx;
  }
  Decision decision = Decision::kNotKnown;
  if (m.outcome == Outcome::kCommitted) decision = Decision::kCommitted;
  if (m.outcome == Outcome::kAborted) decision = Decision::kAborted;
  if (decision == Decision::kNotKnown) return fx;  // UNKNOWN-YET: the next inquiry is scheduled
  ApplyDecision(*b, decision, StoreStateOf(*b), "", fx);
  return fx;
}

// ---- Store results ---------------------------------------------------------------------------

ParticipantEffects ParticipantCore::OnStoreResult(const StoreResult& r) {
  Branch* b = FindBranch(r.branch);
  PACT_CHECK(b != nullptr, "store result {} for unknown branch {}", Name(r.op), r.branch);
  ParticipantEffects fx;
  switch (r.op) {
    case StoreOp::kPrepare:
      OnPrepareResult(*b, r, fx);
      break;
    case StoreOp::kCommitPrepared:
      OnCommitResult(*b, r, fx);
      break;
    case StoreOp::kRollback:
      OnRollbackResult(*b, r, fx);
      break;
  }
  return fx;
}

void ParticipantCore::OnPrepareResult(Branch& b, const StoreResult& r, ParticipantEffects& fx) {
  PACT_CHECK(b.state == BranchState::kPreparing, "Prepare result for {} in {}", IdOf(b),
             Name(b.state));
  const bool prepared = r.status.ok() && r.prepared == PrepareResult::kPrepared;
  const bool read_only = r.status.ok() && r.prepared == PrepareResult::kReadOnly;
  if (b.aborted_record) {
    // ABORT overtook the prepare: the tombstone stands; undo what the store prepared.
    if (b.vote_pending) {
      AnswerVote(b, Vote::kNo, fx);
    } else if (b.one_phase) {
      AnswerAck(b, fx);
    }
    b.vote_pending = false;
    b.reply_to.clear();
    if (prepared) {
      RequestStore(b, BranchState::kAborting, StoreOp::kRollback, fx);
    } else {
      b.state = BranchState::kAborted;
      if (!r.status.ok()) CleanUpStore(b, fx);
    }
    return;
  }
  if (prepared) {
    Persist(b, ParticipantRecord::Prepared(IdOf(b), fence_, b.one_phase), fx);
    if (b.one_phase) {
      RequestStore(b, BranchState::kCommitting, StoreOp::kCommitPrepared, fx);
      return;
    }
    b.state = BranchState::kPrepared;
    b.interval = options_.inquiry_ticks_min;
    ScheduleTick(b, now_ticks_ + b.interval);
    AnswerVote(b, Vote::kYes, fx);
  } else if (read_only && b.one_phase) {
    Persist(b, ParticipantRecord::Committed(IdOf(b), fence_), fx);
    b.state = BranchState::kCommitted;
    ++stats_.committed;
    AnswerAck(b, fx);
  } else if (read_only) {
    b.state = BranchState::kReadOnly;
    WatchForEnd(b);
    AnswerVote(b, Vote::kReadOnly, fx);
  } else {
    // The store refused: NO, durable so that it stays NO.
    Persist(b, ParticipantRecord::Aborted(IdOf(b), fence_), fx);
    b.state = BranchState::kAborted;
    ++stats_.aborted;
    CleanUpStore(b, fx);
    if (b.one_phase) {
      AnswerAck(b, fx);
    } else {
      AnswerVote(b, Vote::kNo, fx);
    }
  }
  b.vote_pending = false;
  b.reply_to.clear();
}

void ParticipantCore::OnCommitResult(Branch& b, const StoreResult& r, ParticipantEffects& fx) {
  PACT_CHECK(b.state == BranchState::kCommitting, "CommitPrepared result for {} in {}", IdOf(b),
             Name(b.state));
  if (!r.status.ok() && r.status.code() != StatusCode::kNotFound) {
    // The store could not be reached: stay committing, try again later.
    b.store_retry = true;
    ScheduleTick(b, now_ticks_ + options_.inquiry_ticks_min);
    return;
  }
  // NotFound: nothing prepared any more. With a PREPARED record and a COMMIT decision, only
  // our own earlier CommitPrepared can have ended it (the decision table's kLogCommitted row).
  if (!b.committed_record) Persist(b, ParticipantRecord::Committed(IdOf(b), fence_), fx);
  b.state = BranchState::kCommitted;
  ++stats_.committed;
  AnswerAck(b, fx);
}

void ParticipantCore::OnRollbackResult(Branch& b, const StoreResult& r, ParticipantEffects& fx) {
  if (b.state == BranchState::kAborted) {
    // Cleanup of work the store may still hold; the record already decides the branch. Until
    // the store confirms, try again: a store refuses while the application's statement runs in
    // the branch (busy), and given up, the branch's transaction and its locks would stay forever.
    if (!r.status.ok()) {
      b.store_retry = true;
      ScheduleTick(b, now_ticks_ + options_.inquiry_ticks_min);
    }
    return;
  }
  PACT_CHECK(b.state == BranchState::kAborting, "Rollback result for {} in {}", IdOf(b),
             Name(b.state));
  if (!r.status.ok()) {
    b.store_retry = true;
    ScheduleTick(b, now_ticks_ + options_.inquiry_ticks_min);
    return;
  }
  if (!b.aborted_record) Persist(b, ParticipantRecord::Aborted(IdOf(b), fence_), fx);
  b.state = BranchState::kAborted;
  ++stats_.aborted;
  AnswerAck(b, fx);
}

// ---- Time ------------------------------------------------------------------------------------

ParticipantEffects ParticipantCore::Tick() {
  PACT_CHECK(recovered_);
  ++now_ticks_;
  ParticipantEffects fx;
  // Due branches in ascending txid order, as a walk over branches_ would find them.
  std::set<TxnId> ids;
  while (!due_.empty() && due_.begin()->first <= now_ticks_) {
    const TxnId txn = due_.begin()->second;
    due_.erase(due_.begin());
    const Branch* b = FindWhole(txn);
    // A stale entry: the branch was rescheduled, its timer cleared, or it was forgotten.
    if (b != nullptr && b->next_tick != 0 && b->next_tick <= now_ticks_) ids.insert(txn);
  }
  for (const TxnId& txn : ids) {
    Branch* b = FindWhole(txn);
    if (b == nullptr) continue;
    TickBranch(*b, fx);
    // A branch that stays due is ticked again at the next tick, as before due_ existed.
    b = FindWhole(txn);
    if (b != nullptr && b->next_tick != 0 && b->next_tick <= now_ticks_) {
      due_.emplace(b->next_tick, txn);
    }
  }
  FileEndedBranches();
  return fx;
}

BranchState ParticipantCore::StateOf(FinishedBranch::End end) {
  switch (end) {
    case FinishedBranch::End::kCommitted:
      return BranchState::kCommitted;
    case FinishedBranch::End::kAborted:
      return BranchState::kAborted;
    case FinishedBranch::End::kReadOnly:
      return BranchState::kReadOnly;
  }
  PACT_UNREACHABLE("finished branch end {}", static_cast<int>(end));
}

bool ParticipantCore::Ended(const Branch& b) {
  return b.state == BranchState::kCommitted || b.state == BranchState::kAborted ||
         b.state == BranchState::kReadOnly;
}

void ParticipantCore::WatchForEnd(const Branch& b) {
  watched_for_end_.emplace_back(now_ticks_, b.txn);
}

void ParticipantCore::FileEndedBranches() {
  std::vector<TxnId> look_again;
  while (!watched_for_end_.empty() &&
         watched_for_end_.front().first + options_.finished_retention_ticks <= now_ticks_) {
    const TxnId txn = watched_for_end_.front().second;
    watched_for_end_.pop_front();
    Branch* b = FindWhole(txn);
    if (b == nullptr) continue;  // filed already (watched twice)
    // Still busy (a store retry or callers waiting), or an end record whose state follows
    // when the store answers: look again later. A branch that neither ended nor has an end
    // record is watched again when it gets one. (An ended branch's timer does nothing but a
    // store retry; its stale due_ entry is skipped once it is filed.)
    const bool busy = b->store_retry || !b->reply_to.empty();
    if (!Ended(*b) || busy) {
      if (Ended(*b) || b->committed_record || b->aborted_record) look_again.push_back(txn);
      continue;
    }
    if (b->number > FinishedBranch::kNumberMax) continue;  // kept whole
    FinishedBranch filed{
        .number = b->number, .prepared_record = b->prepared_record, .one_phase = b->one_phase};
    filed.end = b->state == BranchState::kCommitted ? FinishedBranch::End::kCommitted
                : b->state == BranchState::kAborted ? FinishedBranch::End::kAborted
                                                    : FinishedBranch::End::kReadOnly;
    finished_.Put(txn, filed);
    branches_.erase(txn);
  }
  for (const TxnId& txn : look_again) watched_for_end_.emplace_back(now_ticks_, txn);
}

void ParticipantCore::ScheduleTick(Branch& b, uint64_t at) {
  b.next_tick = at;
  due_.emplace(at, b.txn);
}

void ParticipantCore::TickBranch(Branch& b, ParticipantEffects& fx) {
  if (b.store_retry) {
    b.store_retry = false;
    b.next_tick = 0;
    const StoreOp op =
        b.state == BranchState::kCommitting ? StoreOp::kCommitPrepared : StoreOp::kRollback;
    fx.apply.push_back({op, IdOf(b)});
    return;
  }
  switch (b.state) {
    case BranchState::kEnlisting: {
      if (b.enlist_attempts >= options_.enlist_attempts_max) {
        const TxnId txn = b.txn;
        fx.events.push_back({ParticipantEvent::Kind::kWorkRefused, txn, {}, "no enlist reply"});
        branches_.erase(txn);  // b dangles from here on
        return;
      }
      ++b.enlist_attempts;
      ScheduleTick(b, now_ticks_ + options_.enlist_resend_ticks);
      fx.send.push_back({options_.coordinator,
                         protocol::EnlistRequest{fence_, b.txn, options_.name, incarnation_},
                         RecordKey{.kind = Kind::kIncarnation, .incarnation = incarnation_}});
      return;
    }
    case BranchState::kActive:
      // Idle too long: the coordinator may have aborted and its ABORT been lost.
      Inquire(b, Reachable(), fx);
      return;
    case BranchState::kPrepared:
      ApplyDecision(b, b.one_phase ? Decision::kCommitted : Decision::kNotKnown,
                    StoreState::kPrepared, "", fx);
      return;
    default:
      b.next_tick = 0;
      return;
  }
}

// ---- The decision table ----------------------------------------------------------------------

void ParticipantCore::ApplyDecision(Branch& b, Decision decision, StoreState store,
                                    const std::string& reply_to, ParticipantEffects& fx) {
  const Reachability reach =
      Reachable() ? Reachability::kCoordinatorReachable : Reachability::kCoordinatorUnreachable;
  const recovery::Case when{decision, LogStateOf(b), store, reach};
  const BranchState before = b.state;
  switch (recovery::Decide(when)) {
    case Action::kNothing:
      if (!reply_to.empty()) SendAck(b, reply_to, fx);
      return;
    case Action::kCommitInStore:
      if (!reply_to.empty()) Await(b, reply_to);
      RequestStore(b, BranchState::kCommitting, StoreOp::kCommitPrepared, fx);
      return;
    case Action::kRollbackInStore:
      if (!reply_to.empty()) Await(b, reply_to);
      RequestStore(b, BranchState::kAborting, StoreOp::kRollback, fx);
      return;
    case Action::kLogCommitted:
      Persist(b, ParticipantRecord::Committed(IdOf(b), fence_), fx);
      b.state = BranchState::kCommitted;
      ++stats_.committed;
      if (!reply_to.empty()) SendAck(b, reply_to, fx);
      return;
    case Action::kLogAborted:
      if (!b.prepared_record) ++stats_.tombstones;
      Persist(b, ParticipantRecord::Aborted(IdOf(b), fence_), fx);
      b.state = BranchState::kAborted;
      ++stats_.aborted;
      if (!reply_to.empty()) SendAck(b, reply_to, fx);
      // Active work in the store is released too; the record already decides the branch.
      if (before == BranchState::kActive) CleanUpStore(b, fx);
      return;
    case Action::kAskCoordinator:
      Inquire(b, /*reachable=*/true, fx);
      return;
    case Action::kWaitForCoordinator:
      Inquire(b, /*reachable=*/false, fx);
      return;
    case Action::kReportInconsistent:
      Report(b, when, "decision table: inconsistent", fx);
      return;
  }
}

void ParticipantCore::Inquire(Branch& b, bool reachable, ParticipantEffects& fx) {
  // Reachable: ask now and back off. Unreachable: keep the branch as it is and probe at the
  // slowest rate; any message from a coordinator makes it reachable again.
  b.interval =
      reachable ? std::clamp(b.interval * 2, options_.inquiry_ticks_min, options_.inquiry_ticks_max)
                : options_.inquiry_ticks_max;
  ScheduleTick(b, now_ticks_ + b.interval);
  ++stats_.inquiries;
  fx.send.push_back({options_.coordinator, protocol::OutcomeRequest{fence_, b.txn}, {}});
}

ParticipantCore::Branch& ParticipantCore::Tombstone(const BranchId& id, ParticipantEffects& fx) {
  Branch* existing = Find(id.txn);
  if (existing != nullptr) {
    PACT_CHECK(existing->state == BranchState::kEnlisting);
    fx.events.push_back({ParticipantEvent::Kind::kWorkRefused, id.txn, {}, "aborted"});
  }
  Branch& b = branches_[id.txn];
  b = Branch{.txn = id.txn, .number = id.branch, .state = BranchState::kAborted};
  Persist(b, ParticipantRecord::Aborted(id, fence_), fx);
  ++stats_.tombstones;
  ++stats_.aborted;
  return b;
}

// ---- Effects ---------------------------------------------------------------------------------

void ParticipantCore::Persist(Branch& b, const ParticipantRecord& record, ParticipantEffects& fx) {
  PACT_CHECK(record.branch == IdOf(b), "record {} for branch {}", ToString(record), IdOf(b));
  switch (record.kind) {
    case Kind::kPrepared:
      PACT_CHECK(!b.prepared_record && !b.aborted_record && !b.committed_record,
                 "PREPARED for {} after its end", IdOf(b));
      b.prepared_record = true;
      break;
    case Kind::kCommitted:
      PACT_CHECK(!b.aborted_record && !b.committed_record, "COMMITTED for {} twice", IdOf(b));
      b.committed_record = true;
      WatchForEnd(b);
      break;
    case Kind::kAborted:
      PACT_CHECK(!b.committed_record && !b.aborted_record, "ABORTED for {} twice", IdOf(b));
      b.aborted_record = true;
      WatchForEnd(b);
      break;
    case Kind::kIncarnation:
      PACT_UNREACHABLE("INCARNATION is not a branch record");
  }
  fx.persist.push_back(record);
}

void ParticipantCore::SendVote(const Branch& b, const std::string& to, Vote vote,
                               ParticipantEffects& fx) {
  PACT_CHECK(!to.empty());
  std::optional<RecordKey> needs;
  if (vote == Vote::kYes) {
    PACT_CHECK(b.prepared_record, "YES for {} without PREPARED", IdOf(b));
    needs = RecordKey{.kind = Kind::kPrepared, .branch = IdOf(b)};
    ++stats_.votes_yes;
  } else if (vote == Vote::kNo) {
    ++stats_.votes_no;
  } else {
    ++stats_.votes_read_only;
  }
  fx.send.push_back({to, protocol::VoteReply{fence_, IdOf(b), vote}, needs});
}

void ParticipantCore::SendAck(const Branch& b, const std::string& to, ParticipantEffects& fx) {
  PACT_CHECK(!to.empty());
  Outcome outcome;
  std::optional<RecordKey> needs;
  if (b.committed_record) {
    outcome = Outcome::kCommitted;
    needs = RecordKey{.kind = Kind::kCommitted, .branch = IdOf(b)};
  } else if (b.aborted_record) {
    outcome = Outcome::kAborted;
    needs = RecordKey{.kind = Kind::kAborted, .branch = IdOf(b)};
  } else {
    PACT_CHECK(b.state == BranchState::kReadOnly, "ack of {} in {}", IdOf(b), Name(b.state));
    outcome = Outcome::kAborted;  // nothing was written; nothing to undo
  }
  fx.send.push_back({to, protocol::AckReply{fence_, IdOf(b), outcome}, needs});
}

void ParticipantCore::Await(Branch& b, std::string_view from) {
  if (b.reply_to.size() < kWaitersMax) b.reply_to.emplace_back(from);
}

void ParticipantCore::AnswerVote(Branch& b, Vote vote, ParticipantEffects& fx) {
  for (const std::string& to : b.reply_to) SendVote(b, to, vote, fx);
  b.reply_to.clear();
}

void ParticipantCore::AnswerAck(Branch& b, ParticipantEffects& fx) {
  for (const std::string& to : b.reply_to) SendAck(b, to, fx);
  b.reply_to.clear();
}

void ParticipantCore::CleanUpStore(Branch& b, ParticipantEffects& fx) {
  PACT_CHECK(b.state == BranchState::kAborted && b.aborted_record, "cleanup of {} in {}", IdOf(b),
             Name(b.state));
  b.store_retry = false;
  b.next_tick = 0;
  fx.apply.push_back({StoreOp::kRollback, IdOf(b)});
}

void ParticipantCore::RequestStore(Branch& b, BranchState state, StoreOp op,
                                   ParticipantEffects& fx) {
  b.state = state;
  b.store_retry = false;
  b.next_tick = 0;
  fx.apply.push_back({op, IdOf(b)});
}

void ParticipantCore::Report(const Branch& b, const recovery::Case& when, std::string_view what,
                             ParticipantEffects& fx) {
  ++stats_.inconsistencies;
  fx.events.push_back(
      {ParticipantEvent::Kind::kInconsistent, b.txn, IdOf(b),
       fmt::format("{}: decision={} log={} store={} state={}", what, recovery::Name(when.decision),
                   recovery::Name(when.log), recovery::Name(when.store), Name(b.state))});
}

// ---- Helpers ---------------------------------------------------------------------------------

bool ParticipantCore::Admit(uint64_t epoch) {
  if (epoch < fence_) {
    ++stats_.stale_epoch_dropped;
    return false;
  }
  fence_ = epoch;
  last_heard_tick_ = now_ticks_;
  return true;
}

bool ParticipantCore::Reachable() const {
  return now_ticks_ - last_heard_tick_ <= options_.coordinator_silence_ticks;
}

ParticipantCore::Branch* ParticipantCore::FindWhole(const TxnId& txn) {
  auto it = branches_.find(txn);
  return it == branches_.end() ? nullptr : &it->second;
}

ParticipantCore::Branch* ParticipantCore::Find(const TxnId& txn) {
  if (Branch* b = FindWhole(txn)) return b;
  const std::optional<FinishedBranch> filed = finished_.Take(txn);
  if (!filed.has_value()) return nullptr;
  Branch& b = branches_[txn];
  b.txn = txn;
  b.number = filed->number;
  b.state = StateOf(filed->end);
  b.prepared_record = filed->prepared_record;
  b.committed_record = b.state == BranchState::kCommitted;
  b.aborted_record = b.state == BranchState::kAborted;
  b.one_phase = filed->one_phase;
  WatchForEnd(b);  // filed again once the retention has passed
  return &b;
}

ParticipantCore::Branch* ParticipantCore::FindBranch(const BranchId& id) {
  Branch* b = Find(id.txn);
  return b != nullptr && b->number == id.branch ? b : nullptr;
}

LogState ParticipantCore::LogStateOf(const Branch& b) {
  if (b.committed_record) return LogState::kCommitted;
  if (b.aborted_record) return b.prepared_record ? LogState::kAborted : LogState::kAbortTombstone;
  if (b.prepared_record) return LogState::kPrepared;
  const bool working = b.state == BranchState::kActive || b.state == BranchState::kPreparing;
  return working ? LogState::kActive : LogState::kNone;
}

StoreState ParticipantCore::StoreStateOf(const Branch& b) {
  return b.state == BranchState::kPrepared ? StoreState::kPrepared : StoreState::kNothing;
}

std::optional<BranchView> ParticipantCore::View(const TxnId& txn) const {
  auto it = branches_.find(txn);
  if (it == branches_.end()) {
    const std::optional<FinishedBranch> filed = finished_.Get(txn);
    if (!filed.has_value()) return std::nullopt;
    return BranchView{txn, filed->number, StateOf(filed->end), filed->prepared_record,
                      filed->one_phase};
  }
  const Branch& b = it->second;
  return BranchView{b.txn, b.number, b.state, b.prepared_record, b.one_phase};
}

std::vector<BranchView> ParticipantCore::Branches() const {
  std::vector<BranchView> out;
  for (const auto& [txn, b] : branches_) out.push_back(*View(txn));
  return out;
}

bool ParticipantCore::Quiescent() const {
  return std::all_of(branches_.begin(), branches_.end(), [](const auto& entry) {
    const BranchState s = entry.second.state;
    return s == BranchState::kCommitted || s == BranchState::kAborted ||
           s == BranchState::kReadOnly;
  });
}

void ParticipantCore::CheckInvariants() const {
  PACT_CHECK(!recovered_ || incarnation_ >= 1);
  PACT_CHECK(last_heard_tick_ <= now_ticks_);
  std::set<std::pair<uint64_t, TxnId>> due(due_.begin(), due_.end());
  for (const auto& [txn, b] : branches_) {
    const BranchId id{b.txn, b.number};
    PACT_CHECK(txn == b.txn && txn.valid(), "branch key {} holds {}", txn, b.txn);
    PACT_CHECK(!finished_.Get(txn).has_value(), "{} both whole and filed", id);
    PACT_CHECK(b.next_tick == 0 || due.contains({b.next_tick, txn}),
               "{} is due at tick {} but not scheduled", id, b.next_tick);
    PACT_CHECK((b.number == 0) == (b.state == BranchState::kEnlisting), "{} number in {}", id,
               Name(b.state));
    PACT_CHECK(!(b.committed_record && b.aborted_record), "{} both committed and aborted", id);
    PACT_CHECK(b.reply_to.size() <= kWaitersMax);
    PACT_CHECK(b.reply_to.empty() || b.state == BranchState::kPreparing ||
                   b.state == BranchState::kCommitting || b.state == BranchState::kAborting,
               "{} has callers waiting in {}", id, Name(b.state));
    PACT_CHECK(!b.vote_pending || b.state == BranchState::kPreparing, "{} vote pending in {}", id,
               Name(b.state));
    switch (b.state) {
      case BranchState::kEnlisting:
      case BranchState::kActive:
      case BranchState::kReadOnly:
        PACT_CHECK(!b.prepared_record && !b.aborted_record && !b.committed_record,
                   "{} has records in {}", id, Name(b.state));
        break;
      case BranchState::kPreparing:
        PACT_CHECK(!b.prepared_record && !b.committed_record, "{} preparing", id);
        break;
      case BranchState::kPrepared:
        PACT_CHECK(b.prepared_record && !b.aborted_record && !b.committed_record,
                   "{} prepared without the record", id);
        break;
      case BranchState::kCommitting:
        PACT_CHECK(b.prepared_record && !b.aborted_record, "{} committing unprepared", id);
        break;
      case BranchState::kAborting:
        PACT_CHECK(!b.committed_record, "{} aborting after COMMITTED", id);
        break;
      case BranchState::kCommitted:
        PACT_CHECK(b.committed_record, "{} committed without the record", id);
        break;
      case BranchState::kAborted:
        PACT_CHECK(b.aborted_record, "{} aborted without the record", id);
        break;
    }
    PACT_CHECK(!b.one_phase || b.state != BranchState::kReadOnly, "{} one-phase read-only", id);
  }
}

}  // namespace pact::participant
