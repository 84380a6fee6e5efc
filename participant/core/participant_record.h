// The records of a participant's WAL, and their binary encoding.
//
//   INCARNATION(n)                 the participant started for the n-th time (n from 1); written
//                                  and forced at every start, before any enlistment
//   PREPARED(branch, one_phase)    the store holds the branch prepared and the participant voted
//                                  YES (or, with one_phase, was asked to commit at once: the
//                                  decision is COMMIT and is the participant's own)
//   COMMITTED(branch)              the store committed the branch
//   ABORTED(branch)                the branch is rolled back; without an earlier PREPARED it is
//                                  a tombstone: the branch must never be prepared
// Every branch record carries `epoch`, the coordinator epoch the participant had seen when it
// wrote it, so that the epoch fence survives a restart.
//
// Encoding (little-endian; the WAL checksums each record):
//   u8 version (=1) | u8 kind | u64 epoch | INCARNATION: u64 n
//   | branch kinds: u64 txn.epoch | u64 txn.sequence | u32 branch | PREPARED: u8 one_phase
// Decoding checks every field and refuses trailing bytes. Pure; thread-safe.
#ifndef PACT_PARTICIPANT_CORE_PARTICIPANT_RECORD_H_
#define PACT_PARTICIPANT_CORE_PARTICIPANT_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/branch_id.h"
#include "common/status.h"

namespace pact::participant {

struct ParticipantRecord {
  enum class Kind : uint8_t { kIncarnation = 1, kPrepared = 2, kCommitted = 3, kAborted = 4 };

  Kind kind = Kind::kIncarnation;
  uint64_t epoch = 0;        // coordinator epoch seen (0 before any)
  uint64_t incarnation = 0;  // kIncarnation only
  BranchId branch{};         // branch kinds only
  bool one_phase = false;    // kPrepared only

  static ParticipantRecord Incarnation(uint64_t n);
  static ParticipantRecord Prepared(const BranchId& branch, uint64_t epoch, bool one_phase);
  static ParticipantRecord Committed(const BranchId& branch, uint64_t epoch);
  static ParticipantRecord Aborted(const BranchId& branch, uint64_t epoch);

  friend bool operator==(const ParticipantRecord&, const ParticipantRecord&) = default;
};

std::string_view Name(ParticipantRecord::Kind kind);  // "PREPARED", ...
std::string ToString(const ParticipantRecord& record);

// Checks the record (PACT_CHECK: writing a malformed record is a bug) and encodes it.
std::string EncodeRecord(const ParticipantRecord& record);
// Corruption unless `bytes` are exactly one well-formed record.
Result<ParticipantRecord> DecodeRecord(std::string_view bytes);

}  // namespace pact::participant

#endif  // PACT_PARTICIPANT_CORE_PARTICIPANT_RECORD_H_
