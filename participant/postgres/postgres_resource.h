// PostgresResource: the Resource for one PostgreSQL database, over libpq (DESIGN §4).
//
// A branch is a transaction on a connection of its own: BeginBranch takes a connection (from a
// bounded pool of idle ones, else a new one); Exec runs the branch's statements, the first one
// in a single round trip with BEGIN (libpq pipeline mode), and moves to a new connection once
// if the pooled one turns out to be lost; Prepare runs PREPARE TRANSACTION '<gid>' with the gid
// "pact:<cluster>:<epoch>:<seq>:<branch>" (BranchId::Gid), in one round trip with the check
// whether the branch wrote anything, after which the transaction belongs to the server, not to
// the session, and the connection goes back to the pool. So a writing branch with one statement
// costs three round trips: BEGIN + statement, check + PREPARE, COMMIT PREPARED. A branch that
// ran no statement costs none. CommitPrepared and Rollback of a prepared branch use any
// connection (COMMIT PREPARED / ROLLBACK PREPARED) and reconnect, with bounded retries and
// backoff, when the connection is lost - e.g. across a server restart, which prepared
// transactions survive. ListPrepared reads pg_prepared_xacts of this database, keeping only
// gids of this cluster.
//
// Each connection keeps the client's queries and DML, and the writes-nothing check, prepared on
// the server (statement_cache_size; StatementCache), so that the server does not parse and plan
// them at every execution. That costs no round trip: a statement's first use on a connection
// sends its Parse along with its execution. A cached statement that the session lost (SQLSTATE
// 26000: the client ran DEALLOCATE ALL) or whose result columns changed with its table (0A000)
// fails like any statement, dooming the branch; the next use prepares it again.
//
// PostgreSQL ends a transaction at its first failing statement, so one failed Exec dooms the
// branch: later Execs fail at once and Prepare rolls it back and fails (the participant votes
// NO). Statements must not end the transaction themselves (COMMIT, ROLLBACK, PREPARE
// TRANSACTION); Exec detects that afterwards, fails, and the branch can then only be rolled back.
//
// Needs max_prepared_transactions > 0 on the server (checked by Open), PostgreSQL 13 or later
// (pg_current_xact_id_if_assigned) and libpq 14 or later (pipeline mode). Several resources
// (even of several clusters) may share one database; they tell their prepared transactions
// apart by gid.
//
// Thread-safety: all methods are safe to call concurrently for different branches (the branch
// table and the pool sit behind a mutex; a connection is used by one thread at a time). Calls
// for one branch must come from one thread at a time, as Resource requires; a call that overlaps
// another for the same branch fails with FailedPrecondition instead of sharing its connection.
//
// Errors: never exceptions. kUnavailable when the server cannot be reached (retry later);
// kAborted when the branch's transaction is gone (a conflict or timeout, a lost connection, an
// earlier failed statement);
// kOverloaded when active_branches_max branches are open; the SQLSTATE and the server's message
// are in every error that comes from the server.
#ifndef PACT_PARTICIPANT_POSTGRES_POSTGRES_RESOURCE_H_
#define PACT_PARTICIPANT_POSTGRES_POSTGRES_RESOURCE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/branch_id.h"
#include "common/clock.h"
#include "common/status.h"
#include "pact/resource.h"
#include "participant/postgres/pg_connection.h"

