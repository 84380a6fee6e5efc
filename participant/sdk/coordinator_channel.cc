#include "participant/sdk/coordinator_channel.h"

#include <fmt/format.h>

namespace pact::sdk {

Result<std::unique_ptr<CoordinatorChannel>> CoordinatorChannel::Create(
    const std::vector<std::string>& addresses, const rpc::ClientOptions& options) {
  if (addresses.empty()) {
    return Status::InvalidArgument("no coordinator address given (expected host:port, ...)");
  }
  std::vector<std::unique_ptr<rpc::ClientPool<rpc::CoordinatorClient>>> pools;
  for (const std::string& address : addresses) {
    PACT_ASSIGN_OR_RETURN(rpc::Endpoint endpoint, rpc::Endpoint::Parse(address));
    if (endpoint.port == 0) {
      return Status::InvalidArgument(fmt::format("coordinator address '{}' has port 0", address));
    }
    pools.push_back(std::make_unique<rpc::ClientPool<rpc::CoordinatorClient>>(
        std::move(endpoint), "Coordinator", options));
  }
  return std::unique_ptr<CoordinatorChannel>(new CoordinatorChannel(std::move(pools)));
}

CoordinatorChannel::CoordinatorChannel(
    std::vector<std::unique_ptr<rpc::ClientPool<rpc::CoordinatorClient>>> pools)
    : pools_(std::move(pools)) {}

size_t CoordinatorChannel::IndexOf(std::string_view address) const {
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i]->peer().ToString() == address) return i;
  }
  return pools_.size();
}

Status CoordinatorChannel::CallLeader(const Call& call) {
  Status last;
  size_t index = leader_index_.load();
  for (size_t attempt = 0; attempt < 2 * pools_.size(); ++attempt) {
    last = pools_[index]->Call(call);
    if (last.ok()) {
      leader_index_.store(index);
      return last;
    }
    switch (last.code()) {
      case StatusCode::kNotLeader: {
        const size_t hinted = IndexOf(rpc::LeaderHint(last));
        index = hinted < pools_.size() ? hinted : (index + 1) % pools_.size();
        break;
      }
      case StatusCode::kUnavailable:
        index = (index + 1) % pools_.size();
        break;
      default:
        // The leader answered (a declared error), or the call may have run (OutcomeUnknown):
        // another replica would not know better.
        return last;
    }
  }
  return last;
}

Status CoordinatorChannel::CallAny(const Call& call) {
  Status last;
  const size_t start = leader_index_.load();
  for (size_t i = 0; i < pools_.size(); ++i) {
    last = pools_[(start + i) % pools_.size()]->Call(call);
    if (last.ok() || last.code() == StatusCode::kInvalidArgument) return last;
  }
  return last;
}

}  // namespace pact::sdk
