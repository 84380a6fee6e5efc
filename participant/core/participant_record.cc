#include "participant/core/participant_record.h"

#include <fmt/format.h>

#include "common/byte_coding.h"

namespace pact::participant {
namespace {

constexpr uint8_t kRecordVersion = 1;

Status Validate(const ParticipantRecord& r) {
  using Kind = ParticipantRecord::Kind;
  if (r.kind == Kind::kIncarnation) {
    if (r.incarnation == 0 || r.branch != BranchId{} || r.one_phase) {
      return Status::InvalidArgument("malformed INCARNATION record");
    }
    return Status::Ok();
  }
  if (r.kind != Kind::kPrepared && r.kind != Kind::kCommitted && r.kind != Kind::kAborted) {
    return Status::InvalidArgument(fmt::format("unknown record kind {}", int(r.kind)));
  }
  if (!r.branch.valid() || r.incarnation != 0 || (r.one_phase && r.kind != Kind::kPrepared)) {
    return Status::InvalidArgument(fmt::format("malformed {} record", Name(r.kind)));
  }
  return Status::Ok();
}

}  // namespace

ParticipantRecord ParticipantRecord::Incarnation(uint64_t n) {
  return ParticipantRecord{.kind = Kind::kIncarnation, .incarnation = n};
}
ParticipantRecord ParticipantRecord::Prepared(const BranchId& branch, uint64_t epoch,
                                              bool one_phase) {
  return ParticipantRecord{
      .kind = Kind::kPrepared, .epoch = epoch, .branch = branch, .one_phase = one_phase};
}
ParticipantRecord ParticipantRecord::Committed(const BranchId& branch, uint64_t epoch) {
  return ParticipantRecord{.kind = Kind::kCommitted, .epoch = epoch, .branch = branch};
}
ParticipantRecord ParticipantRecord::Aborted(const BranchId& branch, uint64_t epoch) {
  return ParticipantRecord{.kind = Kind::kAborted, .epoch = epoch, .branch = branch};
}

std::string_view Name(ParticipantRecord::Kind kind) {
  switch (kind) {
    case ParticipantRecord::Kind::kIncarnation:
      return "INCARNATION";
    case ParticipantRecord::Kind::kPrepared:
      return "PREPARED";
    case ParticipantRecord::Kind::kCommitted:
      return "COMMITTED";
    case ParticipantRecord::Kind::kAborted:
      return "ABORTED";
  }
  return "?";
}

std::string ToString(const ParticipantRecord& r) {
  if (r.kind == ParticipantRecord::Kind::kIncarnation) {
    return fmt::format("INCARNATION({})", r.incarnation);
  }
  return fmt::format("{}({}{})", Name(r.kind), r.branch, r.one_phase ? " one-phase" : "");
}

std::string EncodeRecord(const ParticipantRecord& r) {
  PACT_CHECK_OK(Validate(r));
  ByteWriter w;
  w.U8(kRecordVersion);
  w.U8(static_cast<uint8_t>(r.kind));
  w.U64(r.epoch);
  if (r.kind == ParticipantRecord::Kind::kIncarnation) {
    w.U64(r.incarnation);
    return w.Release();
  }
  w.U64(r.branch.txn.epoch);
  w.U64(r.branch.txn.sequence);
  w.U32(r.branch.branch);
  if (r.kind == ParticipantRecord::Kind::kPrepared) w.U8(r.one_phase ? 1 : 0);
  return w.Release();
}

Result<ParticipantRecord> DecodeRecord(std::string_view bytes) {
  auto corrupt = [&](std::string_view what) {
    return Status::Corruption(fmt::format("participant record ({} bytes): {}", bytes.size(), what));
  };
  ByteReader reader(bytes);
  uint8_t version, kind;
  ParticipantRecord r;
  if (!reader.U8(&version) || !reader.U8(&kind) || !reader.U64(&r.epoch)) {
    return corrupt("truncated header");
  }
  if (version != kRecordVersion) return corrupt(fmt::format("unknown version {}", version));
  if (kind < 1 || kind > 4) return corrupt(fmt::format("unknown kind {}", kind));
  r.kind = static_cast<ParticipantRecord::Kind>(kind);
  if (r.kind == ParticipantRecord::Kind::kIncarnation) {
    if (!reader.U64(&r.incarnation)) return corrupt("truncated incarnation");
  } else {
    if (!reader.U64(&r.branch.txn.epoch) || !reader.U64(&r.branch.txn.sequence) ||
        !reader.U32(&r.branch.branch)) {
      return corrupt("truncated branch");
    }
    if (r.kind == ParticipantRecord::Kind::kPrepared) {
      uint8_t one_phase;
      if (!reader.U8(&one_phase) || one_phase > 1) return corrupt("bad one_phase flag");
      r.one_phase = one_phase == 1;
    }
  }
  if (!reader.Done()) return corrupt("trailing bytes");
  Status valid = Validate(r);
  if (!valid.ok()) return corrupt(valid.message());
  return r;
}

}  // namespace pact::participant
