// The transfer driver's record of every transfer it began and what Pact told it, read back by the
// driver's settle step and by pact-transfer-check. One transfer a line, fields separated by one
// space:
//
//   <txid> <COMMITTED|ABORTED|UNKNOWN> <commit|abort> <overdraft 0|1>
//
//   txid       text form "<epoch>.<sequence>", as in both ledgers
//   outcome    what pact::Client answered (never a guess: UNKNOWN means it could not tell)
//   asked      whether the driver asked Pact to commit the transfer or to abort it (a bank call
//              failed); re-asking must ask the same
//   overdraft  the debit was refused for want of funds, and the driver committed anyway so that
//              the doomed branch votes NO: the outcome must not be COMMITTED
//
// Write replaces the file atomically (a temporary file renamed over it).
#ifndef PACT_EXAMPLES_TRANSFER_OUTCOME_FILE_H_
#define PACT_EXAMPLES_TRANSFER_OUTCOME_FILE_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"
#include "pact/client.h"

namespace pact::examples {

struct TransferOutcome {
  TxnId txid;
  OutcomeKind outcome = OutcomeKind::kUnknown;
  bool asked_commit = false;
  bool overdraft = false;
};

Status WriteOutcomes(const std::string& path, const std::vector<TransferOutcome>& outcomes);
// Corruption naming the line when one does not parse.
Result<std::vector<TransferOutcome>> ReadOutcomes(const std::string& path);

}  // namespace pact::examples

#endif  // PACT_EXAMPLES_TRANSFER_OUTCOME_FILE_H_
