// PostgresResource against a real PostgreSQL server, started once per test suite by the
// integration harness (fsync on, as in production).
#include "participant/postgres/postgres_resource.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "tests/integration/postgres_server.h"

namespace pact {
namespace {

using integration::PostgresServer;
using integration::PostgresServerOptions;

constexpr char kDb[] = "pact";

BranchId Branch(uint64_t sequence, uint32_t branch = 1) {
  return BranchId{TxnId{1, sequence}, branch};
}

// Options that give up quickly, for tests that expect the server to stay unreachable.
PostgresResourceOptions FastGiveUp() {
  PostgresResourceOptions options;
  options.reconnect_attempts_max = 2;
  options.reconnect_backoff_initial_ms = 10;
  options.reconnect_backoff_max_ms = 10;
  options.connect_timeout_seconds = 2;
  return options;
}

class PostgresResourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<PostgresServer>> started = PostgresServer::Start();
    if (!started.ok()) {
      *start_error_ = started.status().ToString();
      return;
    }
    const Status created = (*started)->CreateDatabase(kDb);
    if (!created.ok()) {
      *start_error_ = created.ToString();
      return;
    }
    server_ = std::move(started).value().release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the PostgreSQL server did not start: " << *start_error_;
    // Tests of one suite share the server; each gets its own cluster name and table.
    ++test_number_;
    cluster_ = "c" + std::to_string(test_number_);
    table_ = "t" + std::to_string(test_number_);
    ASSERT_TRUE(Sql(fmt::format("CREATE TABLE {} (k text PRIMARY KEY, v int)", table_)).ok());
  }

  // A resource whose sessions carry application_name `application`, so that a test can find
  // them in pg_stat_activity.
  std::unique_ptr<PostgresResource> OpenResourceAs(std::string_view application,
                                                   PostgresResourceOptions options = {}) {
    Result<std::unique_ptr<PostgresResource>> resource = PostgresResource::Open(
        fmt::format("{} application_name={}", server_->Dsn(kDb), application), cluster_, options);
    PACT_CHECK(resource.ok(), "{}", resource.status().ToString());
    return std::move(resource).value();
  }

  std::unique_ptr<PostgresResource> OpenResource(std::string_view cluster = {},
                                                 PostgresResourceOptions options = {},
                                                 std::string_view db = kDb) {
    Result<std::unique_ptr<PostgresResource>> resource = PostgresResource::Open(
        server_->Dsn(db), cluster.empty() ? std::string_view(cluster_) : cluster, options);
    PACT_CHECK(resource.ok(), "{}", resource.status().ToString());
    return std::move(resource).value();
  }

  // SQL through a connection of its own (the harness's), as an outside observer.
  Result<std::vector<std::vector<std::string>>> Sql(std::string_view sql,
                                                    std::string_view db = kDb) {
    return server_->Query(db, sql);
  }

  std::string SqlOne(std::string_view sql, std::string_view db = kDb) {
    auto rows = Sql(sql, db);
    if (!rows.ok()) return "error: " + rows.status().ToString();
    if (rows->size() != 1 || (*rows)[0].size() != 1) return "not one value";
    return (*rows)[0][0];
  }

  std::string PreparedCount(const BranchId& branch) {
    return SqlOne(fmt::format("SELECT count(*) FROM pg_prepared_xacts WHERE gid = '{}'",
                              branch.Gid(cluster_)));
  }

  std::string RowCount() { return SqlOne(fmt::format("SELECT count(*) FROM {}", table_)); }

  // Locks on the test's table, held by sessions or by prepared transactions.
  std::string LocksOnTable() {
    return SqlOne(
        fmt::format("SELECT count(*) FROM pg_locks WHERE relation = '{}'::regclass", table_));
  }

  // Sessions of `application` inside a transaction block, as the server sees them.
  std::string SessionsInTransaction(std::string_view application) {
    return SqlOne(fmt::format(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{}' AND state LIKE "
        "'idle in transaction%'",
        application));
  }

  // Ends the server sessions of `application` (pg_terminate_backend) and waits until they are
  // gone; their clients do not notice until they next talk to the server. Returns how many
  // sessions there were.
  std::string TerminateSessions(std::string_view application) {
    const std::string terminated =
        SqlOne(fmt::format("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = '{}'",
                           application));
    constexpr int kPollsMax = 500;
    for (int poll = 0; poll < kPollsMax; ++poll) {
      if (SqlOne(fmt::format("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{}'",
                             application)) == "0") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return terminated;
  }

  // Begins `branch` and inserts (key, value) in it.
  void BeginAndInsert(PostgresResource& resource, const BranchId& branch, const std::string& key,
                      int value) {
    ASSERT_TRUE(resource.BeginBranch(branch).ok());
    Result<SqlResult> inserted =
        resource.Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_),
                      {key, std::to_string(value)});
    ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
    EXPECT_EQ(inserted->rows_affected, 1u);
  }

  static PostgresServer* server_;
  static std::string* start_error_;
  static int test_number_;
  std::string cluster_;
  std::string table_;
};

PostgresServer* PostgresResourceTest::server_ = nullptr;
std::string* PostgresResourceTest::start_error_ = new std::string();
int PostgresResourceTest::test_number_ = 0;

TEST_F(PostgresResourceTest, PreparedBranchSurvivesClosedConnectionsAndRestartThenCommits) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  EXPECT_EQ(resource->name(), "postgres:pact");
  const BranchId branch = Branch(1);
  BeginAndInsert(*resource, branch, "alice", 100);
  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_TRUE(vote.ok()) << vote.status().ToString();
  EXPECT_EQ(*vote, PrepareResult::kPrepared);

  resource.reset();  // every connection closed: the prepared transaction is not tied to them
  EXPECT_EQ(PreparedCount(branch), "1");
  EXPECT_EQ(RowCount(), "0") << "prepared work must not be visible before commit";

  ASSERT_TRUE(server_->Restart().ok());
  resource = OpenResource();
  Result<std::vector<BranchId>> listed = resource->ListPrepared();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, std::vector<BranchId>{branch});

  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT v FROM {} WHERE k = 'alice'", table_)), "100");
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_TRUE(resource->ListPrepared()->empty());
}

TEST_F(PostgresResourceTest, SecondCommitPreparedIsNotFound) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(2);
  BeginAndInsert(*resource, branch, "bob", 5);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  const Status again = resource->CommitPrepared(branch);
  EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.ToString();
  EXPECT_EQ(RowCount(), "1");
}

TEST_F(PostgresResourceTest, RollbackOfPreparedBranchDiscardsItsWork) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(3);
  BeginAndInsert(*resource, branch, "carol", 1);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  ASSERT_TRUE(resource->Rollback(branch).ok());
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(RowCount(), "0");
  EXPECT_TRUE(resource->Rollback(branch).ok()) << "a repeated rollback is OK";
  EXPECT_EQ(resource->CommitPrepared(branch).code(), StatusCode::kNotFound);
}

