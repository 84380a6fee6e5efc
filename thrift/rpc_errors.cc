#include "thrift/rpc_errors.h"

#include <thrift/TApplicationException.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TTransportException.h>

#include <fmt/format.h>

#include "pact/rpc/pact_types.h"

namespace pact::rpc {

namespace {
constexpr std::string_view kLeaderHintPrefix = " leader=";
}  // namespace

Status CurrentExceptionToStatus(std::string_view peer, CallPhase phase) {
  try {
    throw;
  } catch (const NotLeader& e) {
    std::string message = fmt::format("{}: {}", peer, e.message);
    if (e.__isset.leader_hint && !e.leader_hint.empty()) {
      message += fmt::format("{}{}", kLeaderHintPrefix, e.leader_hint);
    }
    return Status::NotLeader(std::move(message));
  } catch (const UnknownTransaction& e) {
    return Status::NotFound(fmt::format("{}: {}", peer, e.message));
  } catch (const StaleEpoch& e) {
    return Status::StaleEpoch(
        fmt::format("{}: {} (current epoch {})", peer, e.message, e.current_epoch));
  } catch (const InvalidArgument& e) {
    return Status::InvalidArgument(fmt::format("{}: {}", peer, e.message));
  } catch (const Overloaded& e) {
    return Status::Overloaded(
        fmt::format("{}: {} (retry after {} ms)", peer, e.message, e.retry_after_ms));
  } catch (const TransactionNotActive& e) {
    return Status::FailedPrecondition(fmt::format("{}: {}", peer, e.message));
  } catch (const StoreError& e) {
    const std::string sqlstate =
        e.__isset.sqlstate && !e.sqlstate.empty() ? fmt::format(" [SQLSTATE {}]", e.sqlstate) : "";
    return Status::Aborted(fmt::format("{}: store refused: {}{}", peer, e.message, sqlstate));
  } catch (const apache::thrift::TException& e) {
    if (phase == CallPhase::kConnecting) {
      return Status::Unavailable(fmt::format("{}: cannot connect: {}", peer, e.what()));
    }
    return Status::OutcomeUnknown(fmt::format("{}: call failed: {}", peer, e.what()));
  } catch (const std::exception& e) {
    return Status::OutcomeUnknown(fmt::format("{}: call failed: {}", peer, e.what()));
  }
}

std::string_view LeaderHint(const Status& status) {
  if (status.code() != StatusCode::kNotLeader) return {};
  const std::string& message = status.message();
  const size_t at = message.rfind(kLeaderHintPrefix);
  if (at == std::string::npos) return {};
  return std::string_view(message).substr(at + kLeaderHintPrefix.size());
}

}  // namespace pact::rpc
