// The coordinator killed with SIGKILL at random moments while clients run a stream of
// concurrent transfers between two PostgreSQL databases (real pact-coordinator and pact-agent
// processes), restarted each time with a new epoch. Unlike the fail points, a plain kill lands
// anywhere: between begin and enlist, during prepare, with decisions half flushed, during
// phase 2.
//
// Invariants checked once everything settled:
//  - every transfer the client was told COMMITTED is in both databases; every one it was told
//    ABORTED is in neither; an UNKNOWN one is in both or neither (all-or-nothing);
//  - money is conserved, per account and in total, and each balance matches its transfer log;
//  - nothing stays prepared, and no branch's transaction stays open in PostgreSQL;
//  - the restarted coordinator commits new transfers (it is not wedged).
//
// The kill times come from a seed, printed at the start; PACT_ITEST_SEED=<n> replays one
// (timing still varies with the machine).
#include <gtest/gtest.h>
#include <thrift/TOutput.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pact/client.h"
#include "participant/sdk/rpc_convert.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kWorkers = 4;
constexpr int kStart = 1000;
constexpr int kKills = 2;
constexpr char kDbA[] = "bank_a";
constexpr char kDbB[] = "bank_b";
constexpr char kAgentA[] = "agent-a";
constexpr char kAgentB[] = "agent-b";

// What a client was told about one transfer.
struct Acknowledged {
  int worker;
  TxnId txid;
  OutcomeKind kind;
};

// The transfers a database holds: txid -> (account, amount).
using TransferLog = std::map<std::string, std::pair<int, int>>;

uint64_t Seed() {
  if (const char* text = std::getenv("PACT_ITEST_SEED")) return std::strtoull(text, nullptr, 10);
  return std::random_device()();
}

class CoordinatorCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Clients retry against the dead coordinator; Thrift would print every refused connection.
    apache::thrift::GlobalOutput.setOutputFunction([](const char*) {});
    ClusterOptions options;
    options.databases = {kDbA, kDbB};
    options.coordinator_flags = {"--txn-timeout-ms", "3000", "--prepare-timeout-ms", "1500",
                                 "--commit-wait-ms", "1000"};
    auto cluster = PactCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    for (const char* db : {kDbA, kDbB}) {
      auto created = cluster_->postgres().Query(
          db, fmt::format("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); "
                          "INSERT INTO accounts SELECT id, {} FROM generate_series(1, {}) id; "
                          "CREATE TABLE transfers (txid text PRIMARY KEY, account int NOT NULL, "
                          "amount int NOT NULL)",
                          kStart, kWorkers));
      ASSERT_TRUE(created.ok()) << created.status().ToString();
    }
    ASSERT_TRUE(cluster_->StartCoordinator().ok());
    ASSERT_TRUE(cluster_->StartAgent(kAgentA, kDbA).ok());
    ASSERT_TRUE(cluster_->StartAgent(kAgentB, kDbB).ok());
  }

  // One worker: transfers from its own account in bank_a to its own account in bank_b (so that
  // workers never wait on each other's row locks) until `stop_`. Every transfer also writes its
  // txid on both sides, which is how the end state is checked against what clients were told.
  void Work(int account, uint64_t seed) {
    ClientOptions options;
    options.coordinators = {cluster_->coordinator_address()};
    options.call_timeout_ms = 2000;
    options.commit_deadline_ms = 2000;
    auto client = Client::Create(options);
    ASSERT_TRUE(client.ok());
    std::mt19937_64 random(seed);
    const std::string a = cluster_->address(kAgentA);
    const std::string b = cluster_->address(kAgentB);
    while (!stop_.load()) {
      auto txn = (*client)->Begin();
      if (!txn.ok()) {  // the coordinator is down
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const std::string amount = std::to_string(1 + random() % 5);
      const std::string id = txn->id().ToString();
      const std::string key = std::to_string(account);
      auto move = [&](const std::string& agent, const std::string& signed_amount) {
        return AgentSql(agent, txn->id(),
                        "WITH logged AS (INSERT INTO transfers VALUES ($1, $2, $3)) "
                        "UPDATE accounts SET balance = balance + $3 WHERE id = $2",
                        {id, key, signed_amount})
            .ok();
      };
      const bool worked = move(a, "-" + amount) && move(b, amount);
      // A failed step (the coordinator died under it) is aborted, which may itself be UNKNOWN.
      const Outcome outcome = worked ? txn->Commit() : txn->Abort();
      std::lock_guard lock(mutex_);
      acknowledged_.push_back({account, txn->id(), outcome.kind});
    }
  }

  TransferLog Transfers(const char* db) {
    TransferLog log;
    auto rows = cluster_->postgres().Query(db, "SELECT txid, account, amount FROM transfers");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return log;
    for (const auto& row : *rows) log[row[0]] = {std::stoi(row[1]), std::stoi(row[2])};
    return log;
  }

  std::map<int, int> Balances(const char* db) {
    std::map<int, int> balances;
    auto rows = cluster_->postgres().Query(db, "SELECT id, balance FROM accounts");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return balances;
    for (const auto& row : *rows) balances[std::stoi(row[0])] = std::stoi(row[1]);
    return balances;
  }

  std::unique_ptr<PactCluster> cluster_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Acknowledged> acknowledged_;
};

