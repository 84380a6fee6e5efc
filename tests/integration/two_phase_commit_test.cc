// Two-phase commit across real processes: a PostgreSQL server with two databases, a
// pact-coordinator and two pact-agents, driven through the SDK client and the Agent service,
// with processes killed at chosen protocol steps.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "pact/client.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kStartBalance = 1000;

class TwoPhaseCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.databases = {"bank_a", "bank_b"};
    auto cluster = PactCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    for (const char* db : {"bank_a", "bank_b"}) {
      auto created = cluster_->postgres().Query(
          db, fmt::format("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL "
                          "CHECK (balance >= 0)); INSERT INTO accounts VALUES (1, {})",
                          kStartBalance));
      ASSERT_TRUE(created.ok()) << created.status().ToString();
    }
  }

  void StartAll(const std::string& coordinator_fail_point = "") {
    ASSERT_TRUE(cluster_->StartCoordinator(coordinator_fail_point).ok());
    ASSERT_TRUE(cluster_->StartAgent("agent-a", "bank_a").ok());
    ASSERT_TRUE(cluster_->StartAgent("agent-b", "bank_b").ok());
  }

  std::unique_ptr<Client> NewClient(int commit_deadline_ms = 10000) {
    ClientOptions options;
    options.coordinators = {cluster_->coordinator_address()};
    options.commit_deadline_ms = commit_deadline_ms;
    auto client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  // Runs `sql` with `params` in the agent's branch of `txid`.
  Status Sql(const std::string& agent, const TxnId& txid, const std::string& sql,
             const std::vector<std::string>& params = {}) {
    return AgentSql(cluster_->address(agent), txid, sql, params).status();
  }

  // Moves `amount` from bank_a to bank_b inside `txid`.
  void Transfer(const TxnId& txid, int amount) {
    ASSERT_TRUE(Sql("agent-a", txid, "UPDATE accounts SET balance = balance - $1 WHERE id = 1",
                    {std::to_string(amount)})
                    .ok());
    ASSERT_TRUE(Sql("agent-b", txid, "UPDATE accounts SET balance = balance + $1 WHERE id = 1",
                    {std::to_string(amount)})
                    .ok());
  }

  int Balance(const std::string& db) {
    auto rows = cluster_->postgres().Query(db, "SELECT balance FROM accounts WHERE id = 1");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? std::stoi((*rows)[0][0]) : -1;
  }

  int PreparedLeft() {
    int total = 0;
    for (const char* db : {"bank_a", "bank_b"}) {
      auto rows = cluster_->postgres().Query(db, "SELECT count(*) FROM pg_prepared_xacts");
      EXPECT_TRUE(rows.ok());
      if (rows.ok()) total += std::stoi((*rows)[0][0]);
    }
    return total;
  }

  // Polls until both databases show `a` and `b` and nothing is left prepared.
  void ExpectSettles(int a, int b, int timeout_ms = 30000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Balance("bank_a") == a && Balance("bank_b") == b && PreparedLeft() == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "not settled: bank_a=" << Balance("bank_a") << " bank_b=" << Balance("bank_b")
           << " prepared=" << PreparedLeft() << "\ncoordinator log:\n"
           << cluster_->LogOf("coordinator");
  }

  std::unique_ptr<PactCluster> cluster_;
};

TEST_F(TwoPhaseCommitTest, CommitAcrossTwoDatabases) {
  StartAll();
  auto client = NewClient();
  auto txn = client->Begin();
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  Transfer(txn->id(), 10);
  Outcome outcome = txn->Commit();
  ASSERT_EQ(outcome.kind, OutcomeKind::kCommitted) << outcome.reason;
  EXPECT_EQ(txn->Commit().kind, OutcomeKind::kCommitted) << "asking again answers the same";
  // Phase 2 runs after the client is told: the branches commit shortly after.
  ExpectSettles(kStartBalance - 10, kStartBalance + 10);
}

TEST_F(TwoPhaseCommitTest, AbortLeavesBothDatabasesUnchanged) {
  StartAll();
  auto client = NewClient();
  auto txn = client->Begin();
  ASSERT_TRUE(txn.ok());
  Transfer(txn->id(), 10);
  EXPECT_EQ(txn->Abort().kind, OutcomeKind::kAborted);
  ExpectSettles(kStartBalance, kStartBalance);
  EXPECT_EQ(txn->Commit().kind, OutcomeKind::kAborted) << "an aborted txn never commits";
}

TEST_F(TwoPhaseCommitTest, BranchVotingNoAbortsEverything) {
  StartAll();
  auto client = NewClient();
  auto txn = client->Begin();
  ASSERT_TRUE(txn.ok());
  // Overdraws bank_a: the CHECK constraint fails there, so that branch votes NO.
  ASSERT_TRUE(Sql("agent-b", txn->id(), "UPDATE accounts SET balance = balance + 5000").ok());
  EXPECT_FALSE(Sql("agent-a", txn->id(), "UPDATE accounts SET balance = balance - 5000").ok());
  Outcome outcome = txn->Commit();
  EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
  ExpectSettles(kStartBalance, kStartBalance);
}

TEST_F(TwoPhaseCommitTest, CoordinatorKilledAfterDecisionIsDurableCommitsOnRestart) {
  StartAll("coordinator.after_decision_durable");
  auto client = NewClient(/*commit_deadline_ms=*/2000);
  auto txn = client->Begin();
  ASSERT_TRUE(txn.ok());
  Transfer(txn->id(), 25);
  Outcome outcome = txn->Commit();
  EXPECT_EQ(outcome.kind, OutcomeKind::kUnknown) << "the coordinator died before answering";
  ASSERT_TRUE(cluster_->WaitForExit("coordinator", 5000).ok());
  ASSERT_TRUE(cluster_->StartCoordinator().ok());
  // The restarted coordinator finds COMMIT in its log and drives it to both branches.
  ExpectSettles(kStartBalance - 25, kStartBalance + 25);
}

TEST_F(TwoPhaseCommitTest, CoordinatorKilledBeforeDecisionIsDurableAbortsOnRestart) {
  StartAll("coordinator.before_decision_flush");
  auto client = NewClient(/*commit_deadline_ms=*/2000);
  auto txn = client->Begin();
  ASSERT_TRUE(txn.ok());
  Transfer(txn->id(), 25);
  EXPECT_EQ(txn->Commit().kind, OutcomeKind::kUnknown);
  ASSERT_TRUE(cluster_->WaitForExit("coordinator", 5000).ok());
  ASSERT_TRUE(cluster_->StartCoordinator().ok());
  // Both branches voted YES and sit prepared; they ask the new leader, whose answer for a
  // closed epoch without a COMMIT is ABORTED (presumed abort).
  ExpectSettles(kStartBalance, kStartBalance);
}

}  // namespace
}  // namespace pact::integration
