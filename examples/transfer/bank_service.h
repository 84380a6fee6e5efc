// BankService: the Bank Thrift service of pact-bank (bank.thrift), one bank of the transfer demo.
// The bank owns accounts in one PostgreSQL database and takes part in Pact's global transactions
// through an embedded pact::Participant: each debit or credit joins the bank's branch of the
// transaction the request names, then runs in that branch's PostgreSQL transaction:
//
//   INSERT INTO ledger (txid, account, amount)          -- the transfer's trace in this database
//   UPDATE accounts SET balance = balance + amount      -- CHECK (balance >= 0) refuses overdrafts
//
// PostgreSQL ends a transaction at its first failing statement, so every error here (overdraft,
// unknown account through the ledger's foreign key, duplicate txid through its primary key, lock
// timeout) dooms the branch: if the transaction is committed anyway, this bank votes NO and Pact
// aborts the whole transfer. Nothing is ever committed here outside two-phase commit.
//
// Thread-safe: Thrift calls arrive on one thread per connection.
#ifndef PACT_EXAMPLES_TRANSFER_BANK_SERVICE_H_
#define PACT_EXAMPLES_TRANSFER_BANK_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "pact/bank/Bank.h"
#include "pact/participant.h"
#include "participant/postgres/postgres_resource.h"

namespace pact::examples {

// Creates the tables, with accounts 1..`accounts` holding `initial_balance` each, unless they
// exist: a restarted bank changes nothing. Runs outside any global transaction, on a connection
// of its own.
Status CreateBankSchema(const std::string& dsn, int accounts, int64_t initial_balance);

struct BankOptions {
  // How long a debit or credit waits for a row lock before it fails (and dooms its branch).
  // Two transfers that lock one account in each database in opposite orders wait for each other
  // across two PostgreSQL servers, a deadlock that neither server can see; the timeout breaks it.
  int lock_timeout_ms = 2000;
};

class BankService final : public bank::BankIf {
 public:
  // `store` must outlive the service.
  BankService(PostgresResource* store, BankOptions options) : store_(store), options_(options) {}

  // Until the participant is set (it finishes recovery after the Bank service is already bound
  // on its port), calls fail with STARTING.
  void SetParticipant(Participant* participant) { participant_.store(participant); }

  void debit(const std::string& txid, int32_t account, int64_t amount) override;
  void credit(const std::string& txid, int32_t account, int64_t amount) override;

 private:
  // Adds `delta` to the balance of `account` inside the bank's branch of `txid`.
  void Move(const std::string& txid, int32_t account, int64_t amount, int64_t delta);

  PostgresResource* const store_;
  const BankOptions options_;
  std::atomic<Participant*> participant_{nullptr};
};

}  // namespace pact::examples

#endif  // PACT_EXAMPLES_TRANSFER_BANK_SERVICE_H_
