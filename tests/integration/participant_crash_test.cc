// Participants killed (SIGKILL, through fail points) at each step of two-phase commit, then
// restarted: a pact-agent on PostgreSQL and one on the KV store under one pact-coordinator,
// each transaction moving money from the PostgreSQL account to the KV one.
//
//   participant.after_store_prepare     the store prepared, the PREPARED record not written:
//                                       the agent never voted, so the transaction aborts
//   participant.after_prepared_durable  PREPARED durable, YES not sent: restarted at once, it
//                                       may still vote YES to a resent PREPARE (either outcome,
//                                       the same on both sides); restarted after the
//                                       coordinator gave up, the transaction aborted and the
//                                       agent's prepared branch must be rolled back
//   participant.after_store_commit      the store committed, COMMITTED not written: the
//                                       decision was COMMIT, and the restarted agent must not
//                                       undo or repeat it
//
// After each crash: the client's answer is COMMITTED or ABORTED (never UNKNOWN while the
// coordinator is up), both stores agree with it, and nothing stays prepared (pg_prepared_xacts
// is empty; the KV key is readable, so no prepared KV branch holds it).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "pact/client.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kStart = 1000;
constexpr int kAmount = 10;
constexpr char kDb[] = "bank";
constexpr char kPg[] = "agent-pg";
constexpr char kKv[] = "agent-kv";
constexpr char kKey[] = "account/1";

enum class Expect { kAborted, kEither, kCommitted };

struct CrashPoint {
  const char* fail_point;
  Expect expect;
  // Restart the agent only after the client has its answer (the coordinator gave up on the
  // vote), rather than at once.
  bool restart_after_answer = false;
};

constexpr CrashPoint kCrashPoints[] = {
    {"participant.after_store_prepare", Expect::kAborted},
    {"participant.after_prepared_durable", Expect::kEither},
    // In doubt across its restart: prepared and logged, but the coordinator aborted meanwhile.
    // The restarted agent must learn that and roll back, not commit its prepared branch.
    {"participant.after_prepared_durable", Expect::kAborted, /*restart_after_answer=*/true},
    {"participant.after_store_commit", Expect::kCommitted},
};

class ParticipantCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.databases = {kDb};
    // Short enough that a transaction whose participant died before voting aborts quickly,
    // long enough that an agent restarted at once can still vote in time.
    options.coordinator_flags = {"--prepare-timeout-ms", "2000"};
    const PgKvSetup setup{.db = kDb, .pg_agent = kPg, .kv_agent = kKv, .key = kKey,
                          .start = kStart, .balance_check = false,
                          .commit_deadline_ms = 20000};
    Status started = StartPgKvCluster(options, setup, &cluster_, &client_);
    ASSERT_TRUE(started.ok()) << started.ToString();
  }

  Status StartVictim(const std::string& victim, const std::string& fail_point = "") {
    return cluster_->StartAgent(victim, victim == kPg ? kDb : "", fail_point);
  }

  int PgBalance() {
    return QueryInt(cluster_->postgres(), kDb, "SELECT balance FROM accounts WHERE id = 1");
  }

  // Kills `victim` at `point` during one transfer, restarts it, and checks the outcome.
  // `moved` counts the transfers committed so far.
  void CrashDuringTransfer(const std::string& victim, const CrashPoint& point, int& moved) {
    SCOPED_TRACE(fmt::format("{} killed at {}{}", victim, point.fail_point,
                             point.restart_after_answer ? ", restarted late" : ""));
    ASSERT_TRUE(cluster_->Kill(victim).ok());
    ASSERT_TRUE(StartVictim(victim, point.fail_point).ok());

    auto txn = client_->Begin();
    ASSERT_TRUE(txn.ok()) << txn.status().ToString();
    const TxnId txid = txn->id();
    ASSERT_TRUE(
        AgentSql(cluster_->address(kPg), txid,
                 fmt::format("UPDATE accounts SET balance = balance - {} WHERE id = 1", kAmount))
            .ok());
    auto read = AgentKv(cluster_->address(kKv), txid, rpc::KvOp::GET, kKey);
    ASSERT_TRUE(read.ok() && read->found) << read.status().ToString();
    const int kv = std::stoi(read->entries.at(0).value);
    ASSERT_TRUE(
        AgentKv(cluster_->address(kKv), txid, rpc::KvOp::PUT, kKey, std::to_string(kv + kAmount))
            .ok());

    auto commit = std::async(std::launch::async, [&] { return client_->Commit(txid); });
    ASSERT_TRUE(cluster_->WaitForExit(victim, 15000).ok())
        << victim << " did not reach " << point.fail_point << "\n"
        << cluster_->LogOf(victim);
    if (!point.restart_after_answer) {
      ASSERT_TRUE(StartVictim(victim).ok());
    }
    const Outcome outcome = commit.get();
    if (point.restart_after_answer) {
      ASSERT_TRUE(StartVictim(victim).ok());
    }
    ASSERT_NE(outcome.kind, OutcomeKind::kUnknown) << outcome.reason;
    std::cout << victim << " killed at " << point.fail_point
              << (point.restart_after_answer ? ", restarted late: " : ": ") << Name(outcome.kind)
              << "\n";
    if (point.expect == Expect::kAborted) {
      EXPECT_EQ(outcome.kind, OutcomeKind::kAborted) << "the agent died before it voted";
    } else if (point.expect == Expect::kCommitted) {
      EXPECT_EQ(outcome.kind, OutcomeKind::kCommitted) << "every branch had voted YES";
    }
    EXPECT_EQ(client_->Commit(txid).kind, outcome.kind) << "asking again answers the same";
    if (outcome.committed()) ++moved;

    const int want_pg = kStart - moved * kAmount;
    const int want_kv = kStart + moved * kAmount;
    int pg = -1, prepared = -1;
    std::string kv_seen;
    const bool settled = Eventually(
        [&] {
          pg = PgBalance();
          prepared = PreparedCount(cluster_->postgres(), kDb);
          auto value = ReadKv(*client_, cluster_->address(kKv), kKey);
          kv_seen = value.ok() && value->has_value() ? **value : value.status().ToString();
          return pg == want_pg && prepared == 0 && kv_seen == std::to_string(want_kv);
        },
        20000, 100);
    ASSERT_TRUE(settled) << Name(outcome.kind) << ": postgres=" << pg << " (want " << want_pg
                         << ") kv=" << kv_seen << " (want " << want_kv << ") prepared=" << prepared
                         << "\n"
                         << victim << " log:\n"
                         << cluster_->LogOf(victim);
  }

  void CrashAtEveryPoint(const std::string& victim) {
    int moved = 0;
    for (const CrashPoint& point : kCrashPoints) {
      ASSERT_NO_FATAL_FAILURE(CrashDuringTransfer(victim, point, moved));
    }
    // The restarted agents still work together.
    auto txn = client_->Begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(AgentSql(cluster_->address(kPg), txn->id(),
                         "UPDATE accounts SET balance = balance + 1 WHERE id = 1")
                    .ok());
    ASSERT_TRUE(AgentKv(cluster_->address(kKv), txn->id(), rpc::KvOp::PUT, "after", "1").ok());
    EXPECT_EQ(txn->Commit().kind, OutcomeKind::kCommitted);
  }

  std::unique_ptr<PactCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(ParticipantCrashTest, PostgresAgentKilledAtEachStepEndsAllOrNothing) {
  CrashAtEveryPoint(kPg);
}

TEST_F(ParticipantCrashTest, KvAgentKilledAtEachStepEndsAllOrNothing) { CrashAtEveryPoint(kKv); }

}  // namespace
}  // namespace pact::integration
