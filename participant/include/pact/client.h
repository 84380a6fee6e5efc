// pact::Client: how an application begins and commits global transactions.
//
//   pact::Client pact(pact::ClientOptions{.coordinators = {"127.0.0.1:7000"}});
//   Result<pact::Transaction> txn = pact.Begin();
//   service_a.Debit(txn->id(), ...);   // the txid travels in the service's own requests;
//   service_b.Credit(txn->id(), ...);  // each service joins it through its pact::Participant
//   pact::Outcome outcome = txn->Commit();
//
// Commit answers COMMITTED, ABORTED (with a reason) or UNKNOWN. UNKNOWN is never a guess: the
// coordinators could not be reached, or had not decided, within the commit deadline. The
// caller may ask again later with Client::Commit(txid), which answers the same decision - or
// UNKNOWN for good about a transaction of an earlier coordinator epoch that left no COMMIT in
// the decision log (aborted, or committed in one phase).
//
// With `txid_lease` > 1, Begin() takes txids from a lease of that many, asked for when the
// last one is used up: most transactions then begin without a round trip to the coordinator.
// A leased txid begins at the coordinator when first used; one not used within half the lease
// is dropped (the coordinator aborts it when the lease ends).
//
// The client finds the leader among `coordinators` and follows NotLeader hints. Thread-safe:
// one Client serves any number of threads and transactions.
#ifndef PACT_PARTICIPANT_INCLUDE_PACT_CLIENT_H_
#define PACT_PARTICIPANT_INCLUDE_PACT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/txn_id.h"

namespace pact {

struct ClientOptions {
  std::vector<std::string> coordinators;  // "host:port" of every coordinator replica
  int call_timeout_ms = 5000;             // one RPC
  int commit_deadline_ms = 30000;         // Commit() gives UNKNOWN after this long
  // A transaction not committed this long after it began is aborted. 0: the coordinator's
  // default (--txn-timeout-ms); Begin() fails with InvalidArgument above its maximum
  // (--txn-timeout-max-ms). With txid_lease, it applies to each leased txid from its first use.
  int transaction_timeout_ms = 0;
  std::string client_name = "pact-client";
  int txid_lease = 0;  // > 1: txids leased this many at a time (at most 1024); else one by one
};

enum class OutcomeKind { kCommitted, kAborted, kUnknown };

struct Outcome {
  OutcomeKind kind = OutcomeKind::kUnknown;
  std::string reason;  // why ABORTED or UNKNOWN; empty when COMMITTED

  bool committed() const { return kind == OutcomeKind::kCommitted; }
};

std::string_view Name(OutcomeKind kind);  // "COMMITTED", "ABORTED", "UNKNOWN"

class Client;

// A handle on one global transaction. Cheap to copy; all copies name the same transaction.
class Transaction {
 public:
  const TxnId& id() const { return id_; }
  // Runs two-phase commit. Safe to call again: it answers the same decision.
  Outcome Commit();
  // Aborts unless commit already started; then the outcome tells what happened.
  Outcome Abort();

 private:
  friend class Client;
  Transaction(Client* client, TxnId id) : client_(client), id_(id) {}
  Client* client_;
  TxnId id_;
};

class Client {
 public:
  // Fails with InvalidArgument when `coordinators` is empty or holds a malformed address.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client();

  // Begins a transaction at the leader. Errors: Unavailable (no coordinator reachable),
  // Overloaded (the leader refuses new transactions for now; back off).
  Result<Transaction> Begin();
  // Commits (or re-asks for the decision of) a transaction by id.
  Outcome Commit(const TxnId& txid);
  Outcome Abort(const TxnId& txid);

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pact

#endif  // PACT_PARTICIPANT_INCLUDE_PACT_CLIENT_H_
