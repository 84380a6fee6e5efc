#include "tests/sim/simulation.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>

#include "common/random.h"
#include "tests/sim/checker.h"
#include "tests/sim/client.h"
#include "tests/sim/network.h"
#include "tests/sim/nodes.h"

namespace pact::sim {
namespace {

constexpr uint64_t kQuietTicksMax = 4000;  // after faults stop, everything must end by then

// Everything about a run that the seed decides up front.
struct Params {
  uint32_t participants;
  uint32_t clients;
  uint64_t fault_ticks;
  NetworkFaults faults;
  uint64_t crash_one_in;                        // per tick: crash a random node
  uint64_t crash_point_one_in;                  // per crash point inside a driver's batch
  uint32_t crashes_max;                         // crashes of all kinds in one run
  uint64_t partition_one_in;                    // per tick without a partition: start one
  uint64_t fail_sync_one_in;                    // per tick: the next fsync of a random node fails
  uint64_t restart_ticks_max;                   // a crashed node is down 1..this many ticks
  uint64_t store_delay_ticks_max;               // 0: the store answers at once
  uint64_t finished_retention_ticks;            // short: ended branches are filed and brought back
  coordinator::CoordinatorOptions coordinator;  // small limits and short timeouts, sometimes

  static Params Draw(Random& r) {
    Params p;
    p.participants = static_cast<uint32_t>(r.Range(2, 4));
    p.clients = static_cast<uint32_t>(r.Range(2, 4));
    p.fault_ticks = r.Range(400, 1500);
    p.faults.loss_permille = static_cast<uint32_t>(r.Range(0, 100));
    p.faults.duplicate_permille = static_cast<uint32_t>(r.Range(0, 60));
    p.faults.delay_ticks_max = r.Range(1, 8);
    p.faults.late_permille = static_cast<uint32_t>(r.Range(0, 20));
    p.faults.late_ticks_max = r.Range(10, 300);
    p.crash_one_in = r.Range(60, 400);
    p.crash_point_one_in = r.Range(200, 3000);
    p.crashes_max = static_cast<uint32_t>(r.Range(0, 8));
    p.partition_one_in = r.Range(80, 600);
    p.fail_sync_one_in = r.Range(300, 3000);
    p.restart_ticks_max = r.Range(5, 80);
    p.store_delay_ticks_max = r.OneIn(4) ? 0 : r.Range(1, 6);
    if (r.OneIn(3)) {
      p.coordinator.inflight_txns_max = static_cast<uint32_t>(r.Range(1, 6));
      p.coordinator.branches_per_txn_max = static_cast<uint32_t>(r.Range(1, 3));
      p.coordinator.txn_timeout_ticks = r.Range(20, 200);
      p.coordinator.prepare_timeout_ticks = r.Range(5, 40);
      p.coordinator.prepare_resend_ticks = r.Range(2, 12);
    }
    p.finished_retention_ticks = r.OneIn(2) ? r.Range(1, 10) : r.Range(11, 150);
    // Short leases: clients' leased txids expire unused, and under the small limits above a
    // first use meets a full coordinator.
    if (r.OneIn(2)) p.coordinator.lease_ticks = r.Range(4, 60);
    return p;
  }
};

CrashKind DrawCrashKind(Random& random, bool process_crashes) {
  return static_cast<CrashKind>(random.Uniform(process_crashes ? 3 : 2));
}

class RandomCrashPoints final : public CrashPoints {
 public:
  RandomCrashPoints(Random* random, uint64_t one_in, uint32_t* crashes_left, uint64_t* crashes)
      : random_(random), one_in_(one_in), crashes_left_(crashes_left), crashes_(crashes) {}
  void Disable() { enabled_ = false; }

  std::optional<CrashKind> CrashHere(const std::string& node, std::string_view where) override {
    (void)node;
    // Points passed once per message are common; the others (between an append and its fsync,
    // between a store operation and its record, ...) are rarer and more interesting: weight them.
    const bool common = where == "send" || where == "work";
    const uint64_t one_in = common ? one_in_ : one_in_ / 8 + 1;
    if (!enabled_ || *crashes_left_ == 0 || !random_->OneIn(one_in)) return std::nullopt;
    --*crashes_left_;
    ++*crashes_;
    return DrawCrashKind(*random_, process_crashes_);
  }
  bool process_crashes_ = false;