TEST_F(CoordinatorCrashTest, KilledAtRandomDuringConcurrentTransfersKeepsEveryInvariant) {
  const uint64_t seed = Seed();
  std::cout << "PACT_ITEST_SEED=" << seed << "\n";
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 random(seed);
  auto millis = [&](int low, int high) {
    return std::chrono::milliseconds(low + static_cast<int>(random() % (high - low + 1)));
  };

  std::vector<std::thread> workers;
  // Stops and joins the workers however this test body ends (a failed ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop.store(true);
      for (std::thread& thread : threads) {
        if (thread.joinable()) thread.join();
      }
    }
  } joiner{stop_, workers};
  auto probe = Client::Create(ClientOptions{.coordinators = {cluster_->coordinator_address()}});
  ASSERT_TRUE(probe.ok());
  // The epoch of the coordinator running now (its transaction ids carry it).
  auto current_epoch = [&]() -> uint64_t {
    auto txn = (*probe)->Begin();
    if (!txn.ok()) return 0;
    (void)txn->Abort();
    return txn->id().epoch;
  };
  // Liveness, and the moment to kill again: every worker has committed a transfer that the
  // current coordinator began.
  auto every_worker_commits_in = [&](uint64_t epoch) {
    const auto since = std::chrono::steady_clock::now();
    const bool serving = Eventually(
        [&] {
          std::lock_guard lock(mutex_);
          std::set<int> served;
          for (const Acknowledged& ack : acknowledged_) {
            if (ack.txid.epoch == epoch && ack.kind == OutcomeKind::kCommitted) {
              served.insert(ack.worker);
            }
          }
          return served.size() == kWorkers;
        },
        20000, 20);
    std::cout << "epoch " << epoch << ": every worker committed after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - since)
                     .count()
              << " ms\n";
    return serving;
  };

  for (int i = 1; i <= kWorkers; ++i) workers.emplace_back([this, i, seed] { Work(i, seed + i); });
  uint64_t epoch = current_epoch();
  ASSERT_NE(epoch, 0u);
  for (int kill = 0; kill < kKills; ++kill) {
    ASSERT_TRUE(every_worker_commits_in(epoch))
        << "the coordinator of epoch " << epoch << " does not commit every worker's transfers";
    // A random moment of the stream: transfers are in every phase by now.
    std::this_thread::sleep_for(millis(0, 800));
    ASSERT_TRUE(cluster_->Kill("coordinator").ok());
    std::this_thread::sleep_for(millis(0, 300));
    ASSERT_TRUE(cluster_->StartCoordinator().ok());
    const uint64_t next = current_epoch();
    ASSERT_GT(next, epoch) << "a restarted coordinator leads a new epoch";
    epoch = next;
  }
  EXPECT_TRUE(every_worker_commits_in(epoch)) << "the restarted coordinator does not commit";
  stop_.store(true);
  for (std::thread& worker : workers) worker.join();
  const auto stopped = std::chrono::steady_clock::now();

  // Settle: every decided transaction finishes phase 2, every old-epoch branch in doubt learns
  // ABORTED, every abandoned active branch is rolled back once its agent hears of a new epoch.
  int prepared = -1, open = -1;
  const bool settled = Eventually(
      [&] {
        prepared =
            PreparedCount(cluster_->postgres(), kDbA) + PreparedCount(cluster_->postgres(), kDbB);
        open = OpenTransactionCount(cluster_->postgres(), kDbA) +
               OpenTransactionCount(cluster_->postgres(), kDbB);
        return prepared == 0 && open == 0;
      },
      30000, 200);
  std::cout << "settled in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stopped)
                   .count()
            << " ms\n";
  EXPECT_TRUE(settled) << "prepared=" << prepared << " open transactions=" << open
                       << "\ncoordinator log:\n"
                       << cluster_->LogOf("coordinator");

  const TransferLog in_a = Transfers(kDbA);
  const TransferLog in_b = Transfers(kDbB);
  std::map<OutcomeKind, int> counts;
  std::map<uint64_t, std::map<OutcomeKind, int>> by_epoch;
  for (const Acknowledged& ack : acknowledged_) ++by_epoch[ack.txid.epoch][ack.kind];
  for (const auto& [epoch, kinds] : by_epoch) {
    std::cout << "epoch " << epoch << ":";
    for (const auto& [kind, n] : kinds) std::cout << " " << Name(kind) << "=" << n;
    std::cout << "\n";
  }
  for (const Acknowledged& ack : acknowledged_) {
    ++counts[ack.kind];
    const std::string id = ack.txid.ToString();
    const bool a = in_a.contains(id), b = in_b.contains(id);
    if (ack.kind == OutcomeKind::kCommitted) {
      EXPECT_TRUE(a && b) << id << " acknowledged COMMITTED; in bank_a=" << a << " bank_b=" << b;
    } else if (ack.kind == OutcomeKind::kAborted) {
      EXPECT_FALSE(a || b) << id << " acknowledged ABORTED; in bank_a=" << a << " bank_b=" << b;
    }
  }
  std::cout << "transfers: committed=" << counts[OutcomeKind::kCommitted]
            << " aborted=" << counts[OutcomeKind::kAborted]
            << " unknown=" << counts[OutcomeKind::kUnknown] << " in both=" << in_a.size() << "\n";
  EXPECT_GT(counts[OutcomeKind::kCommitted], 0);

  // All-or-nothing: the same transfers on both sides, with opposite amounts.
  for (const auto& [id, entry] : in_a) {
    auto other = in_b.find(id);
    ASSERT_NE(other, in_b.end()) << id << " committed in bank_a only";
    EXPECT_EQ(other->second.first, entry.first) << id;
    EXPECT_EQ(other->second.second, -entry.second) << id;
  }
  for (const auto& [id, entry] : in_b) {
    EXPECT_TRUE(in_a.contains(id)) << id << " committed in bank_b only";
  }

  // Money: each balance is its start plus its transfers, and each pair of accounts keeps 2000.
  std::map<int, int> moved_a, moved_b;
  for (const auto& [id, entry] : in_a) moved_a[entry.first] += entry.second;
  for (const auto& [id, entry] : in_b) moved_b[entry.first] += entry.second;
  const std::map<int, int> balance_a = Balances(kDbA);
  const std::map<int, int> balance_b = Balances(kDbB);
  for (int account = 1; account <= kWorkers; ++account) {
    EXPECT_EQ(balance_a.at(account), kStart + moved_a[account]) << "bank_a account " << account;
    EXPECT_EQ(balance_b.at(account), kStart + moved_b[account]) << "bank_b account " << account;
    EXPECT_EQ(balance_a.at(account) + balance_b.at(account), 2 * kStart) << "account " << account;
  }
}