TEST_F(PostgresResourceTest, RollbackOfActiveBranchDiscardsItsWorkAndKeepsTheConnection) {
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const BranchId branch = Branch(4);
  BeginAndInsert(*resource, branch, "dave", 1);
  EXPECT_EQ(resource->active_branches(), 1u);
  EXPECT_EQ(resource->idle_connections(), 0u) << "the branch holds the only connection";
  ASSERT_TRUE(resource->Rollback(branch).ok());
  EXPECT_EQ(resource->active_branches(), 0u);
  EXPECT_EQ(resource->idle_connections(), 1u);
  EXPECT_EQ(RowCount(), "0");
  EXPECT_EQ(PreparedCount(branch), "0");
}

TEST_F(PostgresResourceTest, ReadOnlyBranchVotesReadOnlyAndLeavesNothingPrepared) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('x', 1)", table_)).ok());
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(5);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  Result<SqlResult> read = resource->Exec(branch, fmt::format("SELECT v FROM {}", table_));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->rows.size(), 1u);
  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_TRUE(vote.ok()) << vote.status().ToString();
  EXPECT_EQ(*vote, PrepareResult::kReadOnly);
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(SqlOne("SELECT count(*) FROM pg_prepared_xacts"), "0");
  EXPECT_EQ(resource->active_branches(), 0u);
  EXPECT_EQ(resource->CommitPrepared(branch).code(), StatusCode::kNotFound);
}

TEST_F(PostgresResourceTest, ListPreparedSkipsOtherClustersDatabasesAndForeignGids) {
  ASSERT_TRUE(server_->CreateDatabase("other").ok());
  ASSERT_TRUE(Sql("CREATE TABLE t (k text PRIMARY KEY)", "other").ok());
  // '_' is a LIKE wildcard: "pact:a_b:%" unescaped would also match cluster "aXb".
  std::unique_ptr<PostgresResource> ours = OpenResource("a_b");
  std::unique_ptr<PostgresResource> similar = OpenResource("aXb");
  std::unique_ptr<PostgresResource> other_db = OpenResource("a_b", {}, "other");
  auto prepare = [&](PostgresResource& resource, const BranchId& branch, std::string_view table) {
    ASSERT_TRUE(resource.BeginBranch(branch).ok());
    ASSERT_TRUE(
        resource
            .Exec(branch, fmt::format("INSERT INTO {} (k) VALUES ($1)", table), {branch.ToString()})
            .ok());
    ASSERT_EQ(*resource.Prepare(branch), PrepareResult::kPrepared);
  };
  prepare(*ours, Branch(6, 2), table_);
  prepare(*ours, Branch(6, 1), table_);
  prepare(*similar, Branch(7, 1), table_);
  prepare(*other_db, Branch(8, 1), "t");
  // Someone else's prepared transactions, one of them with our prefix but not our form.
  ASSERT_TRUE(Sql(fmt::format("BEGIN; INSERT INTO {} VALUES ('f1', 1); "
                              "PREPARE TRANSACTION 'not_ours'",
                              table_))
                  .ok());
  ASSERT_TRUE(Sql(fmt::format("BEGIN; INSERT INTO {} VALUES ('f2', 1); "
                              "PREPARE TRANSACTION 'pact:a_b:not-a-number'",
                              table_))
                  .ok());

  Result<std::vector<BranchId>> listed = ours->ListPrepared();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, (std::vector<BranchId>{Branch(6, 1), Branch(6, 2)}));
  EXPECT_EQ(*similar->ListPrepared(), std::vector<BranchId>{Branch(7, 1)});
  EXPECT_EQ(*other_db->ListPrepared(), std::vector<BranchId>{Branch(8, 1)});

  // Our rollbacks must leave the foreign ones alone.
  ASSERT_TRUE(ours->Rollback(Branch(6, 1)).ok());
  ASSERT_TRUE(ours->Rollback(Branch(6, 2)).ok());
  ASSERT_TRUE(similar->Rollback(Branch(7, 1)).ok());
  ASSERT_TRUE(other_db->Rollback(Branch(8, 1)).ok());
  EXPECT_EQ(SqlOne("SELECT string_agg(gid, ',' ORDER BY gid) FROM pg_prepared_xacts"),
            "not_ours,pact:a_b:not-a-number");
  ASSERT_TRUE(Sql("ROLLBACK PREPARED 'not_ours'").ok());
  ASSERT_TRUE(Sql("ROLLBACK PREPARED 'pact:a_b:not-a-number'").ok());
}

TEST_F(PostgresResourceTest, CommitPreparedOfUnknownGidIsNotFound) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const Status status = resource->CommitPrepared(Branch(9));
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
  EXPECT_NE(status.message().find(Branch(9).Gid(cluster_)), std::string::npos);
}

TEST_F(PostgresResourceTest, RollbackOfUnknownGidIsOk) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  EXPECT_TRUE(resource->Rollback(Branch(10)).ok());
}

TEST_F(PostgresResourceTest, OpenFailsClearlyWhenMaxPreparedTransactionsIsZero) {
  PostgresServerOptions options;
  options.max_prepared_transactions = 0;
  options.fsync = false;  // speed only: this server holds nothing
  Result<std::unique_ptr<PostgresServer>> no_2pc = PostgresServer::Start(options);
  ASSERT_TRUE(no_2pc.ok()) << no_2pc.status().ToString();
  Result<std::unique_ptr<PostgresResource>> resource =
      PostgresResource::Open((*no_2pc)->Dsn("postgres"), cluster_);
  ASSERT_FALSE(resource.ok());
  EXPECT_EQ(resource.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(resource.status().message().find("max_prepared_transactions"), std::string::npos)
      << resource.status().ToString();
}

TEST_F(PostgresResourceTest, OpenFailsWithUnavailableWhenNothingListens) {
  Result<int> port = integration::PickFreePort();
  ASSERT_TRUE(port.ok());
  Result<std::unique_ptr<PostgresResource>> resource = PostgresResource::Open(
      fmt::format("host=127.0.0.1 port={} dbname=pact user=postgres", *port), cluster_);
  ASSERT_FALSE(resource.ok());
  EXPECT_EQ(resource.status().code(), StatusCode::kUnavailable) << resource.status().ToString();
  EXPECT_NE(resource.status().message().find(std::to_string(*port)), std::string::npos)
      << resource.status().ToString();
}

TEST_F(PostgresResourceTest, OpenRejectsBadClusterNameAndMissingDatabase) {
  EXPECT_EQ(PostgresResource::Open(server_->Dsn(kDb), "bad:name").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PostgresResource::Open(server_->Dsn(kDb), "").status().code(),
            StatusCode::kInvalidArgument);
  Result<std::unique_ptr<PostgresResource>> missing =
      PostgresResource::Open(server_->Dsn("no_such_db"), cluster_);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no_such_db"), std::string::npos)
      << missing.status().ToString();
}

TEST_F(PostgresResourceTest, FailedStatementMakesPrepareFailAndLeavesNothingPrepared) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(11);
  BeginAndInsert(*resource, branch, "erin", 1);
  Result<SqlResult> bad = resource->Exec(branch, "INSERT INTO no_such_table VALUES (1)");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("42P01"), std::string::npos) << bad.status().ToString();

  Result<SqlResult> after = resource->Exec(branch, "SELECT 1");
  EXPECT_EQ(after.status().code(), StatusCode::kAborted) << after.status().ToString();

  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_FALSE(vote.ok());
  EXPECT_NE(vote.status().message().find("42P01"), std::string::npos) << vote.status().ToString();
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(RowCount(), "0");
  EXPECT_EQ(resource->active_branches(), 0u);
  EXPECT_TRUE(resource->Rollback(branch).ok());
}

