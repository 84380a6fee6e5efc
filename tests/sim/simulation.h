// The deterministic simulation of a whole Pact cluster: one coordinator (single-replica decision
// log), two to four participants, two to four clients, a faulty network and faulty disks - all
// from one seed. One thread; the same seed gives the same run, event for event, byte for byte.
//
// A run has two phases. During the fault phase messages are lost, duplicated, delayed and
// reordered, the network partitions and heals, node clocks run at different rates, and nodes
// crash - between events and at random points inside a driver's batch, losing or tearing
// unsynced bytes - and restart. Then faults stop (partitions heal, nothing is lost any more,
// every node is restarted, clients start nothing new), and the run goes on until everything
// has ended or the quiet phase runs out: a liveness violation.
//
// Checkers run after every event (each core's CheckInvariants, the Checker's safety checks as
// facts arrive, persist-before-send in the drivers) and at the end (Checker::CheckFinal,
// nothing left open anywhere).
#ifndef PACT_TESTS_SIM_SIMULATION_H_
#define PACT_TESTS_SIM_SIMULATION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace pact::sim {

struct SimConfig {
  uint64_t seed = 1;
  bool trace = false;       // collect the event-by-event trace
  bool echo_trace = false;  // ... and print each line as it happens
  // Also crash processes without a power loss (the page cache survives). Off by default: it
  // finds that wal::Log::Open treats unsynced bytes it reads back as durable (see README).
  bool process_crashes = false;
};

struct SimResult {
  uint64_t seed = 0;
  std::vector<std::string> violations;  // empty: the run is correct
  std::string trace;                    // when traced
  uint64_t events = 0;
  uint64_t ticks = 0;
  uint64_t txns = 0;
  uint64_t committed = 0;  // clients told COMMITTED
  uint64_t aborted = 0;    // clients told ABORTED
  uint64_t crashes = 0;
  std::string summary;  // one line of parameters and counts
};

SimResult RunSimulation(const SimConfig& config);

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_SIMULATION_H_