namespace pact {

struct PostgresResourceOptions {
  // Connections kept open between branches; more are closed when they come back.
  size_t idle_connections_max = 8;
  // Branches open at once (each holds a connection and a server backend). BeginBranch beyond
  // this fails with kOverloaded.
  size_t active_branches_max = 64;
  int connect_timeout_seconds = 10;
  // Longest a statement may run before the server cancels it (kAborted); 0 means no limit. A
  // statement may wait on a row lock of an in-doubt prepared branch, which can take long.
  int statement_timeout_ms = 30'000;
  // For operations that may run on any connection (taking a branch's connection, COMMIT
  // PREPARED, ROLLBACK PREPARED, ListPrepared): attempts when the connection is lost or cannot
  // be made, and the backoff between them, doubling from initial to max. (A branch's first
  // statement, which carries its BEGIN, runs on a new connection at most once more.)
  int reconnect_attempts_max = 8;
  uint64_t reconnect_backoff_initial_ms = 50;
  uint64_t reconnect_backoff_max_ms = 2'000;
  // Time for the backoff; not owned, must outlive the resource. Null: the system clock.
  Clock* clock = nullptr;
  // Statements kept prepared on the server, per connection (PgConnectOptions): the client's
  // queries and DML, and the writes-nothing check. 0 turns the cache off; at most 10'000.
  size_t statement_cache_size = 64;
};

class PostgresResource final : public Resource {
 public:
  // Connects to `dsn` (libpq connection string or URI) for cluster `cluster`. Fails with
  // InvalidArgument for a bad cluster name, DSN or options; kUnavailable when the database
  // cannot be reached; kFailedPrecondition when max_prepared_transactions is 0 or the server is
  // older than PostgreSQL 13 (the messages say how to fix it).
  static Result<std::unique_ptr<PostgresResource>> Open(const std::string& dsn,
                                                        std::string_view cluster,
                                                        PostgresResourceOptions options = {});

  // Closes every connection: the server rolls back branches that are still active; prepared
  // branches stay prepared. No branch call may be running.
  ~PostgresResource() override;

  PostgresResource(const PostgresResource&) = delete;
  PostgresResource& operator=(const PostgresResource&) = delete;

  // "postgres:<database>".
  std::string_view name() const override { return name_; }

  // InvalidArgument for an invalid id; FailedPrecondition when the branch is already open here;
  // kOverloaded beyond active_branches_max; kUnavailable when no connection can be made.
  Status BeginBranch(const BranchId& branch) override;

  // Runs one statement with text parameters ($1, $2, ...) in the branch's transaction; the
  // branch's first statement begins the transaction.
  // FailedPrecondition when the branch is not open or is busy; kAborted when it failed earlier;
  // else the statement's error (which dooms the branch, see above).
  Result<SqlResult> Exec(const BranchId& branch, std::string_view sql,
                         const std::vector<SqlParam>& params = {});

  // kPrepared after PREPARE TRANSACTION succeeded; kReadOnly when the branch wrote nothing (no
  // transaction id was assigned, or no statement ran): it is then finished (its PREPARE rolled
  // back, which for a transaction that wrote nothing is as good as a commit) and nothing stays
  // prepared. Any error means the branch was rolled back and the vote is NO - except
  // kOutcomeUnknown: the connection broke during PREPARE TRANSACTION, or rolling back the
  // PREPARE of a branch that wrote nothing failed, and the server could not be reached again to
  // roll the gid back, so it may be prepared; ListPrepared after the server is back tells.
  Result<PrepareResult> Prepare(const BranchId& branch) override;

  // COMMIT PREPARED. NotFound when the database holds no prepared transaction of that gid;
  // FailedPrecondition when the branch is still active (not prepared) here; kUnavailable when
  // the server stayed unreachable through every retry.
  Status CommitPrepared(const BranchId& branch) override;
  // One round trip on one connection for all of them, and one WAL flush: every COMMIT PREPARED
  // but the last runs with synchronous_commit off, and the last one's flush covers the others'
  // commit records (the WAL is flushed in order).
  std::vector<Status> CommitPreparedMany(const std::vector<BranchId>& branches) override;
  // Sends every branch's PREPARE on its own connection before reading any answer, so that their
  // round trips and WAL flushes overlap.
  std::vector<Result<PrepareResult>> PrepareMany(const std::vector<BranchId>& branches) override;

  // An active branch: ROLLBACK on its connection (closing it if that fails, which also rolls
  // back). Otherwise ROLLBACK PREPARED; OK when the database holds nothing of it.
  Status Rollback(const BranchId& branch) override;

  // The prepared branches of this cluster in this database, sorted. Gids of other clusters,
  // other databases and other programs are skipped.
  Result<std::vector<BranchId>> ListPrepared() override;

  // Introspection, for tests and metrics.
  size_t active_branches() const;
  size_t idle_connections() const;
  // Statement round trips to the server so far, on all connections (connecting not counted).
  uint64_t round_trips() const;