TEST_F(PostgresResourceTest, ConstraintViolationNamesItsSqlState) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('k', 1)", table_)).ok());
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(12);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  Result<SqlResult> duplicate =
      resource->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_), {"k", "2"});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.status().message().find("23505"), std::string::npos)
      << duplicate.status().ToString();
  EXPECT_FALSE(resource->Prepare(branch).ok());
  EXPECT_EQ(PreparedCount(branch), "0");
}

TEST_F(PostgresResourceTest, PreparedBranchSurvivesKillAndRestart) {
  std::unique_ptr<PostgresResource> resource = OpenResource({}, FastGiveUp());
  const BranchId branch = Branch(13);
  BeginAndInsert(*resource, branch, "frank", 42);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);

  ASSERT_TRUE(server_->Kill().ok());
  const Status while_down = resource->CommitPrepared(branch);
  EXPECT_EQ(while_down.code(), StatusCode::kUnavailable) << while_down.ToString();

  ASSERT_TRUE(server_->Restart().ok());
  // The same resource: its pooled connections died with the server and must be replaced.
  Result<std::vector<BranchId>> listed = resource->ListPrepared();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(*listed, std::vector<BranchId>{branch});
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT v FROM {} WHERE k = 'frank'", table_)), "42");
}

TEST_F(PostgresResourceTest, CommitPreparedReconnectsAfterRestart) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(14);
  BeginAndInsert(*resource, branch, "grace", 7);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  EXPECT_GE(resource->idle_connections(), 1u);
  ASSERT_TRUE(server_->Restart().ok());
  const Status committed = resource->CommitPrepared(branch);
  EXPECT_TRUE(committed.ok()) << committed.ToString();
  EXPECT_EQ(RowCount(), "1");
}

TEST_F(PostgresResourceTest, LostConnectionAbortsTheActiveBranch) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(15);
  BeginAndInsert(*resource, branch, "heidi", 1);
  // The branch's backend is the only session of ours that is idle in a transaction.
  ASSERT_EQ(SqlOne("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE application_name = 'pact-participant' "
                   "AND state = 'idle in transaction'"),
            "1");
  Result<SqlResult> lost = resource->Exec(branch, "SELECT 1");
  EXPECT_EQ(lost.status().code(), StatusCode::kAborted) << lost.status().ToString();
  EXPECT_FALSE(resource->Prepare(branch).ok());
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(RowCount(), "0");
}

TEST_F(PostgresResourceTest, DuplicateGidFailsPrepareAndKeepsTheFirst) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(16);
  BeginAndInsert(*resource, branch, "first", 1);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  BeginAndInsert(*resource, branch, "second", 2);
  Result<PrepareResult> again = resource->Prepare(branch);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("42710"), std::string::npos) << again.status().ToString();
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT string_agg(k, ',') FROM {}", table_)), "first");
}

TEST_F(PostgresResourceTest, StatementBlockedByAPreparedBranchTimesOutAsAborted) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('k', 1)", table_)).ok());
  PostgresResourceOptions options;
  options.statement_timeout_ms = 300;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const BranchId holder = Branch(21);
  ASSERT_TRUE(resource->BeginBranch(holder).ok());
  ASSERT_TRUE(
      resource->Exec(holder, fmt::format("UPDATE {} SET v = 2 WHERE k = 'k'", table_)).ok());
  ASSERT_EQ(*resource->Prepare(holder), PrepareResult::kPrepared);  // keeps its row lock

  const BranchId blocked = Branch(22);
  ASSERT_TRUE(resource->BeginBranch(blocked).ok());
  Result<SqlResult> update =
      resource->Exec(blocked, fmt::format("UPDATE {} SET v = 3 WHERE k = 'k'", table_));
  EXPECT_EQ(update.status().code(), StatusCode::kAborted) << update.status().ToString();
  EXPECT_NE(update.status().message().find("57014"), std::string::npos)
      << update.status().ToString();
  EXPECT_FALSE(resource->Prepare(blocked).ok());
  ASSERT_TRUE(resource->CommitPrepared(holder).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT v FROM {}", table_)), "2");
}

TEST_F(PostgresResourceTest, StatementThatEndsTheTransactionDoomsTheBranch) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(17);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  Result<SqlResult> rollback = resource->Exec(branch, "ROLLBACK");
  EXPECT_EQ(rollback.status().code(), StatusCode::kFailedPrecondition)
      << rollback.status().ToString();
  EXPECT_FALSE(resource->Prepare(branch).ok());
  EXPECT_EQ(PreparedCount(branch), "0");
}

TEST_F(PostgresResourceTest, BranchCallsCheckTheBranchState) {
  PostgresResourceOptions options;
  options.active_branches_max = 2;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  EXPECT_EQ(resource->BeginBranch(BranchId{}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(resource->BeginBranch(Branch(18, 1)).ok());
  EXPECT_EQ(resource->BeginBranch(Branch(18, 1)).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(resource->BeginBranch(Branch(18, 2)).ok());
  EXPECT_EQ(resource->BeginBranch(Branch(18, 3)).code(), StatusCode::kOverloaded);
  EXPECT_EQ(resource->CommitPrepared(Branch(18, 1)).code(), StatusCode::kFailedPrecondition)
      << "an active branch is not prepared";
  EXPECT_EQ(resource->Prepare(Branch(19)).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(resource->Exec(Branch(19), "SELECT 1").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(resource->Rollback(Branch(18, 1)).ok());
  EXPECT_TRUE(resource->Rollback(Branch(18, 2)).ok());
  EXPECT_EQ(resource->active_branches(), 0u);
}

TEST_F(PostgresResourceTest, ExecReturnsColumnsRowsNullsAndCounts) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(20);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  Result<SqlResult> inserted =
      resource->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2), ($3, $4)", table_),
                     {"a", std::nullopt, "it's", "3"});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(inserted->rows_affected, 2u);
  EXPECT_EQ(inserted->command_tag, "INSERT 0 2");
  Result<SqlResult> rows =
      resource->Exec(branch, fmt::format("SELECT k, v AS value FROM {} ORDER BY k", table_));
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(rows->columns, (std::vector<std::string>{"k", "value"}));
  ASSERT_EQ(rows->rows.size(), 2u);
  EXPECT_EQ(rows->rows[0], (std::vector<SqlParam>{"a", std::nullopt}));
  EXPECT_EQ(rows->rows[1], (std::vector<SqlParam>{"it's", "3"}));
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(RowCount(), "2");
}

TEST_F(PostgresResourceTest, BranchesRunConcurrentlyFromManyThreads) {
  constexpr int kThreads = 6;
  constexpr int kBranchesPerThread = 5;
  PostgresResourceOptions options;
  options.idle_connections_max = 3;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBranchesPerThread; ++i) {
        const BranchId branch = Branch(100 + t, static_cast<uint32_t>(i + 1));
        const bool ok = resource->BeginBranch(branch).ok() &&
                        resource
                            ->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_),
                                   {branch.ToString(), std::to_string(i)})
                            .ok() &&
                        resource->Prepare(branch).ok() && resource->CommitPrepared(branch).ok();
        if (!ok) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(RowCount(), std::to_string(kThreads * kBranchesPerThread));
  EXPECT_LE(resource->idle_connections(), 3u);
  EXPECT_EQ(resource->active_branches(), 0u);
}

