#include "examples/transfer/outcome_file.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace pact::examples {
namespace {

Result<OutcomeKind> ParseOutcome(std::string_view text) {
  for (OutcomeKind kind : {OutcomeKind::kCommitted, OutcomeKind::kAborted, OutcomeKind::kUnknown}) {
    if (Name(kind) == text) return kind;
  }
  return Status::InvalidArgument(fmt::format("unknown outcome '{}'", text));
}

}  // namespace

Status WriteOutcomes(const std::string& path, const std::vector<TransferOutcome>& outcomes) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    for (const TransferOutcome& t : outcomes) {
      out << t.txid.ToString() << ' ' << Name(t.outcome) << ' '
          << (t.asked_commit ? "commit" : "abort") << ' ' << (t.overdraft ? 1 : 0) << '\n';
    }
    out.flush();
    if (!out) return Status::IoError(fmt::format("cannot write {}", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::IoError(fmt::format("cannot rename {} to {}", temporary, path));
  }
  return Status::Ok();
}

Result<std::vector<TransferOutcome>> ReadOutcomes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("cannot open {}", path));
  std::vector<TransferOutcome> outcomes;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto bad = [&](std::string_view why) {
      return Status::Corruption(fmt::format("{} line {}: {}: '{}'", path, number, why, line));
    };
    std::istringstream fields(line);
    std::string txid, outcome, asked, overdraft, extra;
    if (!(fields >> txid >> outcome >> asked >> overdraft) || (fields >> extra)) {
      return bad("expected 4 fields");
    }
    TransferOutcome t;
    Result<TxnId> parsed_txid = TxnId::Parse(txid);
    if (!parsed_txid.ok()) return bad(parsed_txid.status().message());
    t.txid = *parsed_txid;
    Result<OutcomeKind> parsed_outcome = ParseOutcome(outcome);
    if (!parsed_outcome.ok()) return bad(parsed_outcome.status().message());
    t.outcome = *parsed_outcome;
    if (asked != "commit" && asked != "abort") return bad("asked is neither commit nor abort");
    t.asked_commit = asked == "commit";
    if (overdraft != "0" && overdraft != "1") return bad("overdraft is neither 0 nor 1");
    t.overdraft = overdraft == "1";
    outcomes.push_back(t);
  }
  return outcomes;
}

}  // namespace pact::examples
