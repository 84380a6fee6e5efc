// ParticipantService: the Thrift Participant service through which the coordinator prepares,
// commits and aborts this participant's branches. It checks every request, hands it to the
// ParticipantDriver and answers with the core's reply. A request from an epoch older than the
// participant's fence raises StaleEpoch and changes nothing.
//
// Thread-safe.
#ifndef PACT_PARTICIPANT_SDK_PARTICIPANT_SERVICE_H_
#define PACT_PARTICIPANT_SDK_PARTICIPANT_SERVICE_H_

#include "pact/rpc/Participant.h"
#include "participant/sdk/participant_driver.h"

namespace pact::sdk {

class ParticipantService final : public rpc::ParticipantIf {
 public:
  ParticipantService(ParticipantDriver* driver, int request_wait_ms)
      : driver_(driver), request_wait_ms_(request_wait_ms) {}

  void prepare(rpc::PrepareReply& reply, const rpc::PrepareRequest& request) override;
  void commit_branch(rpc::BranchAckReply& reply, const rpc::CommitBranchRequest& request) override;
  void abort_branch(rpc::BranchAckReply& reply, const rpc::AbortBranchRequest& request) override;
  void exchange(std::vector<rpc::ParticipantAnswer>& answers,
                const std::vector<rpc::ParticipantRequest>& requests) override;

 private:
  // Checks the epoch against the fence and waits for the core's answer to `request`.
  protocol::Message Ask(const protocol::Message& request, uint64_t epoch);

  ParticipantDriver* const driver_;
  const int request_wait_ms_;
};

}  // namespace pact::sdk

#endif  // PACT_PARTICIPANT_SDK_PARTICIPANT_SERVICE_H_