// ---- PgConnection::ExecPipeline -----------------------------------------------------------------

TEST_F(PostgresResourceTest, PipelineNamesTheFailedStatementAndSkipsTheRest) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('k', 1)", table_)).ok());
  std::atomic<uint64_t> round_trips{0};
  PgConnectOptions options;
  options.round_trips = &round_trips;
  Result<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(server_->Dsn(kDb), options);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();

  const std::string insert = fmt::format("INSERT INTO {} VALUES ($1, $2)", table_);
  const std::vector<SqlParam> a = {"a", "1"}, k = {"k", "2"}, b = {"b", "3"};
  const SqlStatement failing[] = {{insert, a}, {insert, k}, {insert, b}};
  PipelineError error;
  Result<std::vector<SqlResult>> results = (*conn)->ExecPipeline(failing, &error);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(results.status().message().find("SQLSTATE 23505"), std::string::npos)
      << results.status().ToString();
  EXPECT_EQ(error.statement, 1u);
  EXPECT_EQ(error.error.sqlstate, "23505");
  EXPECT_FALSE(error.error.connection_lost);
  ASSERT_EQ(error.results.size(), 1u);
  EXPECT_EQ(error.results[0].rows_affected, 1u);
  EXPECT_EQ(round_trips.load(), 1u);
  // Without BEGIN the pipeline was one implicit transaction: the first insert is rolled back
  // and the third never ran.
  EXPECT_TRUE((*conn)->idle());
  EXPECT_EQ(SqlOne(fmt::format("SELECT string_agg(k, ',') FROM {}", table_)), "k");

  const std::vector<SqlParam> forty_one = {"41"};
  const SqlStatement begin_and_add[] = {{"BEGIN", {}}, {"SELECT $1::int + 1 AS answer", forty_one}};
  results = (*conn)->ExecPipeline(begin_and_add);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_EQ((*results)[0].command_tag, "BEGIN");
  EXPECT_EQ((*results)[1].columns, std::vector<std::string>{"answer"});
  ASSERT_EQ((*results)[1].rows.size(), 1u);
  EXPECT_EQ((*results)[1].rows[0][0], "42");
  EXPECT_TRUE((*conn)->in_transaction()) << "the BEGIN outlives the pipeline";
  EXPECT_FALSE((*conn)->broken());
  EXPECT_EQ(round_trips.load(), 2u);
  ASSERT_TRUE((*conn)->Exec("ROLLBACK").ok());
  EXPECT_EQ(round_trips.load(), 3u);
}

TEST_F(PostgresResourceTest, PipelineOnALostConnectionSaysSo) {
  constexpr char kApp[] = "pipeline_lost";
  PgConnectOptions options;
  options.application_name = kApp;
  Result<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(server_->Dsn(kDb), options);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_EQ(TerminateSessions(kApp), "1");
  const SqlStatement statements[] = {{"BEGIN", {}}, {"SELECT 1", {}}};
  PipelineError error;
  Result<std::vector<SqlResult>> results = (*conn)->ExecPipeline(statements, &error);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.status().code(), StatusCode::kUnavailable) << results.status().ToString();
  EXPECT_TRUE(error.error.connection_lost);
  EXPECT_EQ(error.statement, 0u);
  EXPECT_TRUE(error.results.empty());
  EXPECT_TRUE((*conn)->broken());
}

// ---- BEGIN travels with the branch's first statement --------------------------------------------

TEST_F(PostgresResourceTest, BranchWithoutStatementsVotesReadOnlyWithoutRoundTrips) {
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const uint64_t before = resource->round_trips();
  ASSERT_TRUE(resource->BeginBranch(Branch(31)).ok());
  EXPECT_EQ(resource->idle_connections(), 0u) << "the branch holds the only connection";
  Result<PrepareResult> vote = resource->Prepare(Branch(31));
  ASSERT_TRUE(vote.ok()) << vote.status().ToString();
  EXPECT_EQ(*vote, PrepareResult::kReadOnly);
  EXPECT_EQ(resource->active_branches(), 0u);
  EXPECT_EQ(resource->idle_connections(), 1u) << "the connection goes back to the pool";

  ASSERT_TRUE(resource->BeginBranch(Branch(32)).ok());
  EXPECT_TRUE(resource->Rollback(Branch(32)).ok());
  EXPECT_EQ(resource->idle_connections(), 1u);
  EXPECT_EQ(resource->round_trips(), before) << "no transaction, nothing to tell the server";
  EXPECT_EQ(PreparedCount(Branch(31)), "0");
  EXPECT_EQ(resource->CommitPrepared(Branch(31)).code(), StatusCode::kNotFound);
}

TEST_F(PostgresResourceTest, FailingFirstStatementReportsItsSqlStateAndTheBranchVotesNo) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('k', 1)", table_)).ok());
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(35);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  const uint64_t before = resource->round_trips();
  Result<SqlResult> duplicate =
      resource->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_), {"k", "2"});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().code(), StatusCode::kInvalidArgument)
      << duplicate.status().ToString();
  EXPECT_NE(duplicate.status().message().find("SQLSTATE 23505"), std::string::npos)
      << duplicate.status().ToString();
  EXPECT_NE(duplicate.status().message().find("INSERT INTO"), std::string::npos)
      << "the message names the statement, not BEGIN: " << duplicate.status().ToString();
  EXPECT_NE(duplicate.status().message().find(branch.ToString()), std::string::npos)
      << duplicate.status().ToString();
  EXPECT_EQ(resource->round_trips(), before + 1) << "no retry for an error of the statement";

  Result<SqlResult> after = resource->Exec(branch, "SELECT 1");
  EXPECT_EQ(after.status().code(), StatusCode::kAborted) << after.status().ToString();
  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_FALSE(vote.ok());
  EXPECT_EQ(vote.status().code(), StatusCode::kAborted) << vote.status().ToString();
  EXPECT_NE(vote.status().message().find("23505"), std::string::npos) << vote.status().ToString();
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(RowCount(), "1");
  EXPECT_EQ(resource->active_branches(), 0u);
  EXPECT_GE(resource->idle_connections(), 1u) << "rolled back, the connection is reusable";
}

