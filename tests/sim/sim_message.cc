#include "tests/sim/sim_message.h"

#include <fmt/format.h>

namespace pact::sim {

std::string_view Name(WorkKind kind) {
  switch (kind) {
    case WorkKind::kWrite:
      return "write";
    case WorkKind::kRead:
      return "read";
    case WorkKind::kFailPrepare:
      return "fail-prepare";
  }
  return "?";
}

std::string ToString(const SimMessage& message) {
  if (const auto* m = std::get_if<protocol::Message>(&message)) return protocol::ToString(*m);
  if (const auto* m = std::get_if<WorkRequest>(&message)) {
    return fmt::format("WorkRequest{{txn={} kind={}}}", m->txn, Name(m->kind));
  }
  const auto& m = std::get<WorkReply>(message);
  return fmt::format("WorkReply{{txn={} ok={} branch={} kind={}}}", m.txn, m.ok, m.branch,
                     Name(m.kind));
}

std::string_view MessageName(const SimMessage& message) {
  if (const auto* m = std::get_if<protocol::Message>(&message)) return protocol::MessageName(*m);
  if (std::holds_alternative<WorkRequest>(message)) return "WorkRequest";
  return "WorkReply";
}

}  // namespace pact::sim