 private:
  Random* const random_;
  const uint64_t one_in_;
  uint32_t* const crashes_left_;
  uint64_t* const crashes_;
  bool enabled_ = true;
};

// A node's clock: it runs at `rate_permille` of real time (clock skew between nodes).
struct Clock {
  uint64_t rate_permille = 1000;
  uint64_t accumulated = 0;
  uint64_t Advance() {
    accumulated += rate_permille;
    const uint64_t ticks = accumulated / 1000;
    accumulated %= 1000;
    return ticks;
  }
};

class Simulation {
 public:
  explicit Simulation(const SimConfig& config)
      : config_(config),
        random_(config.seed),
        params_(Params::Draw(random_)),
        tracer_(config.trace, config.echo_trace),
        network_(&random_, &tracer_),
        crashes_left_(params_.crashes_max),
        crash_points_(&random_, params_.crash_point_one_in, &crashes_left_, &crashes_) {
    network_.set_faults(params_.faults);
    const Services services{.transport = &network_,
                            .crash_points = &crash_points_,
                            .checker = &checker_,
                            .tracer = &tracer_,
                            .store_delay_ticks_max = params_.store_delay_ticks_max,
                            .random = &random_,
                            .now = &now_,
                            .process_crashes = config.process_crashes};
    crash_points_.process_crashes_ = config.process_crashes;
    coordinator_ =
        std::make_unique<CoordinatorNode>("c1", random_.Fork(), params_.coordinator, services);
    std::vector<std::string> names;
    for (uint32_t i = 1; i <= params_.participants; ++i) {
      participant::ParticipantOptions o;
      o.name = fmt::format("p{}", i);
      o.coordinator = "c1";
      o.finished_retention_ticks = params_.finished_retention_ticks;
      names.push_back(o.name);
      participants_.push_back(std::make_unique<ParticipantNode>(o, random_.Fork(), services));
    }
    for (uint32_t i = 1; i <= params_.clients; ++i) {
      ClientOptions o;
      o.txns = static_cast<uint32_t>(random_.Range(5, 25));
      o.lease = random_.OneIn(2) ? 1 : static_cast<uint32_t>(random_.Range(2, 6));
      // Timeouts of their own, shorter and longer than the coordinator's, in a third of them.
      o.timeout_ticks = random_.OneIn(3) ? random_.Range(5, 600) : 0;
      clients_.push_back(
          std::make_unique<SimClient>(fmt::format("k{}", i), "c1", names, o, &random_, services));
    }
    clocks_["c1"].rate_permille = random_.Range(800, 1200);
    for (const std::string& n : names) clocks_[n].rate_permille = random_.Range(800, 1200);
  }

  SimResult Run() {
    Trace(fmt::format("seed={} {}", config_.seed, Parameters()));
    coordinator_->Start();
    for (auto& p : participants_) p->Start();
    const uint64_t end = params_.fault_ticks + kQuietTicksMax;
    for (now_ = 1; now_ <= end && checker_.violations().empty(); ++now_) {
      tracer_.set_now(now_);
      network_.set_now(now_);
      checker_.set_now(now_);
      if (now_ <= params_.fault_ticks) {
        InjectFaults();
      } else if (now_ == params_.fault_ticks + 1) {
        StopFaults();
      } else {
        RestartDown(/*all_now=*/true);
      }
      for (const Packet& packet : network_.TakeDue()) Deliver(packet);
      for (auto& p : participants_) p->CompleteStoreOps();
      TickNodes();
      if (now_ > params_.fault_ticks && AllEnded()) break;
    }
    if (checker_.violations().empty()) {
      if (now_ > end) {
        checker_.Violation("liveness: still open after the quiet period: " + WhatIsOpen());
      } else {
        checker_.CheckFinal();
      }
    }
    return Result();
  }

 private:
  void Trace(std::string_view line) {
    if (tracer_.enabled()) tracer_.Line(line);
  }