TEST_F(PostgresResourceTest, StalePooledConnectionIsReplacedOnTheFirstStatement) {
  constexpr char kApp[] = "rt_stale";
  std::unique_ptr<PostgresResource> resource = OpenResourceAs(kApp);
  ASSERT_EQ(resource->idle_connections(), 1u);
  ASSERT_EQ(TerminateSessions(kApp), "1");

  const BranchId branch = Branch(37);
  ASSERT_TRUE(resource->BeginBranch(branch).ok()) << "takes the stale connection, unknowingly";
  const uint64_t before = resource->round_trips();
  Result<SqlResult> inserted =
      resource->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_), {"leo", "3"});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(inserted->rows_affected, 1u);
  EXPECT_EQ(resource->round_trips(), before + 2) << "the lost attempt, then one on a new one";
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT v FROM {} WHERE k = 'leo'", table_)), "3");
}

TEST_F(PostgresResourceTest, FirstStatementIsRetriedOnlyOnceWhenTheServerIsGone) {
  std::unique_ptr<PostgresResource> resource = OpenResource({}, FastGiveUp());
  const BranchId branch = Branch(38);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  ASSERT_TRUE(server_->Kill().ok());
  const uint64_t before = resource->round_trips();
  Result<SqlResult> lost = resource->Exec(branch, "SELECT 1");
  ASSERT_TRUE(server_->Restart().ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kAborted) << lost.status().ToString();
  EXPECT_NE(lost.status().message().find("a new connection failed"), std::string::npos)
      << lost.status().ToString();
  EXPECT_EQ(resource->round_trips(), before + 1) << "no connection, so no second round trip";
  EXPECT_FALSE(resource->Prepare(branch).ok());
  EXPECT_EQ(resource->active_branches(), 0u);

  // The resource recovers with the server.
  BeginAndInsert(*resource, Branch(39), "mia", 1);
  ASSERT_EQ(*resource->Prepare(Branch(39)), PrepareResult::kPrepared);
  ASSERT_TRUE(resource->CommitPrepared(Branch(39)).ok());
  EXPECT_EQ(RowCount(), "1");
}

// ---- The writes-nothing check travels with PREPARE TRANSACTION ----------------------------------

TEST_F(PostgresResourceTest, WritingBranchCostsOneRoundTripPerStatementPlusPrepareAndCommit) {
  constexpr char kApp[] = "rt_writing";
  std::unique_ptr<PostgresResource> resource = OpenResourceAs(kApp);
  const BranchId branch = Branch(30);
  const uint64_t before = resource->round_trips();
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  EXPECT_EQ(resource->round_trips(), before) << "BEGIN waits for the first statement";
  EXPECT_EQ(SessionsInTransaction(kApp), "0") << "the server must not have seen BEGIN yet";

  Result<SqlResult> inserted =
      resource->Exec(branch, fmt::format("INSERT INTO {} VALUES ($1, $2)", table_), {"ivan", "1"});
  ASSERT_TRUE(inserted.ok()) << inserted.status().ToString();
  EXPECT_EQ(inserted->rows_affected, 1u);
  EXPECT_EQ(inserted->command_tag, "INSERT 0 1");
  EXPECT_EQ(resource->round_trips(), before + 1) << "BEGIN and the statement in one round trip";
  EXPECT_EQ(SessionsInTransaction(kApp), "1");
  Result<SqlResult> updated =
      resource->Exec(branch, fmt::format("UPDATE {} SET v = v + 1 WHERE k = $1", table_), {"ivan"});
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(resource->round_trips(), before + 2);

  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  EXPECT_EQ(resource->round_trips(), before + 3) << "the check and PREPARE in one round trip";
  EXPECT_EQ(PreparedCount(branch), "1");
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(resource->round_trips(), before + 4);
  EXPECT_EQ(SqlOne(fmt::format("SELECT v FROM {} WHERE k = 'ivan'", table_)), "2");
}

TEST_F(PostgresResourceTest, ReadOnlyBranchRollsBackItsPrepareAndKeepsNoLocks) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('x', 1)", table_)).ok());
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const BranchId branch = Branch(33);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  const uint64_t before = resource->round_trips();
  Result<SqlResult> read =
      resource->Exec(branch, fmt::format("SELECT v FROM {} WHERE k = $1", table_), {"x"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->rows.size(), 1u);
  EXPECT_EQ(read->rows[0][0], "1");
  EXPECT_EQ(LocksOnTable(), "1") << "the branch's transaction holds its lock on the table it read";

  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_TRUE(vote.ok()) << vote.status().ToString();
  EXPECT_EQ(*vote, PrepareResult::kReadOnly);
  EXPECT_EQ(resource->round_trips(), before + 3)
      << "the statement, the check with PREPARE, and ROLLBACK PREPARED";
  EXPECT_EQ(SqlOne("SELECT count(*) FROM pg_prepared_xacts"), "0");
  EXPECT_EQ(LocksOnTable(), "0") << "a prepared transaction would keep it";
  EXPECT_EQ(resource->idle_connections(), 1u) << "the connection is idle again and pooled";
  EXPECT_TRUE(resource->ListPrepared()->empty());
}

TEST_F(PostgresResourceTest, ReadOnlyBranchWhosePrepareFailsStillVotesReadOnly) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(34);
  BeginAndInsert(*resource, branch, "judy", 1);
  ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  // The same branch again, reading only: its PREPARE TRANSACTION fails (the gid is taken) and
  // the server rolls it back, which for a transaction that wrote nothing is as good as a commit.
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  ASSERT_TRUE(resource->Exec(branch, fmt::format("SELECT count(*) FROM {}", table_)).ok());
  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_TRUE(vote.ok()) << vote.status().ToString();
  EXPECT_EQ(*vote, PrepareResult::kReadOnly);
  EXPECT_EQ(PreparedCount(branch), "1") << "the first, writing branch stays prepared";
  ASSERT_TRUE(resource->CommitPrepared(branch).ok());
  EXPECT_EQ(SqlOne(fmt::format("SELECT string_agg(k, ',') FROM {}", table_)), "judy");
  EXPECT_EQ(resource->active_branches(), 0u);
}

TEST_F(PostgresResourceTest, PrepareAfterAFailedLaterStatementVotesNoWithoutPreparing) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(36);
  BeginAndInsert(*resource, branch, "kim", 1);
  ASSERT_FALSE(resource->Exec(branch, "SELECT 1/0").ok());
  const uint64_t before = resource->round_trips();
  Result<PrepareResult> vote = resource->Prepare(branch);
  ASSERT_FALSE(vote.ok());
  EXPECT_EQ(vote.status().code(), StatusCode::kAborted) << vote.status().ToString();
  EXPECT_NE(vote.status().message().find("22012"), std::string::npos) << vote.status().ToString();
  EXPECT_EQ(resource->round_trips(), before + 1) << "only the ROLLBACK";
  EXPECT_EQ(PreparedCount(branch), "0");
  EXPECT_EQ(RowCount(), "0");
}

