// CommitDecision and the entries of the coordinator's decision log, with their binary encoding.
//
// The decision log holds three kinds of entry (thrift/pact.thrift LogEntry mirrors them):
//   EPOCH(e)                   a leader of epoch e starts; no txid of epoch e exists before it
//   COMMIT(txid, branches)     the transaction commits; `branches` are those that voted YES and
//                              must be driven to COMMIT (READ_ONLY branches are not listed)
//   END(txid)                  every listed branch acknowledged COMMIT (recorded lazily)
// Under presumed abort nothing else is ever recorded: no entry means ABORT.
//
// Encoding (little-endian; the WAL checksums each record):
//   u8 version (=1) | u8 kind | u64 epoch | [COMMIT, END: u64 txn.epoch | u64 txn.sequence]
//   [COMMIT: u32 count | count x (u32 branch | u32 len | participant bytes)]
// Decoding checks every field and refuses trailing bytes. Pure; thread-safe.
#ifndef PACT_COORDINATOR_CORE_DECISION_H_
#define PACT_COORDINATOR_CORE_DECISION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"

namespace pact::coordinator {

inline constexpr uint32_t kDecisionBranchesMax = 1024;
inline constexpr uint32_t kParticipantNameBytesMax = 256;

// One branch the decision must reach: its number and its participant's name.
struct DecidedBranch {
  uint32_t branch = 0;
  std::string participant;

  friend bool operator==(const DecidedBranch&, const DecidedBranch&) = default;
};

struct CommitDecision {
  TxnId txn;
  std::vector<DecidedBranch> branches{};  // ascending branch numbers, at least one

  friend bool operator==(const CommitDecision&, const CommitDecision&) = default;
};

// InvalidArgument unless the decision is well formed (valid txn, 1..kDecisionBranchesMax
// branches in strictly ascending order, non-empty participant names within the limit).
Status ValidateDecision(const CommitDecision& decision);

struct DecisionLogEntry {
  enum class Kind : uint8_t { kEpoch = 1, kCommit = 2, kEnd = 3 };

  Kind kind = Kind::kEpoch;
  uint64_t epoch = 0;       // kEpoch: the new epoch; otherwise the epoch of the writing leader
  CommitDecision decision;  // kCommit: the decision; kEnd: only decision.txn is set

  static DecisionLogEntry Epoch(uint64_t epoch);
  static DecisionLogEntry Commit(uint64_t epoch, CommitDecision decision);
  static DecisionLogEntry End(uint64_t epoch, const TxnId& txn);

  friend bool operator==(const DecisionLogEntry&, const DecisionLogEntry&) = default;
};

// Checks the entry (PACT_CHECK: writing a malformed entry is a bug) and encodes it.
std::string EncodeEntry(const DecisionLogEntry& entry);
// Corruption if the bytes are not exactly one well-formed entry.
Result<DecisionLogEntry> DecodeEntry(std::string_view bytes);

std::string ToString(const CommitDecision& decision);  // "3.7 [1@p1 2@p2]"

}  // namespace pact::coordinator

#endif  // PACT_COORDINATOR_CORE_DECISION_H_
