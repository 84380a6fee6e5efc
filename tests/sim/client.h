// SimClient: an application that runs global transactions one after another: begin at the
// coordinator, work at one to three participants (some branches write, some only read, some
// will be refused by their store and vote NO), then commit - or abort, or walk away and leave
// the transaction to the coordinator's timeout. It tells the Checker what it was told.
//
// A client gives up waiting after a while (begin, work, commit) and treats the outcome as
// unknown, as a real client must.
#ifndef PACT_TESTS_SIM_CLIENT_H_
#define PACT_TESTS_SIM_CLIENT_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/random.h"
#include "tests/sim/nodes.h"

namespace pact::sim {

struct ClientOptions {
  uint32_t txns = 6;  // transactions to run
  uint32_t lease = 1;  // > 1: txids come from leases of this many, most without a round trip
  uint64_t timeout_ticks = 0;  // each transaction's (BeginRequest); 0: the coordinator's
  uint32_t branches_per_txn_max = 3;
  uint32_t read_permille = 200;      // a branch only reads
  uint32_t fail_permille = 60;       // a branch's store will refuse to prepare
  uint32_t abort_permille = 50;      // the client aborts instead of committing
  uint32_t walk_away_permille = 20;  // the client never commits nor aborts
  uint64_t begin_wait_ticks = 30;
  uint64_t work_wait_ticks = 60;
  uint64_t finish_wait_ticks = 240;   // commit or abort reply, then "unknown"
  uint64_t finish_resend_ticks = 40;  // commit and abort requests are resent (idempotent)
  uint64_t think_ticks_max = 10;      // pause between transactions
};

class SimClient {
 public:
  SimClient(std::string name, std::string coordinator, std::vector<std::string> participants,
            const ClientOptions& options, Random* random, Services services);

  const std::string& name() const { return name_; }
  void Deliver(const std::string& from, const SimMessage& message);
  void Tick();
  // Start no new transaction (the current one still finishes).
  void Stop() { stopped_ = true; }
  bool done() const { return state_ == State::kIdle && (stopped_ || started_ >= options_.txns); }

  uint64_t unknown_outcomes() const { return unknown_; }

 private:
  enum class State { kIdle, kBeginning, kWorking, kFinishing };

  void StartWork();
  void Finish();
  void Told(protocol::Outcome outcome);
  void SendFinish();

  const std::string name_;
  const std::string coordinator_;
  const std::vector<std::string> participants_;
  const ClientOptions options_;
  Random* const random_;
  const Services s_;

  State state_ = State::kIdle;
  bool stopped_ = false;
  uint64_t now_ = 0;
  uint64_t deadline_ = 0;
  uint64_t resend_at_ = 0;
  bool committing_ = false;  // kFinishing: commit (else abort) was asked
  uint64_t next_start_ = 0;
  uint32_t started_ = 0;
  uint64_t request_id_ = 0;
  TxnId txn_;
  std::deque<TxnId> leased_;   // unused txids of the current lease
  uint64_t leased_until_ = 0;  // use them before this tick (half the lease, on our clock)
  std::map<std::string, WorkKind> work_;   // participant -> kind asked
  std::map<std::string, bool> work_done_;  // participant -> ok
  uint64_t unknown_ = 0;
};

}  // namespace pact::sim

#endif  // PACT_TESTS_SIM_CLIENT_H_
