// The messages of Pact's two-phase commit, shared by the coordinator core, the participant core,
// the simulator and the Thrift edge (thrift/ mirrors them field by field; keep names and meanings
// stable).
//
// Every RPC is modelled as two one-way messages, a request and its reply, because every message
// may be lost, delivered twice, late or out of order, and the pure cores must be correct under
// all of that. The Thrift edge maps them onto calls:
//
//   Coordinator service                    Participant service
//     begin(BeginRequest)   -> BeginReply    prepare(PrepareRequest)           -> VoteReply
//     commit(CommitRequest) -> CommitReply   commit_branch(BranchCommitRequest) -> AckReply
//     abort(AbortRequest)   -> AbortReply    abort_branch(BranchAbortRequest)   -> AckReply
//     enlist(EnlistRequest) -> EnlistReply
//     outcome(OutcomeRequest) -> OutcomeReply
//
// Epochs. `epoch` in a message from a coordinator is that leader's epoch. `epoch` in a message
// from a participant is the highest coordinator epoch the participant has seen (its fence).
// A participant drops (does not answer) coordinator messages older than its fence; a coordinator
// answers only for its own epoch's decisions (DESIGN.md §2). Client requests carry no epoch:
// the txid names the epoch of the leader that began the transaction.
//
// Vocabulary (STYLE.md rule 11): 2PC owns prepare / vote / commit / abort / decision / in-doubt.
#ifndef PACT_COMMON_PROTOCOL_H_
#define PACT_COMMON_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "common/branch_id.h"
#include "common/txn_id.h"