// A transaction in flight when its coordinator died leaves branches that did work but never
// voted; they hold their row locks. Such a branch can only abort (its epoch is closed and it
// never voted YES), so an agent that hears of the new epoch must release it at once - not
// after its idle timeout, which would stall every later transfer on the same rows.
TEST_F(CoordinatorCrashTest, BranchAbandonedByACrashedCoordinatorReleasesItsLocksAtOnce) {
  auto client = Client::Create(ClientOptions{.coordinators = {cluster_->coordinator_address()}});
  ASSERT_TRUE(client.ok());
  auto abandoned = (*client)->Begin();
  ASSERT_TRUE(abandoned.ok());
  ASSERT_TRUE(AgentSql(cluster_->address(kAgentA), abandoned->id(),
                       "UPDATE accounts SET balance = balance - 7 WHERE id = 1")
                  .ok());
  ASSERT_TRUE(cluster_->Kill("coordinator").ok());
  ASSERT_TRUE(cluster_->StartCoordinator().ok());

  auto next = (*client)->Begin();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_GT(next->id().epoch, abandoned->id().epoch);
  const auto started = std::chrono::steady_clock::now();
  // Enlisting in the new epoch tells agent-a that the old one is closed; the update then only
  // waits for the abandoned branch's rollback.
  auto updated = AgentSql(cluster_->address(kAgentA), next->id(),
                          "UPDATE accounts SET balance = balance + 3 WHERE id = 1");
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_LT(waited, std::chrono::milliseconds(2000))
      << "the row stayed locked by the abandoned branch for "
      << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms";
  EXPECT_EQ(next->Commit().kind, OutcomeKind::kCommitted);
  // What an agent asking about the abandoned transaction hears: its epoch is closed.
  auto fate = OutcomeOf(cluster_->coordinator_address(), sdk::ToRpc(abandoned->id()));
  ASSERT_TRUE(fate.ok()) << fate.status().ToString();
  EXPECT_EQ(*fate, rpc::Outcome::ABORTED);
  EXPECT_TRUE(Eventually(
      [&] {
        return QueryInt(cluster_->postgres(), kDbA, "SELECT balance FROM accounts WHERE id = 1") ==
                   kStart + 3 &&
               PreparedCount(cluster_->postgres(), kDbA) == 0 &&
               OpenTransactionCount(cluster_->postgres(), kDbA) == 0;
      },
      10000))
      << "only the new transfer is applied, and nothing stays open";
}

