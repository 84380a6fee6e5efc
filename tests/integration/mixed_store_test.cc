// Two-phase commit across two kinds of store in real processes: a pact-agent fronting a
// PostgreSQL database and a pact-agent fronting the embedded KV store, under one
// pact-coordinator. The PostgreSQL side is checked with queries; the KV side through its Agent
// service (a GET in a transaction of its own), also after the KV agent was killed and
// restarted.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "pact/client.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kStart = 1000;
constexpr char kDb[] = "bank";
constexpr char kPg[] = "agent-pg";
constexpr char kKv[] = "agent-kv";
constexpr char kKey[] = "account/1";

class MixedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.databases = {kDb};
    const PgKvSetup setup{.db = kDb, .pg_agent = kPg, .kv_agent = kKv, .key = kKey,
                          .start = kStart, .balance_check = true,
                          .commit_deadline_ms = 10000};
    Status started = StartPgKvCluster(options, setup, &cluster_, &client_);
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  Status Sql(const TxnId& txid, const std::string& sql) {
    return AgentSql(cluster_->address(kPg), txid, sql).status();
  }

  // The KV balance the branch of `txid` sees (reading it takes part in validation at prepare).
  int KvBalanceIn(const TxnId& txid) {
    Result<rpc::KvReply> read = AgentKv(cluster_->address(kKv), txid, rpc::KvOp::GET, kKey);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    if (!read.ok() || !read->found) return -1;
    return std::stoi(read->entries.at(0).value);
  }

  Status KvPut(const TxnId& txid, int balance) {
    return AgentKv(cluster_->address(kKv), txid, rpc::KvOp::PUT, kKey, std::to_string(balance))
        .status();
  }

  // Debits the PostgreSQL account and credits the KV one by `amount`, inside `txid`.
  void Transfer(const TxnId& txid, int amount) {
    ASSERT_TRUE(
        Sql(txid, fmt::format("UPDATE accounts SET balance = balance - {} WHERE id = 1", amount))
            .ok());
    const int kv = KvBalanceIn(txid);
    ASSERT_GE(kv, 0);
    ASSERT_TRUE(KvPut(txid, kv + amount).ok());
  }

  int PgBalance() {
    return QueryInt(cluster_->postgres(), kDb, "SELECT balance FROM accounts WHERE id = 1");
  }

  // The committed KV balance; -1 while the key is locked by a prepared branch (or unreadable).
  int KvBalance() {
    Result<std::optional<std::string>> value = ReadKv(*client_, cluster_->address(kKv), kKey);
    if (!value.ok() || !value->has_value()) return -1;
    return std::stoi(**value);
  }

  // Polls until both stores show the balances, PostgreSQL holds nothing prepared, and the KV
  // key is readable (no prepared KV branch holds it).
  void ExpectSettles(int pg, int kv, int timeout_ms = 20000) {
    int last_pg = -1, last_kv = -1, prepared = -1;
    const bool settled = Eventually(
        [&] {
          last_pg = PgBalance();
          last_kv = KvBalance();
          prepared = PreparedCount(cluster_->postgres(), kDb);
          return last_pg == pg && last_kv == kv && prepared == 0;
        },
        timeout_ms, 100);
    EXPECT_TRUE(settled) << "postgres=" << last_pg << " (want " << pg << ") kv=" << last_kv
                         << " (want " << kv << ") prepared=" << prepared << "\ncoordinator log:\n"
                         << cluster_->LogOf("coordinator");
  }

  std::unique_ptr<PactCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(MixedStoreTest, CommitAndAbortAcrossPostgresAndKv) {
  // Commit: both stores move, and asking again answers the same.
  auto committed = client_->Begin();
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  Transfer(committed->id(), 10);
  const Outcome outcome = committed->Commit();
  ASSERT_EQ(outcome.kind, OutcomeKind::kCommitted) << outcome.reason;
  ExpectSettles(kStart - 10, kStart + 10);
  EXPECT_EQ(committed->Commit().kind, OutcomeKind::kCommitted);

  // Abort: neither store moves, and the aborted transaction never commits later.
  auto aborted = client_->Begin();
  ASSERT_TRUE(aborted.ok());
  Transfer(aborted->id(), 20);
  EXPECT_EQ(aborted->Abort().kind, OutcomeKind::kAborted);
  ExpectSettles(kStart - 10, kStart + 10);
  EXPECT_EQ(aborted->Commit().kind, OutcomeKind::kAborted);
  EXPECT_FALSE(Sql(aborted->id(), "UPDATE accounts SET balance = 0").ok())
      << "an aborted transaction takes no more work";

  // A KV branch that only reads votes READ_ONLY; the PostgreSQL branch still commits.
  auto read_only = client_->Begin();
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(KvBalanceIn(read_only->id()), kStart + 10);
  ASSERT_TRUE(Sql(read_only->id(), "UPDATE accounts SET balance = balance - 5 WHERE id = 1").ok());
  ASSERT_EQ(read_only->Commit().kind, OutcomeKind::kCommitted);
  ExpectSettles(kStart - 15, kStart + 10);

  // The KV commit is durable: a killed and restarted KV agent still has it.
  ASSERT_TRUE(cluster_->Kill(kKv).ok());
  ASSERT_TRUE(cluster_->StartAgent(kKv, "").ok());
  ExpectSettles(kStart - 15, kStart + 10);
}

TEST_F(MixedStoreTest, NoVoteFromEitherStoreAbortsBothBranches) {
  // PostgreSQL says NO: its CHECK constraint fails. The KV write must not survive.
  auto pg_no = client_->Begin();
  ASSERT_TRUE(pg_no.ok());
  ASSERT_TRUE(KvPut(pg_no->id(), kStart + 5000).ok());
  EXPECT_FALSE(Sql(pg_no->id(), "UPDATE accounts SET balance = balance - 5000 WHERE id = 1").ok());
  Outcome outcome = pg_no->Commit();
  EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
  ExpectSettles(kStart, kStart);

  // KV says NO: the value this branch read was changed by a transaction that committed after
  // the read, so the branch fails validation at prepare (serializable). PostgreSQL must not
  // commit its part.
  auto kv_no = client_->Begin();
  ASSERT_TRUE(kv_no.ok());
  ASSERT_TRUE(Sql(kv_no->id(), "UPDATE accounts SET balance = balance - 10 WHERE id = 1").ok());
  const int seen = KvBalanceIn(kv_no->id());
  ASSERT_EQ(seen, kStart);
  ASSERT_TRUE(WriteKv(*client_, cluster_->address(kKv), kKey, "1500").ok());
  ASSERT_TRUE(KvPut(kv_no->id(), seen + 10).ok());
  outcome = kv_no->Commit();
  EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << outcome.reason;
  ExpectSettles(kStart, 1500);
}

}  // namespace
}  // namespace pact::integration
