#include "tests/sim/scenario_world.h"

#include <fmt/format.h>

namespace pact::sim {

class ScenarioWorld::ManualTransport final : public Transport {
 public:
  void Send(const std::string& from, const std::string& to, SimMessage message) override {
    queue.push_back(Packet{from, to, std::move(message)});
  }
  std::deque<Packet> queue;
};

class ScenarioWorld::ScriptedCrashPoints final : public CrashPoints {
 public:
  std::optional<CrashKind> CrashHere(const std::string& node, std::string_view where) override {
    auto it = armed.find({node, std::string(where)});
    if (it == armed.end()) return std::nullopt;
    armed.erase(it);
    return CrashKind::kPowerLoseUnsynced;
  }
  std::set<std::pair<std::string, std::string>> armed;
};

ScenarioWorld::ScenarioWorld(int participants)
    : transport_(std::make_unique<ManualTransport>()),
      crash_points_(std::make_unique<ScriptedCrashPoints>()) {
  const Services services{.transport = transport_.get(),
                          .crash_points = crash_points_.get(),
                          .checker = &checker_,
                          .tracer = &tracer_,
                          .random = &random_,
                          .now = &now_};
  coordinator::CoordinatorOptions c;
  c.txn_timeout_ticks = 200;
  c.prepare_timeout_ticks = 40;
  c.prepare_resend_ticks = 10;
  coordinator_ = std::make_unique<CoordinatorNode>("c1", 11, c, services);
  for (int i = 1; i <= participants; ++i) {
    participant::ParticipantOptions o;
    o.name = fmt::format("p{}", i);
    o.coordinator = "c1";
    o.inquiry_ticks_min = 8;
    o.inquiry_ticks_max = 32;
    participants_.push_back(std::make_unique<ParticipantNode>(o, 100 + i, services));
  }
  coordinator_->Start();
  for (auto& p : participants_) p->Start();
}

ScenarioWorld::~ScenarioWorld() = default;

ParticipantNode& ScenarioWorld::participant(const std::string& name) {
  for (auto& p : participants_) {
    if (p->name() == name) return *p;
  }
  PACT_UNREACHABLE("no participant {}", name);
}

TxnId ScenarioWorld::Begin() {
  Note("k1: begin");
  begun_.reset();
  transport_->Send("k1", "c1", protocol::Message{protocol::BeginRequest{++request_id_}});
  Deliver("BeginRequest");
  Deliver("BeginReply");
  PACT_CHECK(begun_.has_value(), "no BeginReply");
  return *begun_;
}

BranchId ScenarioWorld::Work(const TxnId& txn, const std::string& participant, WorkKind kind) {
  Note(fmt::format("k1: work {} at {} in {}", Name(kind), participant, txn));
  transport_->Send("k1", participant, WorkRequest{txn, kind});
  Deliver("WorkRequest", participant);
  Deliver("EnlistRequest", "c1");
  Deliver("EnlistReply", participant);
  Deliver("WorkReply", "k1");
  auto it = work_done_.find({txn, participant});
  return it == work_done_.end() ? BranchId{} : it->second;
}

void ScenarioWorld::Commit(const TxnId& txn) {
  Note(fmt::format("k1: commit {}", txn));
  transport_->Send("k1", "c1", protocol::Message{protocol::CommitRequest{txn}});
}

void ScenarioWorld::Abort(const TxnId& txn) {
  Note(fmt::format("k1: abort {}", txn));
  transport_->Send("k1", "c1", protocol::Message{protocol::AbortRequest{txn}});
}

std::optional<protocol::Outcome> ScenarioWorld::Told(const TxnId& txn) const {
  auto it = told_.find(txn);
  if (it == told_.end()) return std::nullopt;
  return it->second;
}

bool ScenarioWorld::Matches(const Packet& p, std::string_view what, std::string_view to) const {
  return MessageName(p.message) == what && (to.empty() || p.to == to);
}

size_t ScenarioWorld::Deliver(std::string_view what, std::string_view to) {
  // Only what is queued now: messages the deliveries produce wait for the next call.
  std::vector<Packet> matching;
  std::deque<Packet> rest;
  for (Packet& p : transport_->queue) {
    if (Matches(p, what, to)) {
      matching.push_back(std::move(p));
    } else {
      rest.push_back(std::move(p));
    }
  }
  transport_->queue = std::move(rest);
  for (const Packet& p : matching) DeliverPacket(p);
  return matching.size();
}

size_t ScenarioWorld::Drop(std::string_view what, std::string_view to) {
  size_t count = 0;
  std::deque<Packet> rest;
  for (Packet& p : transport_->queue) {
    if (Matches(p, what, to)) {
      Note(fmt::format("drop {}->{} {}", p.from, p.to, ToString(p.message)));
      ++count;
    } else {
      rest.push_back(std::move(p));
    }
  }
  transport_->queue = std::move(rest);
  return count;
}

size_t ScenarioWorld::Duplicate(std::string_view what, std::string_view to) {
  std::vector<Packet> copies;
  for (const Packet& p : transport_->queue) {
    if (Matches(p, what, to)) copies.push_back(p);
  }
  for (Packet& p : copies) {
    Note(fmt::format("duplicate {}->{} {}", p.from, p.to, ToString(p.message)));
    transport_->queue.push_back(std::move(p));
  }
  return copies.size();
}

size_t ScenarioWorld::Hold(std::string_view what, std::string_view to) {
  size_t count = 0;
  std::deque<Packet> rest;
  for (Packet& p : transport_->queue) {
    if (Matches(p, what, to)) {
      Note(fmt::format("hold {}->{} {}", p.from, p.to, ToString(p.message)));
      held_.push_back(std::move(p));
      ++count;
    } else {
      rest.push_back(std::move(p));
    }
  }
  transport_->queue = std::move(rest);
  return count;
}

size_t ScenarioWorld::Release(std::string_view what, std::string_view to) {
  size_t count = 0;
  std::vector<Packet> still;
  for (Packet& p : held_) {
    if (Matches(p, what, to)) {
      Note(fmt::format("release {}->{} {}", p.from, p.to, ToString(p.message)));
      transport_->queue.push_back(std::move(p));
      ++count;
    } else {
      still.push_back(std::move(p));
    }
  }
  held_ = std::move(still);
  return count;
}

size_t ScenarioWorld::queued(std::string_view what, std::string_view to) const {
  size_t count = 0;
  for (const Packet& p : transport_->queue) count += Matches(p, what, to) ? 1 : 0;
  return count;
}

void ScenarioWorld::DeliverPacket(const Packet& packet) {
  Note(fmt::format("deliver {}->{} {}", packet.from, packet.to, ToString(packet.message)));
  if (packet.to == "k1") {
    if (const auto* w = std::get_if<WorkReply>(&packet.message)) {
      if (w->ok) {
        work_done_[{w->txn, packet.from}] = w->branch;
        checker_.OnWorkDone(w->txn, packet.from, w->branch, w->kind);
      }
      return;
    }
    const auto& m = std::get<protocol::Message>(packet.message);
    if (const auto* b = std::get_if<protocol::BeginReply>(&m)) {
      if (b->status == protocol::BeginStatus::kOk) begun_ = b->txn;
    } else if (const auto* c = std::get_if<protocol::CommitReply>(&m)) {
      if (told_.try_emplace(c->txn, c->outcome).second) {
        checker_.OnClientTold("k1", c->txn, c->outcome);
      }
    } else if (const auto* a = std::get_if<protocol::AbortReply>(&m)) {
      if (told_.try_emplace(a->txn, a->outcome).second) {
        checker_.OnClientTold("k1", a->txn, a->outcome);
      }
    }
    return;
  }
  if (packet.to == "c1") {
    if (coordinator_->up()) {
      coordinator_->Deliver(packet.from, std::get<protocol::Message>(packet.message));
    }
    return;
  }
  ParticipantNode& p = participant(packet.to);
  if (p.up()) p.Deliver(packet.from, packet.message);
}

void ScenarioWorld::Tick(uint64_t ticks) {
  for (uint64_t i = 0; i < ticks; ++i) {
    ++now_;
    tracer_.set_now(now_);
    checker_.set_now(now_);
    if (coordinator_->up()) coordinator_->Tick();
    for (auto& p : participants_) {
      if (p->up()) p->Tick();
    }
  }
}

bool ScenarioWorld::AllEnded() {
  if (!transport_->queue.empty() || !coordinator_->up() || coordinator_->core()->open_txns() != 0) {
    return false;
  }
  for (auto& p : participants_) {
    if (!p->up() || !p->core()->Quiescent() || p->resource().active() != 0 ||
        p->resource().prepared() != 0) {
      return false;
    }
  }
  return true;
}

bool ScenarioWorld::Settle(uint64_t ticks_max) {
  Note("settle");
  for (uint64_t i = 0; i < ticks_max; ++i) {
    while (!transport_->queue.empty()) {
      Packet p = std::move(transport_->queue.front());
      transport_->queue.pop_front();
      DeliverPacket(p);
    }
    if (AllEnded()) return true;
    Tick();
  }
  return false;
}

void ScenarioWorld::Crash(const std::string& node, CrashKind kind) {
  if (node == "c1") {
    coordinator_->Crash(kind);
  } else {
    participant(node).Crash(kind);
  }
}

void ScenarioWorld::Restart(const std::string& node) {
  if (node == "c1") {
    coordinator_->Start();
  } else {
    participant(node).Start();
  }
}

void ScenarioWorld::CrashAt(const std::string& node, const std::string& where) {
  Note(fmt::format("arm: crash {} at {}", node, where));
  crash_points_->armed.insert({node, where});
}

std::optional<Fate> ScenarioWorld::StoreFate(const std::string& participant_name,
                                             const BranchId& branch) const {
  for (const auto& p : participants_) {
    if (p->name() != participant_name) continue;
    auto it = p->resource().history().find(branch);
    if (it == p->resource().history().end()) return std::nullopt;
    return it->second.fate;
  }
  return std::nullopt;
}

std::vector<std::string> ScenarioWorld::Violations() {
  checker_.CheckFinal();
  return checker_.violations();
}

}  // namespace pact::sim
