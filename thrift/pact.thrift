// Pact's wire protocol: the single source of every RPC between applications, coordinator
// replicas, participants and pactctl. C++ is generated from this file into the build tree
// (thrift/CMakeLists.txt); nothing generated is committed.
//
// Transport: TFramedTransport + TBinaryProtocol over TCP, with the limits of
// thrift/rpc_limits.h (1 MiB frames and messages, recursion depth 16, bounded strings and
// containers). One coordinator port serves the Coordinator, Replica and Admin services through
// TMultiplexedProcessor under the service names "Coordinator", "Replica" and "Admin"; a
// participant port serves "Participant" (and, for pact-agent, "Agent").
//
// Every call may arrive twice, late or out of order; every handler is idempotent and says so.
// Errors a caller can act on are declared exceptions; anything else (transport failure,
// TApplicationException) means the outcome of the call is unknown and the caller may retry.
//
// Words: 2PC owns prepare / vote / commit / abort / decision / in-doubt; Paxos owns ballot /
// promise / accept / chosen / slot. The two vocabularies never mix.

namespace cpp pact.rpc

// ---------------------------------------------------------------------------------------------
// Identifiers

// A global transaction: (leader epoch, sequence). Both are > 0. Text form "<epoch>.<sequence>".
struct TxnId {
  1: required i64 epoch
  2: required i64 sequence
}

// One participant's branch of a transaction; `branch` is assigned by the coordinator at
// enlistment, from 1.
struct BranchRef {
  1: required TxnId txid
  2: required i32 branch
}

// What a transaction ended as, or that it has not ended yet.
enum Outcome {
  COMMITTED = 1,
  ABORTED = 2,
  // outcome(): UNKNOWN-YET, the decision is still being made; ask again later.
  // commit_transaction() / abort_transaction(): the coordinator cannot tell (it no longer
  // remembers the transaction, or the decision is pending). Never a guess: the caller must
  // treat the outcome as unknown and ask again with the same txid.
  UNKNOWN = 3,
}

// ---------------------------------------------------------------------------------------------
// Errors a caller can act on

// The input is malformed (bad id, empty field, over a limit). Retrying it unchanged never helps.
exception InvalidArgument {
  1: required string message
}

// This replica is not the leader. Retry at `leader_hint` ("host:port") when it is set.
exception NotLeader {
  1: required string message
  2: optional string leader_hint
}

// The transaction is not known here: never begun, or finished and forgotten (presumed abort).
exception UnknownTransaction {
  1: required string message
  2: required TxnId txid
}

// The request carries an epoch older than the receiver's; `current_epoch` is the receiver's.
exception StaleEpoch {
  1: required string message
  2: required i64 current_epoch
}

// A limit is reached (in-flight transactions, queue depth). Back off and retry.
exception Overloaded {
  1: required string message
  2: required i32 retry_after_ms
}

// The transaction is past the point where the call is allowed (for example enlisting after
// commit started, or committing an aborted transaction).
exception TransactionNotActive {
  1: required string message
  2: required TxnId txid
  3: required Outcome outcome
}

// ---------------------------------------------------------------------------------------------
// Coordinator service: applications and participants talk to the leader replica.

struct BeginRequest {
  // The transaction aborts if not committed within this time; 0 = the coordinator's default
  // (--txn-timeout-ms). Negative or above the coordinator's --txn-timeout-max-ms:
  // InvalidArgument. With lease_txids, each leased txid's timeout, counted from its first use.
  1: optional i32 timeout_ms = 0
  // Free text for pactctl timelines ("transfer-service").
  2: optional string client_name = ""
  // 0 or 1: one transaction, begun now. n > 1 (at most 1024): a lease of up to n consecutive
  // txids from `txid` (the coordinator may grant fewer), each of which begins when it is first
  // used - enlisted in, committed or aborted - provided that is within `lease_ms` of the grant.
  // A leased txid not used in time is aborted. A client begins most transactions without a
  // round trip this way.
  3: optional i32 lease_txids = 0
}

struct BeginReply {
  1: required TxnId txid
  // With a lease: txids txid .. txid + leased - 1, usable for lease_ms from the grant.
  2: optional i32 leased = 0
  3: optional i32 lease_ms = 0
}