  std::string Parameters() const {
    return fmt::format(
        "participants={} clients={} fault_ticks={} loss={}/1000 dup={}/1000 delay<={} "
        "late={}/1000 late_delay<={} crash=1/{} "
        "crash_point=1/{} crashes_max={} partition=1/{} down<={} store_delay<={} inflight<={} "
        "branches<={} txn_timeout={} prepare_timeout={} retention={} lease_ticks={}",
        params_.participants, params_.clients, params_.fault_ticks, params_.faults.loss_permille,
        params_.faults.duplicate_permille, params_.faults.delay_ticks_max,
        params_.faults.late_permille, params_.faults.late_ticks_max, params_.crash_one_in,
        params_.crash_point_one_in, params_.crashes_max, params_.partition_one_in,
        params_.restart_ticks_max, params_.store_delay_ticks_max,
        params_.coordinator.inflight_txns_max, params_.coordinator.branches_per_txn_max,
        params_.coordinator.txn_timeout_ticks, params_.coordinator.prepare_timeout_ticks,
        params_.finished_retention_ticks, params_.coordinator.lease_ticks);
  }

  void InjectFaults() {
    // Restart crashed nodes after their downtime.
    RestartDown(/*all_now=*/false);
    // Crash a node between events.
    if (crashes_left_ > 0 && random_.OneIn(params_.crash_one_in)) {
      const uint64_t which = random_.Uniform(participants_.size() + 1);
      const CrashKind mode = DrawCrashKind(random_, config_.process_crashes);
      if (which == 0 && coordinator_->up()) {
        --crashes_left_;
        ++crashes_;
        coordinator_->Crash(mode);
      } else if (which > 0 && participants_[which - 1]->up()) {
        --crashes_left_;
        ++crashes_;
        participants_[which - 1]->Crash(mode);
      }
    }
    // A failed fsync: the node must stop (fail-stop), never retry it.
    if (random_.OneIn(params_.fail_sync_one_in)) {
      const uint64_t which = random_.Uniform(participants_.size() + 1);
      (which == 0 ? coordinator_->fs() : participants_[which - 1]->fs()).FailSyncs(1);
    }
    // Partitions that heal.
    if (network_.partitioned()) {
      if (now_ >= heal_at_) {
        network_.Heal();
        Trace("heal");
      }
    } else if (random_.OneIn(params_.partition_one_in)) {
      std::set<std::string> island;
      std::vector<std::string> all = {"c1"};
      for (auto& p : participants_) all.push_back(p->name());
      for (auto& c : clients_) all.push_back(c->name());
      for (const std::string& n : all) {
        if (random_.OneIn(2)) island.insert(n);
      }
      if (island.empty() || island.size() == all.size())
        island = {all[random_.Uniform(all.size())]};
      network_.Partition(std::move(island));
      heal_at_ = now_ + random_.Range(10, 150);
    }
  }

  void StopFaults() {
    Trace("faults stop");
    network_.Heal();
    NetworkFaults quiet = params_.faults;
    quiet.loss_permille = 0;  // duplicates, delays and reordering go on: they never stop progress
    network_.set_faults(quiet);
    crash_points_.Disable();
    coordinator_->fs().FailSyncs(0);
    for (auto& p : participants_) p->fs().FailSyncs(0);
    RestartDown(/*all_now=*/true);
    for (auto& c : clients_) c->Stop();
  }

  void RestartDown(bool all_now) {
    auto consider = [&](const std::string& name, bool up, auto start) {
      if (up) {
        restart_at_.erase(name);
        return;
      }
      auto [it, inserted] = restart_at_.try_emplace(name, 0);
      if (inserted) it->second = now_ + random_.Range(1, params_.restart_ticks_max);
      if (all_now || now_ >= it->second) {
        restart_at_.erase(it);
        start();
      }
    };
    consider(coordinator_->name(), coordinator_->up(), [&] { coordinator_->Start(); });
    for (auto& p : participants_) consider(p->name(), p->up(), [&] { p->Start(); });
  }

  void Deliver(const Packet& packet) {
    ++events_;
    if (tracer_.enabled()) {
      tracer_.Line(
          fmt::format("deliver {}->{} {}", packet.from, packet.to, ToString(packet.message)));
    }
    if (packet.to == coordinator_->name()) {
      const auto* m = std::get_if<protocol::Message>(&packet.message);
      if (coordinator_->up() && m != nullptr) coordinator_->Deliver(packet.from, *m);
      return;
    }
    for (auto& p : participants_) {
      if (packet.to == p->name()) {
        if (p->up()) p->Deliver(packet.from, packet.message);
        return;
      }
    }
    for (auto& c : clients_) {
      if (packet.to == c->name()) {
        c->Deliver(packet.from, packet.message);
        return;
      }
    }
    PACT_UNREACHABLE("packet to unknown node {}", packet.to);
  }

