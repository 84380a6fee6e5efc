// Timeouts across real processes: a coordinator with short --txn-timeout-ms and
// --prepare-timeout-ms, a pact-agent on PostgreSQL and one on the KV store.
//  - A transaction nobody commits is aborted by the coordinator, and its branches are rolled
//    back in the stores (no open PostgreSQL transaction keeps its locks), also when the abort
//    arrives while one of the branch's statements is still running.
//  - A client's own transaction timeout, shorter or longer, replaces the coordinator's.
//  - A participant that does not vote in time (killed, or stalled by SIGSTOP and resumed
//    later) makes the transaction abort; nothing stays prepared anywhere afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "pact/client.h"
#include "participant/sdk/rpc_convert.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kStart = 1000;
constexpr int kTxnTimeoutMs = 1500;
constexpr int kPrepareTimeoutMs = 1000;
constexpr char kDb[] = "bank";
constexpr char kPg[] = "agent-pg";
constexpr char kKv[] = "agent-kv";
constexpr char kKey[] = "account/1";

class TimeoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.databases = {kDb};
    options.coordinator_flags = {"--txn-timeout-ms", std::to_string(kTxnTimeoutMs),
                                 "--prepare-timeout-ms", std::to_string(kPrepareTimeoutMs)};
    const PgKvSetup setup{.db = kDb, .pg_agent = kPg, .kv_agent = kKv, .key = kKey,
                          .start = kStart, .balance_check = false,
                          .commit_deadline_ms = 15000};
    Status started = StartPgKvCluster(options, setup, &cluster_, &client_);
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  // A transaction with work in both stores: PostgreSQL's row 1 is locked by it.
  TxnId BeginWithWork() {
    auto txn = client_->Begin();
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    if (!txn.ok()) return TxnId{};
    EXPECT_TRUE(AgentSql(cluster_->address(kPg), txn->id(),
                         "UPDATE accounts SET balance = balance - 10 WHERE id = 1")
                    .ok());
    EXPECT_TRUE(AgentKv(cluster_->address(kKv), txn->id(), rpc::KvOp::PUT, kKey, "1010").ok());
    return txn->id();
  }

  int PgBalance() {
    return QueryInt(cluster_->postgres(), kDb, "SELECT balance FROM accounts WHERE id = 1");
  }

  // True when row 1 can be updated by someone else within 300 ms: no branch holds its lock.
  bool RowUnlocked() {
    return cluster_->postgres()
        .Query(kDb,
               "SET lock_timeout = '300ms'; UPDATE accounts SET balance = balance WHERE id = 1")
        .ok();
  }

  // Polls until nothing of any branch is left in the stores: the balances are the initial
  // ones, PostgreSQL holds no prepared and no open transaction, row 1 is not locked, and the
  // KV key is readable (no prepared KV branch holds it) with its initial value.
  void ExpectNothingLeft(int timeout_ms = 15000) {
    int balance = -1, prepared = -1, open = -1;
    bool unlocked = false;
    std::string kv = "?";
    const bool clean = Eventually(
        [&] {
          balance = PgBalance();
          prepared = PreparedCount(cluster_->postgres(), kDb);
          open = OpenTransactionCount(cluster_->postgres(), kDb);
          unlocked = RowUnlocked();
          auto value = ReadKv(*client_, cluster_->address(kKv), kKey);
          kv = value.ok() && value->has_value() ? **value : value.status().ToString();
          return balance == kStart && prepared == 0 && open == 0 && unlocked &&
                 kv == std::to_string(kStart);
        },
        timeout_ms, 200);
    ASSERT_TRUE(clean) << "balance=" << balance << " prepared=" << prepared
                       << " open transactions=" << open << " row unlocked=" << unlocked
                       << " kv=" << kv << "\nagent-pg log:\n"
                       << cluster_->LogOf(kPg);
  }

  // Waits until the coordinator has decided `txid` (its outcome() answers other than UNKNOWN).
  rpc::Outcome DecidedOutcome(const TxnId& txid, int timeout_ms) {
    rpc::Outcome outcome = rpc::Outcome::UNKNOWN;
    Eventually(
        [&] {
          auto answer = OutcomeOf(cluster_->coordinator_address(), sdk::ToRpc(txid));
          if (answer.ok()) outcome = *answer;
          return outcome != rpc::Outcome::UNKNOWN;
        },
        timeout_ms);
    return outcome;
  }

  std::unique_ptr<PactCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(TimeoutTest, UncommittedTransactionIsAbortedAndItsBranchesRolledBack) {
  const auto begun = std::chrono::steady_clock::now();
  const TxnId idle = BeginWithWork();
  ASSERT_TRUE(idle.valid());
  EXPECT_FALSE(RowUnlocked()) << "the branch holds the row until it ends";

  // Nobody commits: the coordinator aborts it once --txn-timeout-ms has passed (not before).
  EXPECT_EQ(DecidedOutcome(idle, 10 * kTxnTimeoutMs), rpc::Outcome::ABORTED);
  EXPECT_GE(std::chrono::steady_clock::now() - begun,
            std::chrono::milliseconds(kTxnTimeoutMs - 100));
  ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  // Both agents know the branch ended: new work in it is refused, and commit says ABORTED.
  EXPECT_EQ(AgentSql(cluster_->address(kPg), idle, "SELECT 1").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(AgentKv(cluster_->address(kKv), idle, rpc::KvOp::GET, kKey).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(client_->Commit(idle).kind, OutcomeKind::kAborted);
}

// A client may give its transactions a timeout of their own (ClientOptions::
// transaction_timeout_ms, begin_transaction's timeout_ms), shorter or longer than the
// coordinator's --txn-timeout-ms. Checked by order, not by the clock: a short one ends while
// one begun before it with the default is still open, and a long one outlives a default one.
TEST_F(TimeoutTest, AClientsOwnTransactionTimeoutReplacesTheCoordinatorsDefault) {
  const std::string coordinator = cluster_->coordinator_address();
  auto client_with = [&](int timeout_ms) {
    ClientOptions options;
    options.coordinators = {coordinator};
    options.transaction_timeout_ms = timeout_ms;
    return Client::Create(options);
  };
  // Bad timeouts are refused before anything begins.
  EXPECT_EQ(client_with(-1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BeginTxn(coordinator, 0, -1).status().code(), StatusCode::kInvalidArgument);
  const auto past_maximum = BeginTxn(coordinator, 0, 3600 * 1000 + 1);
  EXPECT_EQ(past_maximum.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(past_maximum.status().message().find("timeout_ms 3600001 is not within 0..3600000"),
            std::string::npos)
      << past_maximum.status().ToString();

  auto short_client = client_with(300);
  auto long_client = client_with(6 * kTxnTimeoutMs);
  ASSERT_TRUE(short_client.ok() && long_client.ok());
  auto by_default = client_->Begin();
  auto long_one = (*long_client)->Begin();
  ASSERT_TRUE(by_default.ok() && long_one.ok());
  ASSERT_TRUE(AgentSql(cluster_->address(kPg), long_one->id(),
                       "UPDATE accounts SET balance = balance - 10 WHERE id = 1")
                  .ok());
  auto short_one = (*short_client)->Begin();
  ASSERT_TRUE(short_one.ok());

  EXPECT_EQ(DecidedOutcome(short_one->id(), 10 * kTxnTimeoutMs), rpc::Outcome::ABORTED);
  auto asked = OutcomeOf(coordinator, sdk::ToRpc(by_default->id()));
  ASSERT_TRUE(asked.ok()) << asked.status().ToString();
  EXPECT_EQ(*asked, rpc::Outcome::UNKNOWN) << "begun first, with the default timeout, it is open";
  EXPECT_EQ(DecidedOutcome(by_default->id(), 10 * kTxnTimeoutMs), rpc::Outcome::ABORTED);
  asked = OutcomeOf(coordinator, sdk::ToRpc(long_one->id()));
  ASSERT_TRUE(asked.ok()) << asked.status().ToString();
  EXPECT_EQ(*asked, rpc::Outcome::UNKNOWN) << "past the default timeout, the long one is open";
  EXPECT_EQ(long_one->Commit().kind, OutcomeKind::kCommitted);
  EXPECT_EQ(PgBalance(), kStart - 10);
}

// A branch can end while the application's statement in it still runs: the transaction times
// out, the application gives up waiting and aborts, or it commits anyway. The store cannot roll
// a branch back under a running statement (it refuses: the branch is busy), so the participant
// must roll it back once the statement ends - or the PostgreSQL transaction stays open, holding
// row 1 locked, forever.
TEST_F(TimeoutTest, BranchEndingWhileItsStatementRunsIsRolledBackAfterIt) {
  const double sleep_seconds = 2.0 * kTxnTimeoutMs / 1000.0;
  auto run_slow_statement = [&](const TxnId& txid) {
    return std::async(std::launch::async, [this, txid, sleep_seconds] {
      return AgentSql(cluster_->address(kPg), txid,
                      fmt::format("SELECT pg_sleep({})", sleep_seconds))
          .status();
    });
  };
  auto wait_until_running = [&] {
    return Eventually(
        [&] {
          return QueryInt(cluster_->postgres(), kDb,
                          "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                          "'SELECT pg_sleep%' AND state = 'active'") == 1;
        },
        5000, 20);
  };
  {
    SCOPED_TRACE("the transaction times out");
    const TxnId txid = BeginWithWork();
    ASSERT_TRUE(txid.valid());
    auto statement = run_slow_statement(txid);
    ASSERT_TRUE(wait_until_running());
    EXPECT_EQ(DecidedOutcome(txid, 10 * kTxnTimeoutMs), rpc::Outcome::ABORTED);
    statement.wait();
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  }
  {
    SCOPED_TRACE("the application aborts");
    const TxnId txid = BeginWithWork();
    ASSERT_TRUE(txid.valid());
    auto statement = run_slow_statement(txid);
    ASSERT_TRUE(wait_until_running());
    EXPECT_EQ(client_->Abort(txid).kind, OutcomeKind::kAborted);
    statement.wait();
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  }
  {
    SCOPED_TRACE("the application commits");
    const TxnId txid = BeginWithWork();
    ASSERT_TRUE(txid.valid());
    auto statement = run_slow_statement(txid);
    ASSERT_TRUE(wait_until_running());
    // The branch cannot be prepared under a running statement: it votes NO.
    const Outcome outcome = client_->Commit(txid);
    EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
    statement.wait();
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  }
}

TEST_F(TimeoutTest, ParticipantThatDoesNotVoteInTimeAbortsTheTransaction) {
  // Killed before voting: PREPARE cannot reach the KV agent; the prepared PostgreSQL branch is
  // rolled back after --prepare-timeout-ms.
  {
    const TxnId txid = BeginWithWork();
    ASSERT_TRUE(txid.valid());
    ASSERT_TRUE(cluster_->Kill(kKv).ok());
    const Outcome outcome = client_->Commit(txid);
    EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
    ASSERT_TRUE(cluster_->StartAgent(kKv, "").ok());
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  }
  // Stalled before voting (SIGSTOP): calls to the PostgreSQL agent hang. The coordinator
  // aborts on time; the KV branch, which voted YES, is rolled back. When the agent resumes it
  // still finds the PREPARE (and perhaps the ABORT) in its sockets: whatever it prepares then
  // must be rolled back too, never left prepared.
  {
    const TxnId txid = BeginWithWork();
    ASSERT_TRUE(txid.valid());
    ASSERT_TRUE(cluster_->Pause(kPg).ok());
    const auto started = std::chrono::steady_clock::now();
    auto commit = std::async(std::launch::async, [&] { return client_->Commit(txid); });
    const bool answered = commit.wait_for(std::chrono::milliseconds(kPrepareTimeoutMs * 8)) ==
                          std::future_status::ready;
    const auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(cluster_->Resume(kPg).ok());
    ASSERT_TRUE(answered) << "commit waited on a stalled participant";
    const Outcome outcome = commit.get();
    EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
    EXPECT_GE(waited, std::chrono::milliseconds(kPrepareTimeoutMs - 100));
    ASSERT_NO_FATAL_FAILURE(ExpectNothingLeft());
  }
}

}  // namespace
}  // namespace pact::integration