TEST_F(PostgresResourceTest, CommitPreparedManyCommitsEveryBranchInOneRoundTrip) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  std::vector<BranchId> branches;
  for (uint32_t n = 40; n < 45; ++n) {
    branches.push_back(Branch(n));
    BeginAndInsert(*resource, branches.back(), "k" + std::to_string(n), 1);
    ASSERT_EQ(*resource->Prepare(branches.back()), PrepareResult::kPrepared);
  }
  // One gid in the middle that nothing prepared: answered NotFound, the others unharmed.
  branches.insert(branches.begin() + 2, Branch(49));
  const uint64_t before = resource->round_trips();
  std::vector<Status> committed = resource->CommitPreparedMany(branches);
  EXPECT_EQ(resource->round_trips(), before + 1);
  ASSERT_EQ(committed.size(), branches.size());
  for (size_t i = 0; i < branches.size(); ++i) {
    if (i == 2) {
      EXPECT_EQ(committed[i].code(), StatusCode::kNotFound) << committed[i].ToString();
    } else {
      EXPECT_TRUE(committed[i].ok()) << branches[i].ToString() << ": " << committed[i].ToString();
    }
  }
  EXPECT_EQ(RowCount(), "5");
  EXPECT_EQ(SqlOne(fmt::format("SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'pact:{}:%'",
                               cluster_)),
            "0");
  // Committed once: a repeat finds nothing.
  for (const Status& again : resource->CommitPreparedMany(branches)) {
    EXPECT_EQ(again.code(), StatusCode::kNotFound) << again.ToString();
  }
}

TEST_F(PostgresResourceTest, CommitPreparedManyLeavesTheSessionCommittingSynchronously) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  std::vector<BranchId> branches = {Branch(50), Branch(51)};
  for (const BranchId& branch : branches) {
    BeginAndInsert(*resource, branch, branch.ToString(), 1);
    ASSERT_EQ(*resource->Prepare(branch), PrepareResult::kPrepared);
  }
  for (const Status& committed : resource->CommitPreparedMany(branches)) {
    ASSERT_TRUE(committed.ok()) << committed.ToString();
  }
  // The pooled connection serves the next branch: asynchronous commits must not leak into it.
  const BranchId next = Branch(52);
  ASSERT_TRUE(resource->BeginBranch(next).ok());
  Result<SqlResult> setting = resource->Exec(next, "SHOW synchronous_commit");
  ASSERT_TRUE(setting.ok()) << setting.status().ToString();
  EXPECT_EQ(setting->rows.at(0).at(0), "on");
  ASSERT_TRUE(resource->Rollback(next).ok());
}

TEST_F(PostgresResourceTest, CommitPreparedManyWithTheLastOneMissingStillConfirmsTheOthers) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  std::vector<BranchId> branches = {Branch(60), Branch(61), Branch(69)};  // 69: never prepared
  for (size_t i = 0; i < 2; ++i) {
    BeginAndInsert(*resource, branches[i], branches[i].ToString(), 1);
    ASSERT_EQ(*resource->Prepare(branches[i]), PrepareResult::kPrepared);
  }
  // The last commit, the one that flushes the WAL for all, fails: the others' asynchronous
  // commits must be confirmed durable another way before they count as done.
  std::vector<Status> committed = resource->CommitPreparedMany(branches);
  EXPECT_TRUE(committed[0].ok()) << committed[0].ToString();
  EXPECT_TRUE(committed[1].ok()) << committed[1].ToString();
  EXPECT_EQ(committed[2].code(), StatusCode::kNotFound) << committed[2].ToString();
  EXPECT_EQ(RowCount(), "2");
  EXPECT_EQ(SqlOne("SELECT pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn()"), "t");
}


TEST_F(PostgresResourceTest, PrepareManyAnswersEachBranchAsPrepareWould) {
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId writing = Branch(70);
  const BranchId reading = Branch(71);
  const BranchId failed = Branch(72);
  const BranchId idle = Branch(73);
  const BranchId unknown = Branch(74);
  const BranchId writing_too = Branch(75);
  BeginAndInsert(*resource, writing, "w", 1);
  BeginAndInsert(*resource, writing_too, "w2", 2);
  ASSERT_TRUE(resource->BeginBranch(reading).ok());
  ASSERT_TRUE(resource->Exec(reading, fmt::format("SELECT count(*) FROM {}", table_)).ok());
  ASSERT_TRUE(resource->BeginBranch(failed).ok());
  ASSERT_FALSE(resource->Exec(failed, "SELECT 1/0").ok());
  ASSERT_TRUE(resource->BeginBranch(idle).ok());

  const uint64_t before = resource->round_trips();
  std::vector<Result<PrepareResult>> votes =
      resource->PrepareMany({writing, reading, failed, idle, unknown, writing_too});
  ASSERT_EQ(votes.size(), 6u);
  ASSERT_TRUE(votes[0].ok()) << votes[0].status().ToString();
  EXPECT_EQ(*votes[0], PrepareResult::kPrepared);
  ASSERT_TRUE(votes[1].ok()) << votes[1].status().ToString();
  EXPECT_EQ(*votes[1], PrepareResult::kReadOnly);
  EXPECT_EQ(votes[2].status().code(), StatusCode::kAborted) << votes[2].status().ToString();
  ASSERT_TRUE(votes[3].ok()) << votes[3].status().ToString();
  EXPECT_EQ(*votes[3], PrepareResult::kReadOnly);
  EXPECT_EQ(votes[4].status().code(), StatusCode::kFailedPrecondition)
      << votes[4].status().ToString();
  ASSERT_TRUE(votes[5].ok()) << votes[5].status().ToString();
  EXPECT_EQ(*votes[5], PrepareResult::kPrepared);
  // One round trip per branch that had something to prepare (the read-only one undoes its
  // PREPARE in one more); the failed branch's rollback is not counted as a statement.
  EXPECT_LE(resource->round_trips() - before, 5u);
  EXPECT_EQ(PreparedCount(writing), "1");
  EXPECT_EQ(PreparedCount(writing_too), "1");
  EXPECT_EQ(PreparedCount(reading), "0");
  for (const Status& committed : resource->CommitPreparedMany({writing, writing_too})) {
    EXPECT_TRUE(committed.ok()) << committed.ToString();
  }
  EXPECT_EQ(RowCount(), "2");
}

// ---- The statement cache ------------------------------------------------------------------------

constexpr char kListStatements[] = "SELECT statement FROM pg_prepared_statements";

std::vector<std::string> FirstColumn(const SqlResult& result) {
  std::vector<std::string> values;
  for (const auto& row : result.rows) values.push_back(row.at(0).value_or("NULL"));
  return values;
}

std::vector<std::string> Sorted(std::vector<std::string> texts) {
  std::sort(texts.begin(), texts.end());
  return texts;
}

// The statements that the branch's session holds prepared, sorted; the query that lists them
// runs from the cache too, so it is among them when the cache is on.
std::vector<std::string> HeldStatements(PostgresResource& resource, const BranchId& branch) {
  Result<SqlResult> held = resource.Exec(branch, kListStatements);
  if (!held.ok()) return {"error: " + held.status().ToString()};
  return Sorted(FirstColumn(*held));
}

