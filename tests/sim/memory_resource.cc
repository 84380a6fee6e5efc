#include "tests/sim/memory_resource.h"

#include <fmt/format.h>

namespace pact::sim {

std::string_view Name(Fate fate) {
  switch (fate) {
    case Fate::kActive:
      return "active";
    case Fate::kPrepared:
      return "prepared";
    case Fate::kCommitted:
      return "committed";
    case Fate::kRolledBack:
      return "rolled-back";
    case Fate::kReadOnly:
      return "read-only";
    case Fate::kLost:
      return "lost";
  }
  return "?";
}

Status MemoryResource::BeginBranch(const BranchId& branch) {
  if (history_.contains(branch)) {
    return Status::FailedPrecondition(fmt::format("{}: branch {} exists", participant_, branch));
  }
  active_.emplace(branch, Work{});
  SetFate(branch, Fate::kActive);
  return Status::Ok();
}

Status MemoryResource::DoWork(const BranchId& branch, WorkKind kind) {
  auto it = active_.find(branch);
  if (it == active_.end()) {
    return Status::FailedPrecondition(fmt::format("{}: {} is not active", participant_, branch));
  }
  if (kind != WorkKind::kRead) {
    it->second.wrote = true;
    history_[branch].wrote = true;
  }
  if (kind == WorkKind::kFailPrepare) it->second.refuse_prepare = true;
  SetFate(branch, Fate::kActive);
  return Status::Ok();
}

Result<PrepareResult> MemoryResource::Prepare(const BranchId& branch) {
  auto it = active_.find(branch);
  if (it == active_.end()) {
    return Status::NotFound(fmt::format("{}: no work in {}", participant_, branch));
  }
  const Work work = it->second;
  active_.erase(it);
  if (work.refuse_prepare) {
    SetFate(branch, Fate::kRolledBack);
    return Status::Unavailable(fmt::format("{}: refuses to prepare {}", participant_, branch));
  }
  if (!work.wrote) {
    SetFate(branch, Fate::kReadOnly);
    return PrepareResult::kReadOnly;
  }
  prepared_.insert(branch);
  history_[branch].prepared = true;
  SetFate(branch, Fate::kPrepared);
  return PrepareResult::kPrepared;
}

Status MemoryResource::CommitPrepared(const BranchId& branch) {
  if (prepared_.erase(branch) == 0) {
    return Status::NotFound(fmt::format("{}: {} is not prepared", participant_, branch));
  }
  SetFate(branch, Fate::kCommitted);
  return Status::Ok();
}

Status MemoryResource::Rollback(const BranchId& branch) {
  if (active_.erase(branch) + prepared_.erase(branch) > 0) SetFate(branch, Fate::kRolledBack);
  return Status::Ok();
}

Result<std::vector<BranchId>> MemoryResource::ListPrepared() {
  return std::vector<BranchId>(prepared_.begin(), prepared_.end());
}

void MemoryResource::Crash() {
  for (const auto& [branch, work] : active_) SetFate(branch, Fate::kLost);
  active_.clear();
}

void MemoryResource::SetFate(const BranchId& branch, Fate fate) {
  BranchHistory& h = history_[branch];
  h.fate = fate;
  if (observer_ != nullptr) observer_->OnFate(participant_, branch, h);
}

}  // namespace pact::sim
