#include "common/status.h"

#include <fmt/format.h>

namespace pact {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kIoError: return "IoError";
    case StatusCode::kNotLeader: return "NotLeader";
    case StatusCode::kStaleEpoch: return "StaleEpoch";
    case StatusCode::kOverloaded: return "Overloaded";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kOutcomeUnknown: return "OutcomeUnknown";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kAborted: return "Aborted";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return fmt::format("{}: {}", StatusCodeName(code_), message_);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_));
}

}  // namespace pact