// Begins `branch` and reads row 'a' (v = 1) with `select` twice: the session then holds
// `select` prepared once, beside the listing query. (After the statement's server-side copy
// was lost, this shows it prepared again.)
void ExpectReadTwicePreparedOnce(PostgresResource& resource, const BranchId& branch,
                                 const std::string& select) {
  ASSERT_TRUE(resource.BeginBranch(branch).ok());
  Result<SqlResult> read = resource.Exec(branch, select, {"a"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(FirstColumn(*read), std::vector<std::string>{"1"});
  read = resource.Exec(branch, select, {"a"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(HeldStatements(resource, branch), Sorted({kListStatements, select}));
}

// Every column of every row, the count and the tag: what a client can tell of a result.
std::string Transcript(const Result<SqlResult>& result) {
  if (!result.ok()) return "error: " + result.status().ToString();
  std::string out = fmt::format("[{}] {} rows_affected={} |", fmt::join(result->columns, ","),
                                result->command_tag, result->rows_affected);
  for (const auto& row : result->rows) {
    for (const SqlParam& value : row) out += " " + value.value_or("NULL");
    out += " |";
  }
  return out;
}

TEST_F(PostgresResourceTest, CachedStatementIsParsedOnceAndCostsNoExtraRoundTrip) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('a', 1)", table_)).ok());
  std::unique_ptr<PostgresResource> resource = OpenResource();
  const BranchId branch = Branch(80);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  const std::string select = fmt::format("SELECT v FROM {} WHERE k = $1", table_);
  const uint64_t before = resource->round_trips();
  for (int use = 1; use <= 2; ++use) {
    Result<SqlResult> read = resource->Exec(branch, select, {"a"});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(FirstColumn(*read), std::vector<std::string>{"1"});
    EXPECT_EQ(resource->round_trips(), before + use) << "the Parse travels with the first use";
  }
  // One server-side statement, executed twice: the second use did not parse again.
  Result<SqlResult> held = resource->Exec(
      branch,
      "SELECT name LIKE 'pact\\_s%', generic_plans + custom_plans FROM pg_prepared_statements "
      "WHERE statement = $1",
      {select});
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(Transcript(held), "[?column?,?column?] SELECT 1 rows_affected=1 | t 2 |");
  ASSERT_TRUE(resource->Rollback(branch).ok());
}

TEST_F(PostgresResourceTest, StatementCacheSizeZeroPreparesNothing) {
  PostgresResourceOptions options;
  options.statement_cache_size = 0;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const BranchId writing = Branch(81);
  BeginAndInsert(*resource, writing, "a", 1);
  ASSERT_TRUE(resource->Exec(writing, fmt::format("SELECT v FROM {}", table_)).ok());
  ASSERT_TRUE(resource->Exec(writing, fmt::format("SELECT v FROM {}", table_)).ok());
  ASSERT_EQ(*resource->Prepare(writing), PrepareResult::kPrepared);  // with the check query
  ASSERT_TRUE(resource->CommitPrepared(writing).ok());

  const BranchId listing = Branch(82);
  ASSERT_TRUE(resource->BeginBranch(listing).ok());
  EXPECT_EQ(HeldStatements(*resource, listing), std::vector<std::string>{});
  ASSERT_TRUE(resource->Rollback(listing).ok());
}

TEST_F(PostgresResourceTest, StatementCacheStaysBoundedAndEvictsTheLeastRecentlyUsed) {
  PostgresResourceOptions options;
  options.statement_cache_size = 3;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  auto text = [](int n) { return fmt::format("SELECT $1::int + {}", n); };
  const BranchId branch = Branch(83);
  ASSERT_TRUE(resource->BeginBranch(branch).ok());
  // 1 is used again before 4 arrives, so 4 evicts 2, the least recently used; the listing
  // then evicts 3.
  for (int n : {1, 2, 3, 1, 4}) {
    Result<SqlResult> sum = resource->Exec(branch, text(n), {"10"});
    ASSERT_TRUE(sum.ok()) << sum.status().ToString();
    EXPECT_EQ(FirstColumn(*sum), std::vector<std::string>{std::to_string(10 + n)});
  }
  Result<SqlResult> held = resource->Exec(branch, kListStatements);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_LE(held->rows.size(), 2 * options.statement_cache_size)
      << "evicted statements are closed once the session is outside a transaction";
  ASSERT_TRUE(resource->Rollback(branch).ok());

  // The next branch's first round trip closes them before its BEGIN.
  const BranchId next = Branch(84);
  ASSERT_TRUE(resource->BeginBranch(next).ok());
  const uint64_t before = resource->round_trips();
  EXPECT_EQ(HeldStatements(*resource, next), Sorted({kListStatements, text(1), text(4)}));
  EXPECT_EQ(resource->round_trips(), before + 1) << "the closes cost no round trip of their own";
  ASSERT_TRUE(resource->Rollback(next).ok());
}

TEST_F(PostgresResourceTest, NewConnectionStartsWithAnEmptyStatementCache) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('a', 1)", table_)).ok());
  constexpr char kApp[] = "sc_reconnect";
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResourceAs(kApp, options);
  const std::string select = fmt::format("SELECT v FROM {} WHERE k = $1", table_);
  const BranchId first = Branch(85);
  ASSERT_TRUE(resource->BeginBranch(first).ok());
  ASSERT_TRUE(resource->Exec(first, select, {"a"}).ok());
  ASSERT_TRUE(resource->Exec(first, select, {"a"}).ok());
  ASSERT_TRUE(resource->Rollback(first).ok());
  ASSERT_EQ(TerminateSessions(kApp), "1");

  // The pooled connection is found lost and replaced: its cache goes with it, and the statement
  // is parsed again on the new session (reusing the old name would fail with 26000).
  const BranchId second = Branch(86);
  ASSERT_NO_FATAL_FAILURE(ExpectReadTwicePreparedOnce(*resource, second, select));
  ASSERT_TRUE(resource->Rollback(second).ok());
}

TEST_F(PostgresResourceTest, FailedParseCachesNothingAndFailsAsWithoutTheCache) {
  PostgresResourceOptions without_cache;
  without_cache.statement_cache_size = 0;
  PostgresResourceOptions with_cache;
  with_cache.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> plain = OpenResource({}, without_cache);
  std::unique_ptr<PostgresResource> cached = OpenResource({}, with_cache);
  const std::string missing_table = "SELECT v FROM no_such_table WHERE k = $1";
  const std::string bad_syntax = "SELECT v FROM WHERE k = $1";
  // Each text fails as a branch's first statement (with BEGIN), as a later one, and again.
  auto run = [&](PostgresResource& resource, uint64_t sequence) {
    std::vector<std::string> transcript;
    for (const std::string& sql : {missing_table, bad_syntax, missing_table}) {
      const BranchId branch = Branch(sequence++);
      EXPECT_TRUE(resource.BeginBranch(branch).ok());
      transcript.push_back(Transcript(resource.Exec(branch, sql, {"a"})));
      EXPECT_TRUE(resource.Rollback(branch).ok());
      EXPECT_TRUE(resource.BeginBranch(branch).ok());
      EXPECT_TRUE(resource.Exec(branch, "SELECT 1").ok());
      transcript.push_back(Transcript(resource.Exec(branch, sql, {"a"})));
      EXPECT_TRUE(resource.Rollback(branch).ok());
    }
    return transcript;
  };
  const std::vector<std::string> expected = run(*plain, 87);
  EXPECT_EQ(run(*cached, 87), expected);
  EXPECT_NE(expected.at(0).find("SQLSTATE 42P01"), std::string::npos) << expected.at(0);
  EXPECT_NE(expected.at(2).find("SQLSTATE 42601"), std::string::npos) << expected.at(2);

  const BranchId listing = Branch(90);
  ASSERT_TRUE(cached->BeginBranch(listing).ok());
  EXPECT_EQ(HeldStatements(*cached, listing), Sorted({kListStatements, "SELECT 1"}));
  ASSERT_TRUE(cached->Rollback(listing).ok());
}

TEST_F(PostgresResourceTest, DeallocatedStatementFailsItsBranchOnceThenIsPreparedAgain) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('a', 1)", table_)).ok());
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const std::string select = fmt::format("SELECT v FROM {} WHERE k = $1", table_);
  const BranchId doomed = Branch(91);
  ASSERT_TRUE(resource->BeginBranch(doomed).ok());
  ASSERT_TRUE(resource->Exec(doomed, select, {"a"}).ok());
  ASSERT_TRUE(resource->Exec(doomed, "DEALLOCATE ALL").ok());
  Result<SqlResult> lost = resource->Exec(doomed, select, {"a"});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), StatusCode::kInvalidArgument) << lost.status().ToString();
  EXPECT_NE(lost.status().message().find("SQLSTATE 26000"), std::string::npos)
      << lost.status().ToString();
  Result<PrepareResult> vote = resource->Prepare(doomed);
  EXPECT_EQ(vote.status().code(), StatusCode::kAborted) << vote.status().ToString();
  EXPECT_EQ(PreparedCount(doomed), "0");

  const BranchId next = Branch(92);
  ASSERT_NO_FATAL_FAILURE(ExpectReadTwicePreparedOnce(*resource, next, select));
  ASSERT_EQ(*resource->Prepare(next), PrepareResult::kReadOnly);
}

