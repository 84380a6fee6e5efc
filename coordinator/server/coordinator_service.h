// CoordinatorService: the Thrift Coordinator service of a coordinator replica. It checks every
// request (ids, addresses, sizes), turns it into a protocol message for the CoordinatorDriver,
// waits for the core's reply, and answers it or raises the declared exception that says what
// the caller can do. Malformed input gets InvalidArgument and never reaches the core.
//
// Thread-safe (one instance serves every connection thread).
#ifndef PACT_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_
#define PACT_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_

#include <atomic>

#include "coordinator/server/coordinator_driver.h"
#include "pact/rpc/Coordinator.h"

namespace pact::coordinator {

struct CoordinatorServiceOptions {
  int request_wait_ms = 2000;  // begin, enlist, abort, outcome
  // commit waits for the decision: prepare round trip plus a forced decision-log write. Kept
  // below the SDK's call timeout so that a slow decision answers UNKNOWN (ask again) instead
  // of a transport timeout.
  int commit_wait_ms = 3000;
  int tick_ms = 10;  // the driver's: turns a lease's ticks into the milliseconds a client sees
  // begin_transaction refuses a timeout_ms above this (the core's txn_timeout_ticks_max).
  int txn_timeout_max_ms = 3600 * 1000;
};

class CoordinatorService final : public rpc::CoordinatorIf {
 public:
  CoordinatorService(CoordinatorDriver* driver, const CoordinatorServiceOptions& options)
      : driver_(driver), options_(options) {}

  void begin_transaction(rpc::BeginReply& reply, const rpc::BeginRequest& request) override;
  void enlist(rpc::EnlistReply& reply, const rpc::EnlistRequest& request) override;
  void commit_transaction(rpc::CommitReply& reply, const rpc::CommitRequest& request) override;
  void abort_transaction(rpc::AbortReply& reply, const rpc::AbortRequest& request) override;
  void outcome(rpc::OutcomeReply& reply, const rpc::OutcomeRequest& request) override;

 private:
  // Calls the driver; maps its failures to declared exceptions (Overloaded, or an
  // UNKNOWN-style answer left to the caller when `unknown_ok`).
  std::optional<protocol::Message> CallDriver(const protocol::Message& request, int wait_ms,
                                              bool unknown_ok);

  CoordinatorDriver* const driver_;
  const CoordinatorServiceOptions options_;
  std::atomic<uint64_t> next_request_id_{1};
};

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_SERVER_COORDINATOR_SERVICE_H_