  void TickNodes() {
    for (uint64_t i = clocks_["c1"].Advance(); i > 0 && coordinator_->up(); --i) {
      coordinator_->Tick();
    }
    for (auto& p : participants_) {
      for (uint64_t i = clocks_[p->name()].Advance(); i > 0 && p->up(); --i) p->Tick();
    }
    for (auto& c : clients_) c->Tick();
  }

  bool AllEnded() const {
    for (const auto& c : clients_) {
      if (!c->done()) return false;
    }
    if (!coordinator_->up() || coordinator_->core()->open_txns() != 0) return false;
    for (const auto& p : participants_) {
      if (!p->up() || !p->core()->Quiescent() || p->resource().active() != 0 ||
          p->resource().prepared() != 0 || p->store_ops_in_flight() != 0) {
        return false;
      }
    }
    return true;
  }

  std::string WhatIsOpen() const {
    std::string out;
    for (const auto& c : clients_) {
      if (!c->done()) out += fmt::format("[client {} busy] ", c->name());
    }
    if (!coordinator_->up()) {
      out += "[coordinator down] ";
    } else {
      for (const auto& t : coordinator_->core()->OpenTxns()) {
        out += fmt::format("[c1 {} {}] ", t.txn, coordinator::Name(t.state));
      }
    }
    for (const auto& p : participants_) {
      if (!p->up()) {
        out += fmt::format("[{} down] ", p->name());
        continue;
      }
      for (const auto& b : p->core()->Branches()) {
        if (b.state == participant::BranchState::kCommitted ||
            b.state == participant::BranchState::kAborted ||
            b.state == participant::BranchState::kReadOnly) {
          continue;
        }
        out +=
            fmt::format("[{} {}/{} {}] ", p->name(), b.txn, b.number, participant::Name(b.state));
      }
      if (p->resource().active() + p->resource().prepared() > 0) {
        out += fmt::format("[{} store: {} active {} prepared] ", p->name(), p->resource().active(),
                           p->resource().prepared());
      }
    }
    return out;
  }

  SimResult Result() {
    SimResult r;
    r.seed = config_.seed;
    r.violations = checker_.violations();
    r.trace = tracer_.text();
    r.events = events_;
    r.ticks = now_;
    r.txns = checker_.txns_seen();
    r.committed = checker_.told_committed();
    r.aborted = checker_.told_aborted();
    r.crashes = crashes_;
    uint64_t unknown = 0;
    for (const auto& c : clients_) unknown += c->unknown_outcomes();
    // Participant counters of the last incarnation of each participant (a crash resets them).
    uint64_t stale = 0, inquiries = 0, tombstones = 0;
    for (const auto& p : participants_) {
      if (!p->up()) continue;
      stale += p->core()->stats().stale_epoch_dropped;
      inquiries += p->core()->stats().inquiries;
      tombstones += p->core()->stats().tombstones;
    }
    r.summary = fmt::format(
        "{} | ticks={} events={} crashes={} txns={} committed={} aborted={} unknown={} sent={} "
        "lost={} stale_dropped={} inquiries={} tombstones={}",
        Parameters(), r.ticks, r.events, r.crashes, r.txns, r.committed, r.aborted, unknown,
        network_.sent(), network_.lost(), stale, inquiries, tombstones);
    if (tracer_.enabled()) {
      tracer_.Line("end " + r.summary);
      r.trace = tracer_.text();
    }
    return r;
  }

  const SimConfig config_;
  Random random_;
  const Params params_;
  Tracer tracer_;
  Checker checker_;
  Network network_;
  uint32_t crashes_left_;
  uint64_t crashes_ = 0;
  RandomCrashPoints crash_points_;
  std::unique_ptr<CoordinatorNode> coordinator_;
  std::vector<std::unique_ptr<ParticipantNode>> participants_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::map<std::string, Clock> clocks_;
  std::map<std::string, uint64_t> restart_at_;
  uint64_t now_ = 0;
  uint64_t heal_at_ = 0;
  uint64_t events_ = 0;
};

}  // namespace

SimResult RunSimulation(const SimConfig& config) {
  Simulation simulation(config);
  return simulation.Run();
}

}  // namespace pact::sim