TEST_F(PostgresResourceTest, QueryWhoseColumnsChangedFailsItsBranchOnceThenIsPreparedAgain) {
  ASSERT_TRUE(Sql(fmt::format("INSERT INTO {} VALUES ('a', 1)", table_)).ok());
  PostgresResourceOptions options;
  options.idle_connections_max = 1;
  std::unique_ptr<PostgresResource> resource = OpenResource({}, options);
  const std::string select = fmt::format("SELECT * FROM {} WHERE k = $1", table_);
  const BranchId before_change = Branch(93);
  ASSERT_TRUE(resource->BeginBranch(before_change).ok());
  Result<SqlResult> read = resource->Exec(before_change, select, {"a"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(Transcript(read), "[k,v] SELECT 1 rows_affected=1 | a 1 |");
  ASSERT_TRUE(resource->Rollback(before_change).ok());

  ASSERT_TRUE(Sql(fmt::format("ALTER TABLE {} ADD COLUMN w int DEFAULT 7", table_)).ok());
  const BranchId doomed = Branch(94);
  ASSERT_TRUE(resource->BeginBranch(doomed).ok());
  read = resource->Exec(doomed, select, {"a"});
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("SQLSTATE 0A000"), std::string::npos)
      << read.status().ToString();
  EXPECT_EQ(resource->Prepare(doomed).status().code(), StatusCode::kAborted);

  const BranchId after_change = Branch(95);
  ASSERT_TRUE(resource->BeginBranch(after_change).ok());
  read = resource->Exec(after_change, select, {"a"});
  EXPECT_EQ(Transcript(read), "[k,v,w] SELECT 1 rows_affected=1 | a 1 7 |");
  EXPECT_EQ(HeldStatements(*resource, after_change), Sorted({kListStatements, select}))
      << "the old statement is closed";
  ASSERT_TRUE(resource->Rollback(after_change).ok());
}

TEST_F(PostgresResourceTest, ResultsAndRoundTripsAreTheSameWithAndWithoutTheCache) {
  PostgresResourceOptions without_cache;
  without_cache.statement_cache_size = 0;
  std::unique_ptr<PostgresResource> plain = OpenResource({}, without_cache);
  std::unique_ptr<PostgresResource> cached = OpenResource();
  const std::string insert = fmt::format("INSERT INTO {} VALUES ($1, $2)", table_);
  const std::string update =
      fmt::format("UPDATE {} SET v = v + $1 WHERE k = $2 RETURNING k, v", table_);
  const std::string select = fmt::format("SELECT k, v FROM {} ORDER BY k", table_);
  const std::string echo = "SELECT $1::text AS echo, NULL::int AS nothing";
  const std::string remove = fmt::format("DELETE FROM {} WHERE k = $1", table_);
  // Every text twice or more, so that the cached resource runs most of them from its cache.
  const std::vector<std::pair<std::string, std::vector<SqlParam>>> script = {
      {insert, {"a", "1"}}, {insert, {"b", std::nullopt}},
      {insert, {"c", "3"}}, {update, {"10", "a"}},
      {update, {"5", "c"}}, {select, {}},
      {echo, {"x"}},        {echo, {std::nullopt}},
      {remove, {"b"}},      {remove, {"b"}},
      {select, {}},         {insert, {"a", "9"}},
  };
  auto run = [&](PostgresResource& resource, const BranchId& branch, uint64_t* round_trips) {
    std::vector<std::string> transcript;
    const uint64_t before = resource.round_trips();
    EXPECT_TRUE(resource.BeginBranch(branch).ok());
    for (const auto& [sql, params] : script) {
      transcript.push_back(Transcript(resource.Exec(branch, sql, params)));
    }
    Result<PrepareResult> vote = resource.Prepare(branch);
    transcript.push_back(vote.ok() ? "voted" : "error: " + vote.status().ToString());
    *round_trips = resource.round_trips() - before;
    return transcript;
  };
  uint64_t plain_round_trips = 0;
  uint64_t cached_round_trips = 0;
  const std::vector<std::string> expected = run(*plain, Branch(96), &plain_round_trips);
  EXPECT_EQ(run(*cached, Branch(96), &cached_round_trips), expected);
  EXPECT_EQ(cached_round_trips, plain_round_trips);
  EXPECT_NE(expected.back().find("SQLSTATE 23505"), std::string::npos)
      << "the last insert fails, and the vote says why: " << expected.back();

  // The comparison means something only if the cache was used.
  const BranchId listing = Branch(97);
  ASSERT_TRUE(cached->BeginBranch(listing).ok());
  EXPECT_EQ(HeldStatements(*cached, listing),
            Sorted({kListStatements, insert, update, select, echo, remove}));
  ASSERT_TRUE(cached->Rollback(listing).ok());
}

}  // namespace
}  // namespace pact