 private:
  struct Branch {
    // Null while BeginBranch is connecting and while Exec uses it (busy).
    std::unique_ptr<PgConnection> conn;
    bool busy = false;  // a call is using conn outside the mutex
    // A statement ran, so BEGIN was sent with the first one. Before, the connection is idle:
    // there is no transaction to prepare or roll back.
    bool begun = false;
    Status failure;  // why the transaction is doomed; OK while it is not
  };

  PostgresResource(std::string cluster, std::string dsn, PostgresResourceOptions options,
                   std::string database, std::unique_ptr<std::atomic<uint64_t>> round_trips);

  // Takes an idle connection, or makes one.
  Result<std::unique_ptr<PgConnection>> AcquireConnection();
  // For a branch: takes an idle connection (or, when `fresh`, always makes a new one); while
  // the server cannot be reached, waits and tries again, up to reconnect_attempts_max attempts.
  Result<std::unique_ptr<PgConnection>> ConnectForBranch(bool fresh);
  // Closes every idle connection (after a lost one: the server probably restarted).
  void DropIdleConnections();
  // Returns a connection to the pool if it is healthy, idle and there is room; else closes it.
  void ReleaseConnection(std::unique_ptr<PgConnection> conn);
  // Runs `op` on a pooled connection; when the connection is lost (or cannot be made), waits
  // and retries on a new one, up to reconnect_attempts_max attempts. `op` must be safe to repeat.
  template <typename T, typename Op>
  Result<T> WithReconnect(std::string_view what, Op op);
  void Backoff(int attempt);

  // A branch's first statement, with its BEGIN, in one round trip; replaces `conn` when it was
  // lost and runs both again on a new connection. Fills `*error` on failure, as Exec does.
  Result<SqlResult> BeginWithStatement(std::unique_ptr<PgConnection>& conn, std::string_view sql,
                                       const std::vector<SqlParam>& params, SqlError* error);
  // Takes a branch out of the table for Prepare/Rollback. NotFound when it is not there.
  Result<Branch> TakeBranch(const BranchId& branch);
  // Prepare's answers that need no PREPARE TRANSACTION (the branch is not open, failed earlier,
  // or ran no statement); they give the branch's connection back. nullopt: it must be prepared.
  std::optional<Result<PrepareResult>> AnswerWithoutPrepare(const BranchId& branch,
                                                            Result<Branch>& taken);
  Result<PrepareResult> PrepareOnConnection(const BranchId& branch, PgConnection& conn);
  // What the results of the writes-nothing check and PREPARE TRANSACTION mean for the vote.
  Result<PrepareResult> FinishPrepare(const BranchId& branch, PgConnection& conn,
                                      const std::string& gid_literal,
                                      const Result<std::vector<SqlResult>>& results,
                                      const PipelineError& failed);
  // Rolls the branch's transaction back; Aborted with `cause`.
  Status RolledBack(const BranchId& branch, PgConnection& conn, const Status& cause);
  // After PREPARE TRANSACTION of a branch that wrote nothing: rolls the gid back.
  Result<PrepareResult> UndoReadOnlyPrepare(const BranchId& branch, PgConnection& conn,
                                            const std::string& gid_literal);
  // After a failed PREPARE TRANSACTION on a lost connection: makes sure the gid is not prepared.
  Status RollbackPreparedAfterLostPrepare(const BranchId& branch, const Status& cause);
  Status RollbackPrepared(const BranchId& branch);
  // NotFound for a COMMIT PREPARED that found no such gid.
  Status NoPreparedTransaction(const BranchId& branch) const;
  // Waits (a bounded time) until the server's WAL is flushed up to its current insert position.
  bool WaitWalFlushed(PgConnection& conn);

  const std::string cluster_;
  const std::string dsn_;
  const PostgresResourceOptions options_;
  const std::string name_;
  Clock* const clock_;
  // Shared by every connection of the resource; declared before them, so it outlives them.
  const std::unique_ptr<std::atomic<uint64_t>> round_trips_;

  mutable std::mutex mutex_;
  std::map<BranchId, Branch> branches_;              // guarded by mutex_
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mutex_
};

// `text` as a LIKE pattern that matches only itself: '!', '%' and '_' are escaped with '!'
// (use with ESCAPE '!').
std::string EscapeLikePattern(std::string_view text);

}  // namespace pact

#endif  // PACT_PARTICIPANT_POSTGRES_POSTGRES_RESOURCE_H_