namespace pact::protocol {

// Bumped when a message changes meaning; the Thrift IDL carries it in its service version.
inline constexpr uint32_t kProtocolVersion = 1;

// A participant's answer to PREPARE.
enum class Vote : uint8_t {
  kYes = 1,       // the branch is prepared (durable in the store and in the participant's WAL)
  kNo = 2,        // the branch cannot commit (its work was lost, the store refused, a tombstone)
  kReadOnly = 3,  // the branch wrote nothing and is finished; it takes no part in phase 2
};

// The fate of a transaction (or of one branch, in AckReply).
enum class Outcome : uint8_t {
  kCommitted = 1,
  kAborted = 2,
  // OutcomeReply: UNKNOWN-YET - the decision is still being made; ask again later.
  // CommitReply / AbortReply: the coordinator cannot tell (it no longer remembers the
  // transaction, or the decision is still pending); the caller must treat the outcome as
  // unknown and never assume either.
  kUnknown = 3,
};

enum class BeginStatus : uint8_t {
  kOk = 1,
  kOverloaded = 2,  // inflight_txns_max transactions are open; back off and retry
  kNotLeader = 3,   // this replica does not lead; ask another one
};

enum class EnlistStatus : uint8_t {
  kEnlisted = 1,    // `branch` is the branch number; the participant may now report its work
  kRefused = 2,     // commit has started, the transaction ended or is unknown, or the
                    // participant restarted since it enlisted (its earlier work is lost)
  kOverloaded = 3,  // the transaction already has branches_per_txn_max branches
};

// ---- Client -> coordinator -------------------------------------------------------------------

// Opens a global transaction. `request_id` is chosen by the client and echoed in the reply so
// that a client can match replies to retried requests.
// `lease` > 1 asks for a lease instead of one transaction begun now: `lease` consecutive txids
// from the reply's `txn`, each of which begins when it is first used (enlisted in, committed or
// aborted), until `lease_ticks` from now. A client then begins most transactions without a
// round trip. A leased txid not used in time is aborted, as a transaction that timed out.
// `timeout_ticks`: the transaction (each of the lease's) aborts if not committed this long after
// it began; 0 means the coordinator's default, and more than its maximum means the maximum.
struct BeginRequest {
  uint64_t request_id = 0;
  uint32_t lease = 1;
  uint64_t timeout_ticks = 0;
};
struct BeginReply {
  uint64_t epoch = 0;
  uint64_t request_id = 0;
  BeginStatus status = BeginStatus::kOk;
  TxnId txn{};               // valid only when status == kOk
  uint32_t leased = 0;       // kOk with a lease: txids txn .. txn + leased - 1
  uint64_t lease_ticks = 0;  // ... usable for this long from when the coordinator granted them
};

// Asks the coordinator to commit `txn`. The reply comes once the outcome is decided: COMMITTED
// only after the commit decision is chosen (durable), ABORTED only when it is certain.
struct CommitRequest {
  TxnId txn{};
};
struct CommitReply {
  uint64_t epoch = 0;
  TxnId txn{};
  Outcome outcome = Outcome::kUnknown;
};

// Asks the coordinator to abort `txn`. Too late once a commit decision was proposed: the reply
// then says kCommitted or kUnknown.
struct AbortRequest {
  TxnId txn{};
};
struct AbortReply {
  uint64_t epoch = 0;
  TxnId txn{};
  Outcome outcome = Outcome::kUnknown;
};

// ---- Participant -> coordinator --------------------------------------------------------------

// Sent when the participant first does work for `txn`. `participant` is the participant's
// stable name (the key the coordinator uses to reach it). `incarnation` counts the
// participant's restarts (durable): a repeated enlistment from a newer incarnation means the
// earlier work was lost, and is refused.
struct EnlistRequest {
  uint64_t epoch = 0;
  TxnId txn{};
  std::string participant{};
  uint64_t incarnation = 0;
};
struct EnlistReply {
  uint64_t epoch = 0;
  TxnId txn{};
  EnlistStatus status = EnlistStatus::kRefused;
  uint32_t branch = 0;  // valid only when status == kEnlisted; the same for a repeated request
};

// An in-doubt participant asks for the outcome of `txn` (after a timeout or a restart).
struct OutcomeRequest {
  uint64_t epoch = 0;
  TxnId txn{};
};
struct OutcomeReply {
  uint64_t epoch = 0;
  TxnId txn{};
  Outcome outcome = Outcome::kUnknown;  // kUnknown: UNKNOWN-YET
};

// ---- Coordinator -> participant --------------------------------------------------------------

// Phase 1: prepare the branch and vote.
struct PrepareRequest {
  uint64_t epoch = 0;
  BranchId branch{};
};
struct VoteReply {
  uint64_t epoch = 0;
  BranchId branch{};
  Vote vote = Vote::kNo;
};

// Phase 2: the decision is COMMIT. With `one_phase` (the transaction has a single branch) no
// PREPARE was sent: the participant prepares and commits at once, and its AckReply carries the
// transaction's outcome (kCommitted, or kAborted when its branch could not commit).
struct BranchCommitRequest {
  uint64_t epoch = 0;
  BranchId branch{};
  bool one_phase = false;
};

// The decision is ABORT (or the branch was never prepared and must not be).
struct BranchAbortRequest {
  uint64_t epoch = 0;
  BranchId branch{};
};

// The answer to BranchCommitRequest and BranchAbortRequest: the branch's final state, durable
// in the participant's WAL before the reply is sent. kUnknown answers a two-phase COMMIT for a
// branch the participant does not know: its log does not show it committed, and nothing
// changed (the Thrift edge raises UnknownTransaction).
struct AckReply {
  uint64_t epoch = 0;
  BranchId branch{};
  Outcome outcome = Outcome::kUnknown;  // kCommitted or kAborted; kUnknown: see above
};

using Message =
    std::variant<BeginRequest, BeginReply, CommitRequest, CommitReply, AbortRequest, AbortReply,
                 EnlistRequest, EnlistReply, OutcomeRequest, OutcomeReply, PrepareRequest,
                 VoteReply, BranchCommitRequest, BranchAbortRequest, AckReply>;

// "PrepareRequest", "VoteReply", ...
std::string_view MessageName(const Message& message);
// One line, stable (it appears in simulator traces): "VoteReply{epoch=3 branch=3.7/2 vote=YES}".
std::string ToString(const Message& message);
std::string_view Name(Vote vote);        // "YES", "NO", "READ_ONLY"
std::string_view Name(Outcome outcome);  // "COMMITTED", "ABORTED", "UNKNOWN"
std::string_view Name(BeginStatus status);
std::string_view Name(EnlistStatus status);

// The epoch a message carries, or 0 for client requests (which carry none).
uint64_t EpochOf(const Message& message);
// The transaction a message is about; invalid (0.0) for BeginRequest and a failed BeginReply.
TxnId TxnOf(const Message& message);

}  // namespace pact::protocol

#endif  // PACT_COMMON_PROTOCOL_H_
