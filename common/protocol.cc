#include "common/protocol.h"

#include <fmt/format.h>

#include <iterator>

namespace pact::protocol {
namespace {

std::string Format(const BeginRequest& m) {
  return fmt::format("BeginRequest{{request_id={} lease={}}}", m.request_id, m.lease);
}
std::string Format(const BeginReply& m) {
  return fmt::format(
      "BeginReply{{epoch={} request_id={} status={} txn={} leased={} lease_ticks={}}}", m.epoch,
      m.request_id, Name(m.status), m.txn, m.leased, m.lease_ticks);
}
std::string Format(const CommitRequest& m) { return fmt::format("CommitRequest{{txn={}}}", m.txn); }
std::string Format(const CommitReply& m) {
  return fmt::format("CommitReply{{epoch={} txn={} outcome={}}}", m.epoch, m.txn, Name(m.outcome));
}
std::string Format(const AbortRequest& m) { return fmt::format("AbortRequest{{txn={}}}", m.txn); }
std::string Format(const AbortReply& m) {
  return fmt::format("AbortReply{{epoch={} txn={} outcome={}}}", m.epoch, m.txn, Name(m.outcome));
}
std::string Format(const EnlistRequest& m) {
  return fmt::format("EnlistRequest{{epoch={} txn={} participant={} incarnation={}}}", m.epoch,
                     m.txn, m.participant, m.incarnation);
}
std::string Format(const EnlistReply& m) {
  return fmt::format("EnlistReply{{epoch={} txn={} status={} branch={}}}", m.epoch, m.txn,
                     Name(m.status), m.branch);
}
std::string Format(const OutcomeRequest& m) {
  return fmt::format("OutcomeRequest{{epoch={} txn={}}}", m.epoch, m.txn);
}
std::string Format(const OutcomeReply& m) {
  return fmt::format("OutcomeReply{{epoch={} txn={} outcome={}}}", m.epoch, m.txn, Name(m.outcome));
}
std::string Format(const PrepareRequest& m) {
  return fmt::format("PrepareRequest{{epoch={} branch={}}}", m.epoch, m.branch);
}
std::string Format(const VoteReply& m) {
  return fmt::format("VoteReply{{epoch={} branch={} vote={}}}", m.epoch, m.branch, Name(m.vote));
}
std::string Format(const BranchCommitRequest& m) {
  return fmt::format("BranchCommitRequest{{epoch={} branch={} one_phase={}}}", m.epoch, m.branch,
                     m.one_phase);
}
std::string Format(const BranchAbortRequest& m) {
  return fmt::format("BranchAbortRequest{{epoch={} branch={}}}", m.epoch, m.branch);
}
std::string Format(const AckReply& m) {
  return fmt::format("AckReply{{epoch={} branch={} outcome={}}}", m.epoch, m.branch,
                     Name(m.outcome));
}

}  // namespace

std::string_view MessageName(const Message& message) {
  static constexpr std::string_view kNames[] = {
      "BeginRequest",        "BeginReply",         "CommitRequest",  "CommitReply",
      "AbortRequest",        "AbortReply",         "EnlistRequest",  "EnlistReply",
      "OutcomeRequest",      "OutcomeReply",       "PrepareRequest", "VoteReply",
      "BranchCommitRequest", "BranchAbortRequest", "AckReply"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[message.index()];
}

std::string ToString(const Message& message) {
  return std::visit([](const auto& m) { return Format(m); }, message);
}

std::string_view Name(Vote vote) {
  switch (vote) {
    case Vote::kYes:
      return "YES";
    case Vote::kNo:
      return "NO";
    case Vote::kReadOnly:
      return "READ_ONLY";
  }
  PACT_UNREACHABLE("vote {}", static_cast<int>(vote));
}

std::string_view Name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kCommitted:
      return "COMMITTED";
    case Outcome::kAborted:
      return "ABORTED";
    case Outcome::kUnknown:
      return "UNKNOWN";
  }
  PACT_UNREACHABLE("outcome {}", static_cast<int>(outcome));
}

std::string_view Name(BeginStatus status) {
  switch (status) {
    case BeginStatus::kOk:
      return "OK";
    case BeginStatus::kOverloaded:
      return "OVERLOADED";
    case BeginStatus::kNotLeader:
      return "NOT_LEADER";
  }
  PACT_UNREACHABLE("begin status {}", static_cast<int>(status));
}

std::string_view Name(EnlistStatus status) {
  switch (status) {
    case EnlistStatus::kEnlisted:
      return "ENLISTED";
    case EnlistStatus::kRefused:
      return "REFUSED";
    case EnlistStatus::kOverloaded:
      return "OVERLOADED";
  }
  PACT_UNREACHABLE("enlist status {}", static_cast<int>(status));
}

uint64_t EpochOf(const Message& message) {
  return std::visit(
      [](const auto& m) -> uint64_t {
        if constexpr (requires { m.epoch; }) {
          return m.epoch;
        } else {
          return 0;
        }
      },
      message);
}

TxnId TxnOf(const Message& message) {
  return std::visit(
      [](const auto& m) -> TxnId {
        if constexpr (requires { m.branch.txn; }) {
          return m.branch.txn;
        } else if constexpr (requires { m.txn; }) {
          return m.txn;
        } else {
          return TxnId{};
        }
      },
      message);
}

}  // namespace pact::protocol
