#include "coordinator/core/decision.h"

#include <fmt/format.h>

#include "common/byte_coding.h"

namespace pact::coordinator {
namespace {

constexpr uint8_t kEntryVersion = 1;

Status ValidateEntry(const DecisionLogEntry& entry) {
  if (entry.epoch == 0) return Status::InvalidArgument("decision log entry with epoch 0");
  switch (entry.kind) {
    case DecisionLogEntry::Kind::kEpoch:
      if (entry.decision.txn.valid() || !entry.decision.branches.empty()) {
        return Status::InvalidArgument("EPOCH entry carries a decision");
      }
      return Status::Ok();
    case DecisionLogEntry::Kind::kCommit:
      if (entry.decision.txn.epoch > entry.epoch) {
        return Status::InvalidArgument(
            fmt::format("COMMIT of {} written in older epoch {}", entry.decision.txn, entry.epoch));
      }
      return ValidateDecision(entry.decision);
    case DecisionLogEntry::Kind::kEnd:
      if (!entry.decision.txn.valid() || !entry.decision.branches.empty()) {
        return Status::InvalidArgument("END entry needs a txid and no branches");
      }
      return Status::Ok();
  }
  return Status::InvalidArgument(fmt::format("unknown entry kind {}", int(entry.kind)));
}

}  // namespace

Status ValidateDecision(const CommitDecision& decision) {
  if (!decision.txn.valid()) return Status::InvalidArgument("decision without a valid txid");
  if (decision.branches.empty() || decision.branches.size() > kDecisionBranchesMax) {
    return Status::InvalidArgument(
        fmt::format("decision {} has {} branches", decision.txn, decision.branches.size()));
  }
  uint32_t previous = 0;
  for (const DecidedBranch& b : decision.branches) {
    if (b.branch <= previous || b.participant.empty() ||
        b.participant.size() > kParticipantNameBytesMax) {
      return Status::InvalidArgument(
          fmt::format("decision {}: bad branch {}@'{}'", decision.txn, b.branch, b.participant));
    }
    previous = b.branch;
  }
  return Status::Ok();
}

DecisionLogEntry DecisionLogEntry::Epoch(uint64_t epoch) {
  return DecisionLogEntry{Kind::kEpoch, epoch, {}};
}

DecisionLogEntry DecisionLogEntry::Commit(uint64_t epoch, CommitDecision decision) {
  return DecisionLogEntry{Kind::kCommit, epoch, std::move(decision)};
}

DecisionLogEntry DecisionLogEntry::End(uint64_t epoch, const TxnId& txn) {
  return DecisionLogEntry{Kind::kEnd, epoch, CommitDecision{txn, {}}};
}

std::string EncodeEntry(const DecisionLogEntry& entry) {
  PACT_CHECK_OK(ValidateEntry(entry));
  ByteWriter w;
  w.U8(kEntryVersion);
  w.U8(static_cast<uint8_t>(entry.kind));
  w.U64(entry.epoch);
  if (entry.kind == DecisionLogEntry::Kind::kEpoch) return w.Release();
  w.U64(entry.decision.txn.epoch);
  w.U64(entry.decision.txn.sequence);
  if (entry.kind == DecisionLogEntry::Kind::kEnd) return w.Release();
  w.U32(static_cast<uint32_t>(entry.decision.branches.size()));
  for (const DecidedBranch& b : entry.decision.branches) {
    w.U32(b.branch);
    w.Bytes(b.participant);
  }
  return w.Release();
}

Result<DecisionLogEntry> DecodeEntry(std::string_view bytes) {
  auto corrupt = [&](std::string_view what) {
    return Status::Corruption(fmt::format("decision log entry ({} bytes): {}", bytes.size(), what));
  };
  ByteReader r(bytes);
  uint8_t version, kind;
  DecisionLogEntry entry;
  if (!r.U8(&version) || !r.U8(&kind) || !r.U64(&entry.epoch)) return corrupt("truncated header");
  if (version != kEntryVersion) return corrupt(fmt::format("unknown version {}", version));
  if (kind < 1 || kind > 3) return corrupt(fmt::format("unknown kind {}", kind));
  entry.kind = static_cast<DecisionLogEntry::Kind>(kind);
  if (entry.kind != DecisionLogEntry::Kind::kEpoch) {
    if (!r.U64(&entry.decision.txn.epoch) || !r.U64(&entry.decision.txn.sequence)) {
      return corrupt("truncated txid");
    }
  }
  if (entry.kind == DecisionLogEntry::Kind::kCommit) {
    uint32_t count;
    if (!r.U32(&count) || count > kDecisionBranchesMax) return corrupt("bad branch count");
    entry.decision.branches.resize(count);
    for (DecidedBranch& b : entry.decision.branches) {
      if (!r.U32(&b.branch) || !r.Bytes(&b.participant, kParticipantNameBytesMax)) {
        return corrupt("truncated branch");
      }
    }
  }
  if (!r.Done()) return corrupt("trailing bytes");
  Status valid = ValidateEntry(entry);
  if (!valid.ok()) return corrupt(valid.message());
  return entry;
}

std::string ToString(const CommitDecision& decision) {
  std::string out = fmt::format("{} [", decision.txn);
  for (size_t i = 0; i < decision.branches.size(); ++i) {
    out += fmt::format("{}{}@{}", i == 0 ? "" : " ", decision.branches[i].branch,
                       decision.branches[i].participant);
  }
  return out + "]";
}

}  // namespace pact::coordinator