struct EnlistRequest {
  1: required TxnId txid
  // Stable id of the participant ("bank_a"); the same participant enlisting twice for one
  // transaction gets the same branch back (idempotent).
  2: required string participant_id
  // Where the coordinator reaches the participant's Participant service ("host:port").
  3: required string participant_address
  // Counts the participant's restarts (durable). A repeated enlistment from a newer
  // incarnation means the earlier work was lost, and is refused.
  4: required i64 incarnation
}

struct EnlistReply {
  1: required BranchRef branch
}

struct CommitRequest {
  1: required TxnId txid
}

struct CommitReply {
  // COMMITTED only once the commit decision is chosen; ABORTED only when certain; UNKNOWN
  // otherwise (ask again).
  1: required Outcome outcome
  2: optional string abort_reason
}

struct AbortRequest {
  1: required TxnId txid
  2: optional string reason = ""
}

struct OutcomeRequest {
  1: required TxnId txid
  // The highest coordinator epoch the asking participant has seen (its fence); 0 for others.
  2: optional i64 epoch = 0
}

struct OutcomeReply {
  1: required Outcome outcome
}

struct AbortReply {
  1: required Outcome outcome
}

service Coordinator {
  // Starts a transaction of the leader's epoch.
  BeginReply begin_transaction(1: BeginRequest request)
      throws (1: NotLeader not_leader, 2: Overloaded overloaded, 3: InvalidArgument invalid)

  // Registers a participant's branch before it reports work done. Refused once commit started.
  EnlistReply enlist(1: EnlistRequest request)
      throws (1: NotLeader not_leader, 2: UnknownTransaction unknown, 3: StaleEpoch stale,
              4: TransactionNotActive not_active, 5: InvalidArgument invalid,
              6: Overloaded overloaded)

  // Runs two-phase commit and answers once the decision is chosen. Idempotent: asking again
  // for the same txid answers the same decision. A transport error means UNKNOWN: ask again.
  CommitReply commit_transaction(1: CommitRequest request)
      throws (1: NotLeader not_leader, 2: UnknownTransaction unknown, 3: StaleEpoch stale,
              4: InvalidArgument invalid, 5: Overloaded overloaded)

  // Aborts a transaction that has not started to commit. Idempotent. Too late once a commit
  // decision was proposed: the reply then says COMMITTED or UNKNOWN.
  AbortReply abort_transaction(1: AbortRequest request)
      throws (1: NotLeader not_leader, 2: UnknownTransaction unknown,
              3: TransactionNotActive not_active, 4: InvalidArgument invalid,
              5: Overloaded overloaded)

  // The decision for a transaction, as far as this replica knows it. Any replica answers;
  // ABORTED only when no COMMIT can be chosen any more.
  OutcomeReply outcome(1: OutcomeRequest request)
      throws (1: NotLeader not_leader, 2: InvalidArgument invalid, 3: Overloaded overloaded)
}

// ---------------------------------------------------------------------------------------------
// Participant service: the coordinator drives a branch.

enum Vote {
  YES = 1,        // prepared durably; will do whichever the decision says
  NO = 2,         // cannot commit; the branch is rolled back
  READ_ONLY = 3,  // wrote nothing; already finished, needs no second phase
}

struct PrepareRequest {
  1: required BranchRef branch
  2: required i64 coordinator_epoch
}

struct PrepareReply {
  1: required Vote vote
  2: optional string reason
}

struct CommitBranchRequest {
  1: required BranchRef branch
  2: required i64 coordinator_epoch
  // True for one-phase commit: the coordinator sent no PREPARE, this is the only writer.
  3: optional bool one_phase = false
}

// The branch's final state (COMMITTED or ABORTED), durable in the participant's WAL before
// the reply is sent. For one-phase commit it is the transaction's outcome.
struct BranchAckReply {
  1: required Outcome outcome
}

struct AbortBranchRequest {
  1: required BranchRef branch
  2: required i64 coordinator_epoch
}

// One request of a Participant.exchange batch: exactly one of the three is set.
struct ParticipantRequest {
  1: optional PrepareRequest prepare
  2: optional CommitBranchRequest commit
  3: optional AbortBranchRequest abort
}

