// The Bank service of the transfer demo (docs/demo.md): what pact-transfer-driver calls on
// each pact-bank. It is served on the same port as the bank's Participant service, under the
// multiplexed name "Bank". C++ is generated into the build tree (examples/transfer/CMakeLists.txt).
//
// debit and credit run inside the global transaction `txid` (text form "<epoch>.<sequence>",
// from pact::Client::Begin): the first call for a txid joins the bank's branch, and the work
// commits or aborts with the whole transfer. They are NOT idempotent on their own: a second
// call for the same txid hits the ledger's primary key, which dooms the branch (it votes NO),
// so a duplicated request can only abort the transfer, never apply it twice.

namespace cpp pact.examples.bank

enum ErrorKind {
  // The debit would make the balance negative. The branch is doomed: it votes NO if asked.
  INSUFFICIENT_FUNDS = 1,
  NO_SUCH_ACCOUNT = 2,
  // The transaction takes no new work here (commit started, it ended, or this bank restarted
  // since it joined and lost that work), or the coordinator could not be reached to join it.
  NOT_JOINED = 3,
  // PostgreSQL failed the statement (lock timeout, lost connection, duplicate txid...).
  STORE = 4,
  // The bank is still recovering after a start; try again shortly.
  STARTING = 5,
  INVALID_ARGUMENT = 6,
}

exception BankError {
  1: required ErrorKind kind
  2: required string message
}

service Bank {
  // Takes `amount` (> 0) from `account` and writes the ledger row (txid, account, -amount).
  void debit(1: string txid, 2: i32 account, 3: i64 amount) throws (1: BankError error)
  // Adds `amount` (> 0) to `account` and writes the ledger row (txid, account, +amount).
  void credit(1: string txid, 2: i32 account, 3: i64 amount) throws (1: BankError error)
}
