// CoordinatorChannel: calls on the coordinator cluster's leader, for the SDK's client and
// participant sides. It remembers which replica led last, follows NotLeader hints, and moves
// to the next replica when one cannot be reached. One call tries each replica at most twice.
//
// Thread-safe.
#ifndef PACT_PARTICIPANT_SDK_COORDINATOR_CHANNEL_H_
#define PACT_PARTICIPANT_SDK_COORDINATOR_CHANNEL_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "pact/rpc/Coordinator.h"
#include "thrift/rpc_client.h"

namespace pact::sdk {

class CoordinatorChannel {
 public:
  using Call = std::function<void(rpc::CoordinatorClient&)>;

  // InvalidArgument when `addresses` is empty or one is malformed.
  static Result<std::unique_ptr<CoordinatorChannel>> Create(
      const std::vector<std::string>& addresses, const rpc::ClientOptions& options);

  // Runs `call` on the leader. Returns the last error when no replica accepted it: NotLeader
  // only if every replica said so, Unavailable if none could be reached; declared errors
  // (InvalidArgument, NotFound, StaleEpoch, FailedPrecondition, Overloaded) at once.
  Status CallLeader(const Call& call);

  // Runs `call` on any replica that answers (outcome inquiries may go to any of them).
  Status CallAny(const Call& call);

  size_t replica_count() const { return pools_.size(); }

 private:
  explicit CoordinatorChannel(std::vector<std::unique_ptr<rpc::ClientPool<rpc::CoordinatorClient>>>);
  size_t IndexOf(std::string_view address) const;

  std::vector<std::unique_ptr<rpc::ClientPool<rpc::CoordinatorClient>>> pools_;
  std::atomic<size_t> leader_index_{0};
};

}  // namespace pact::sdk

#endif  // PACT_PARTICIPANT_SDK_COORDINATOR_CHANNEL_H_