// The answer to one ParticipantRequest: `vote` for a prepare, `ack` for a commit or abort, or
// `refused` when the single call would have thrown instead (then nothing changed, except that
// an unanswered request may still take effect, as with a lost reply: the coordinator asks
// again later).
struct ParticipantAnswer {
  1: optional PrepareReply vote
  2: optional BranchAckReply ack
  3: optional string refused
  // Set with `refused` when the request's epoch is older than this participant's fence.
  4: optional i64 current_epoch
  // Set with `refused` when commit_branch would throw UnknownTransaction.
  5: optional bool unknown_branch
}

service Participant {
  // Idempotent: a repeat answers the same vote. A branch whose work was lost answers NO; a
  // tombstoned branch (aborted before prepare) answers NO and is never prepared.
  PrepareReply prepare(1: PrepareRequest request)
      throws (1: StaleEpoch stale, 2: InvalidArgument invalid, 3: Overloaded overloaded)

  // Idempotent. For a branch this participant does not know, succeeds only if its log shows
  // the branch committed.
  BranchAckReply commit_branch(1: CommitBranchRequest request)
      throws (1: StaleEpoch stale, 2: UnknownTransaction unknown, 3: InvalidArgument invalid,
              4: Overloaded overloaded)

  // Idempotent. For an unknown branch, writes a durable tombstone first.
  BranchAckReply abort_branch(1: AbortBranchRequest request)
      throws (1: StaleEpoch stale, 2: InvalidArgument invalid, 3: Overloaded overloaded)

  // Many of the calls above in one round trip, for branches of different transactions: a
  // coordinator sends a participant everything that queued up for it while its previous call
  // was in flight. The participant handles them together - one fsync of its log for all their
  // records, one PostgreSQL round trip for all their COMMIT PREPAREDs - and answers each as its
  // single call would, in request order. InvalidArgument (and nothing done) when the list is
  // empty or longer than 1024 (rpc_limits.h), or an entry is malformed (not exactly one
  // request, an invalid branch id or epoch).
  list<ParticipantAnswer> exchange(1: list<ParticipantRequest> requests)
      throws (1: InvalidArgument invalid)
}

// ---------------------------------------------------------------------------------------------
// Agent service: pact-agent runs operations on the store it fronts, inside a global
// transaction. The first operation for a txid enlists the agent's branch with the coordinator.

// The store refused the operation (constraint violation, syntax error, conflict, lock wait
// timeout). The branch stays usable only if `branch_usable`; otherwise it will vote NO.
exception StoreError {
  1: required string message
  // PostgreSQL SQLSTATE ("23505"), empty for the KV store.
  2: optional string sqlstate
  3: required bool branch_usable
}

// One SQL parameter or value; unset `value` is SQL NULL. Text form, as libpq sends it.
struct SqlValue {
  1: optional string value
}

struct SqlRequest {
  1: required TxnId txid
  // Parameterised SQL: $1, $2, ... bind `params` in order.
  2: required string sql
  3: optional list<SqlValue> params = []
}

struct SqlReply {
  1: required list<string> columns
  2: required list<list<SqlValue>> rows
  // Rows inserted, updated or deleted (0 for a SELECT).
  3: required i64 affected_rows
}

enum KvOp {
  GET = 1,
  PUT = 2,
  DELETE = 3,
  SCAN = 4,   // keys in [key, end_key), at most `limit`
}

struct KvRequest {
  1: required TxnId txid
  2: required KvOp op
  3: required binary key
  4: optional binary value
  5: optional binary end_key
  6: optional i32 limit = 100
}

struct KvEntry {
  1: required binary key
  2: required binary value
}

struct KvReply {
  // GET: whether the key exists; its value in `entries[0]`. SCAN: the entries in key order.
  1: required bool found
  2: required list<KvEntry> entries
}

service Agent {
  SqlReply execute_sql(1: SqlRequest request)
      throws (1: InvalidArgument invalid, 2: TransactionNotActive not_active,
              3: StoreError store_error, 4: Overloaded overloaded, 5: NotLeader not_leader)
  KvReply execute_kv(1: KvRequest request)
      throws (1: InvalidArgument invalid, 2: TransactionNotActive not_active,
              3: StoreError store_error, 4: Overloaded overloaded, 5: NotLeader not_leader)
}

