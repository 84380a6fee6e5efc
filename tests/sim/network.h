// Network: the simulator's Transport. Messages are delayed (which reorders them), lost,
// duplicated, and cut by partitions, all drawn from the simulation's one Random.
#ifndef PACT_TESTS_SIM_NETWORK_H_
#define PACT_TESTS_SIM_NETWORK_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/random.h"
#include "tests/sim/nodes.h"

namespace pact::sim {

struct NetworkFaults {
  uint32_t loss_permille = 0;
  uint32_t duplicate_permille = 0;
  uint64_t delay_ticks_max = 1;  // each copy arrives 1..delay_ticks_max ticks later
  uint32_t late_permille = 0;    // ... or, this often, 1..late_ticks_max ticks later
  uint64_t late_ticks_max = 1;
};

struct Packet {
  std::string from;
  std::string to;
  SimMessage message;
};

class Network final : public Transport {
 public:
  Network(Random* random, Tracer* tracer) : random_(random), tracer_(tracer) {}

  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  void set_now(uint64_t now) { now_ = now; }

  void Send(const std::string& from, const std::string& to, SimMessage message) override;
  // Removes and returns the packets due now, in delivery order. Packets that a partition cuts
  // are dropped here.
  std::vector<Packet> TakeDue();

  // Cuts every link between `island` and the rest until Heal().
  void Partition(std::set<std::string> island);
  void Heal() { island_.clear(); }
  bool partitioned() const { return !island_.empty(); }
  size_t in_flight() const { return in_flight_.size(); }

  uint64_t sent() const { return sent_; }
  uint64_t lost() const { return lost_; }

 private:
  bool Cut(const std::string& a, const std::string& b) const {
    return island_.contains(a) != island_.contains(b);
  }
  void Enqueue(const std::string& from, const std::string& to, const SimMessage& message);

  Random* const random_;
  Tracer* const tracer_;
  NetworkFaults faults_;
  uint64_t now_ = 0;
  uint64_t next_seq_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, Packet> in_flight_;  // (deliver tick, seq)
  std::set<std::string> island_;
  uint64_t sent_ = 0;
  uint64_t lost_ = 0;
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_NETWORK_H_