// A client whose reply was lost asks again - here after a kill -9 and a restart, for a
// transaction that ended before the kill. The new leader has a new epoch and holds nothing of
// it open; it answers from the COMMITs in its decision log, not UNKNOWN.
TEST_F(CoordinatorCrashTest, CommittedTransactionIsAnsweredCommittedAfterARestart) {
  auto client = Client::Create(ClientOptions{.coordinators = {cluster_->coordinator_address()}});
  ASSERT_TRUE(client.ok());
  auto transfer = [&](int amount) -> std::optional<TxnId> {
    auto txn = (*client)->Begin();
    if (!txn.ok()) return std::nullopt;
    const std::string sql = "UPDATE accounts SET balance = balance + $1 WHERE id = 1";
    if (!AgentSql(cluster_->address(kAgentA), txn->id(), sql, {std::to_string(-amount)}).ok() ||
        !AgentSql(cluster_->address(kAgentB), txn->id(), sql, {std::to_string(amount)}).ok() ||
        txn->Commit().kind != OutcomeKind::kCommitted) {
      return std::nullopt;
    }
    return txn->id();
  };
  auto both_ended = [&] {
    return PreparedCount(cluster_->postgres(), kDbA) == 0 &&
           PreparedCount(cluster_->postgres(), kDbB) == 0;
  };
  const std::optional<TxnId> ended = transfer(5);
  ASSERT_TRUE(ended.has_value());
  // Both branches acknowledged, so END is appended; the next decision's fsync makes it durable.
  // So the restarted coordinator does not resume it as an unfinished commit: only the record
  // of committed transactions can answer for it.
  ASSERT_TRUE(Eventually(both_ended, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(transfer(1).has_value());

  ASSERT_TRUE(cluster_->Kill("coordinator").ok());
  ASSERT_TRUE(cluster_->StartCoordinator().ok());
  const Outcome again = (*client)->Commit(*ended);
  EXPECT_EQ(again.kind, OutcomeKind::kCommitted) << again.reason;
  // Asking to abort it is answered the same way: too late, it committed.
  EXPECT_EQ((*client)->Abort(*ended).kind, OutcomeKind::kCommitted);
}

}  // namespace
}  // namespace pact::integration