// ---------------------------------------------------------------------------------------------
// Replica service: Multi-Paxos among coordinator replicas for the decision log.

// What a decision-log slot holds.
enum EntryKind {
  // A new leader epoch; every later entry of that leader carries it.
  EPOCH = 1,
  // COMMIT(txid, branches): the transaction commits.
  COMMIT_DECISION = 2,
  // The transaction ended (lazily recorded after every branch acknowledged).
  TXN_END = 3,
}

struct LogEntry {
  1: required EntryKind kind
  2: required i64 epoch
  3: optional TxnId txid
  4: optional list<BranchRef> branches
  // Where each branch's participant listens, in the order of `branches`.
  5: optional list<string> participant_addresses
}

struct Ballot {
  1: required i64 round
  2: required i32 replica_id
}

struct PromiseRequest {
  1: required Ballot ballot
  // The lowest slot the candidate does not know to be chosen.
  2: required i64 first_unchosen_slot
}

struct AcceptedSlot {
  1: required i64 slot
  2: required Ballot ballot
  3: required LogEntry entry
}

struct PromiseReply {
  1: required bool promised
  // The highest ballot this replica has promised (a rejection names it).
  2: required Ballot promised_ballot
  // Every slot >= first_unchosen_slot this replica has accepted, with its ballot.
  3: required list<AcceptedSlot> accepted
}

struct AcceptRequest {
  1: required Ballot ballot
  2: required i64 slot
  3: required LogEntry entry
  // Every slot below this one is chosen (lets followers learn without extra messages).
  4: required i64 chosen_below_slot
}

struct AcceptReply {
  1: required bool accepted
  2: required Ballot promised_ballot
}

struct ChosenRequest {
  1: required i64 from_slot
  2: required i32 slots_max
}

struct ChosenReply {
  1: required list<AcceptedSlot> chosen
  2: required i64 chosen_below_slot
}

service Replica {
  PromiseReply promise(1: PromiseRequest request) throws (1: InvalidArgument invalid)
  AcceptReply accept(1: AcceptRequest request) throws (1: InvalidArgument invalid)
  // Catch-up: chosen entries from a slot, at most `slots_max`.
  ChosenReply chosen(1: ChosenRequest request) throws (1: InvalidArgument invalid)
}

// ---------------------------------------------------------------------------------------------
// Admin service: pactctl.

struct ReplicaStatus {
  1: required i32 replica_id
  2: required string address
  3: required bool is_leader
  4: required i64 epoch
  5: required i64 chosen_below_slot
  6: required bool reachable
}

struct ClusterStatus {
  1: required string cluster
  2: required list<ReplicaStatus> replicas
  3: required i32 inflight_txns
}

enum TxnState {
  ACTIVE = 1,
  PREPARING = 2,
  COMMITTING = 3,   // COMMIT chosen, phase 2 under way
  ABORTING = 4,
  ENDED = 5,
}

struct BranchStatus {
  1: required BranchRef branch
  2: required string participant_id
  3: required string participant_address
  4: optional Vote vote
  5: required bool acknowledged
}

struct TxnStatus {
  1: required TxnId txid
  2: required TxnState state
  3: required list<BranchStatus> branches
  4: required i64 age_ms
  5: optional string client_name
}

struct TimelineEvent {
  1: required i64 at_unix_ms
  2: required string what
}

struct ForceOutcomeRequest {
  1: required TxnId txid
  // COMMITTED or ABORTED. Refused if it contradicts a chosen decision.
  2: required Outcome outcome
  // Who forces it and why: recorded in the audit trail, both required and non-empty.
  3: required string operator_name
  4: required string reason
}

service Admin {
  ClusterStatus cluster_status()
  // Transactions that are not ENDED, oldest first, at most `txns_max`.
  list<TxnStatus> list_unfinished(1: i32 txns_max) throws (1: NotLeader not_leader)
  list<TimelineEvent> timeline(1: TxnId txid)
      throws (1: NotLeader not_leader, 2: UnknownTransaction unknown)
  OutcomeReply force_outcome(1: ForceOutcomeRequest request)
      throws (1: NotLeader not_leader, 2: UnknownTransaction unknown,
              3: TransactionNotActive not_active, 4: InvalidArgument invalid)
}
