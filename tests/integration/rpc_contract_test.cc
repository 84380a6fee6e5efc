// Pact's RPCs called directly, the way a confused, slow or stale peer would: duplicate,
// late and out-of-order calls to a pact-agent's Participant service (the test plays the
// coordinator), unknown transaction ids and invalid ids to the pact-coordinator (the test plays
// a client or a participant), and messages of an epoch that a coordinator restart closed.
// Each check names what pact.thrift and DESIGN §2 promise, and then looks at PostgreSQL to see
// that nothing changed that should not have.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pact/client.h"
#include "participant/sdk/rpc_convert.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"

namespace pact::integration {
namespace {

constexpr int kStart = 1000;
constexpr char kDb[] = "bank";
constexpr char kAgent[] = "agent";

class RpcContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions options;
    options.databases = {kDb};
    auto cluster = PactCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    auto created = cluster_->postgres().Query(
        kDb, fmt::format("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL); "
                         "INSERT INTO accounts VALUES (1, {0}), (2, {0})",
                         kStart));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    ASSERT_TRUE(cluster_->StartCoordinator().ok());
    ASSERT_TRUE(cluster_->StartAgent(kAgent, kDb).ok());
    ClientOptions client_options;
    client_options.coordinators = {cluster_->coordinator_address()};
    client_options.commit_deadline_ms = 10000;
    auto client = Client::Create(client_options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
  }

  const std::string& agent() const { return cluster_->address(kAgent); }
  const std::string& coordinator() const { return cluster_->coordinator_address(); }

  TxnId Begin() {
    auto txn = client_->Begin();
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    return txn.ok() ? txn->id() : TxnId{};
  }

  // Debits `amount` from `account` in the agent's branch of `txid`: the agent's first (and
  // only) branch, which the coordinator numbers 1.
  Status Debit(const TxnId& txid, int amount, int account = 1) {
    return AgentSql(agent(), txid,
                    fmt::format("UPDATE accounts SET balance = balance - {} WHERE id = {}", amount,
                                account))
        .status();
  }

  int Balance(int account = 1) {
    return QueryInt(cluster_->postgres(), kDb,
                    fmt::format("SELECT balance FROM accounts WHERE id = {}", account));
  }
  int Prepared() { return PreparedCount(cluster_->postgres(), kDb); }
  int Open() { return OpenTransactionCount(cluster_->postgres(), kDb); }

  std::unique_ptr<PactCluster> cluster_;
  std::unique_ptr<Client> client_;
};

// Expects `result` to have failed with `code`.
template <typename T>
void ExpectCode(const Result<T>& result, StatusCode code, const std::string& what) {
  ASSERT_FALSE(result.ok()) << what << " succeeded";
  EXPECT_EQ(result.status().code(), code) << what << ": " << result.status().ToString();
}

TEST_F(RpcContractTest, ParticipantCallsAreIdempotentAndOrderProof) {
  // prepare twice (and twice at once) answers the same vote and prepares once.
  const TxnId t1 = Begin();
  ASSERT_TRUE(Debit(t1, 10).ok());
  const int64_t epoch = static_cast<int64_t>(t1.epoch);
  for (int i = 0; i < 2; ++i) {
    auto vote = Prepare(agent(), Branch(t1, 1), epoch);
    ASSERT_TRUE(vote.ok()) << vote.status().ToString();
    EXPECT_EQ(vote->vote, rpc::Vote::YES) << "prepare #" << i + 1;
  }
  EXPECT_EQ(Prepared(), 1);
  {
    const TxnId twice = Begin();
    ASSERT_TRUE(Debit(twice, 1, /*account=*/2).ok());  // t1 holds account 1 while prepared
    // Two PREPAREs in flight at once, as when the coordinator resends before the first vote
    // arrived: both must get the vote, and promptly - a resend left without an answer ties up
    // one of the coordinator's sender threads until its call times out.
    auto ask = [&] { return Prepare(agent(), Branch(twice, 1), epoch); };
    auto first = std::async(std::launch::async, ask);
    auto second = std::async(std::launch::async, ask);
    const auto started = std::chrono::steady_clock::now();
    auto a = first.get();
    auto b = second.get();
    const auto waited = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(a->vote, rpc::Vote::YES);
    EXPECT_EQ(b->vote, rpc::Vote::YES);
    EXPECT_LT(waited, std::chrono::milliseconds(2000));
    EXPECT_EQ(Prepared(), 2);
    auto aborted = AbortBranch(agent(), Branch(twice, 1), epoch);
    ASSERT_TRUE(aborted.ok()) << aborted.status().ToString();
    EXPECT_EQ(*aborted, rpc::Outcome::ABORTED);
    EXPECT_EQ(Prepared(), 1);
    EXPECT_EQ(Balance(2), kStart);
  }

  // commit_branch twice commits once; a PREPARE after the commit still says YES.
  for (int i = 0; i < 2; ++i) {
    auto acked = CommitBranch(agent(), Branch(t1, 1), epoch);
    ASSERT_TRUE(acked.ok()) << acked.status().ToString();
    EXPECT_EQ(*acked, rpc::Outcome::COMMITTED) << "commit_branch #" << i + 1;
  }
  EXPECT_EQ(Balance(), kStart - 10);
  EXPECT_EQ(Prepared(), 0);
  auto late_vote = Prepare(agent(), Branch(t1, 1), epoch);
  ASSERT_TRUE(late_vote.ok());
  EXPECT_EQ(late_vote->vote, rpc::Vote::YES);
  // The coordinator, which never saw this, commits it in one phase: the branch says COMMITTED.
  EXPECT_EQ(client_->Commit(t1).kind, OutcomeKind::kCommitted);
  EXPECT_EQ(Balance(), kStart - 10);

  // abort_branch before prepare, then the late PREPARE: NO, nothing prepared, work refused.
  const TxnId t2 = Begin();
  ASSERT_TRUE(Debit(t2, 20).ok());
  for (int i = 0; i < 2; ++i) {
    auto acked = AbortBranch(agent(), Branch(t2, 1), epoch);
    ASSERT_TRUE(acked.ok()) << acked.status().ToString();
    EXPECT_EQ(*acked, rpc::Outcome::ABORTED);
  }
  auto refused = Prepare(agent(), Branch(t2, 1), epoch);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->vote, rpc::Vote::NO);
  EXPECT_EQ(Prepared(), 0);
  EXPECT_TRUE(Eventually([&] { return Open() == 0; }, 5000)) << "the active work is rolled back";
  ExpectCode(AgentSql(agent(), t2, "SELECT 1"), StatusCode::kFailedPrecondition,
             "work in an aborted branch");
  EXPECT_EQ(client_->Commit(t2).kind, OutcomeKind::kAborted);

  // abort_branch for a branch the agent never saw writes a tombstone: a late PREPARE gets NO,
  // work is refused, and both hold across a restart of the agent.
  const TxnId t3 = Begin();
  auto tombstone = AbortBranch(agent(), Branch(t3, 1), epoch);
  ASSERT_TRUE(tombstone.ok()) << tombstone.status().ToString();
  EXPECT_EQ(*tombstone, rpc::Outcome::ABORTED);
  ExpectCode(AgentSql(agent(), t3, "UPDATE accounts SET balance = 0"),
             StatusCode::kFailedPrecondition, "work in a tombstoned transaction");
  ASSERT_TRUE(cluster_->Kill(kAgent).ok());
  ASSERT_TRUE(cluster_->StartAgent(kAgent, kDb).ok());
  for (const TxnId& dead : {t2, t3}) {
    auto vote = Prepare(agent(), Branch(dead, 1), epoch);
    ASSERT_TRUE(vote.ok()) << vote.status().ToString();
    EXPECT_EQ(vote->vote, rpc::Vote::NO) << dead.ToString() << " after the agent restarted";
  }
  EXPECT_EQ(Prepared(), 0);

  // commit_branch for a branch the agent does not know: UnknownTransaction (its log does not
  // show it committed), at once, and nothing changes - the transaction can still do its work.
  const TxnId t4 = Begin();
  const auto asked = std::chrono::steady_clock::now();
  ExpectCode(CommitBranch(agent(), Branch(t4, 1), epoch), StatusCode::kNotFound,
             "commit_branch of an unknown branch");
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(2000));
  ASSERT_TRUE(Debit(t4, 4).ok());
  EXPECT_EQ(client_->Commit(t4).kind, OutcomeKind::kCommitted);
  // The one-phase kind carries the decision: with no work here, the transaction aborts.
  const TxnId t5 = Begin();
  auto one_phase = CommitBranch(agent(), Branch(t5, 1), epoch, /*one_phase=*/true);
  ASSERT_TRUE(one_phase.ok()) << one_phase.status().ToString();
  EXPECT_EQ(*one_phase, rpc::Outcome::ABORTED);

  // Invalid ids: InvalidArgument, whatever the call.
  const rpc::BranchRef bad_refs[] = {Branch(t4, 0), Branch(t4, -1), Branch(TxnId{0, 1}, 1), [] {
                                       rpc::BranchRef ref;
                                       ref.txid = RpcTxn(1, -5);
                                       ref.branch = 1;
                                       return ref;
                                     }()};
  for (const rpc::BranchRef& ref : bad_refs) {
    const std::string what =
        fmt::format("branch {}.{}/{}", ref.txid.epoch, ref.txid.sequence, ref.branch);
    ExpectCode(Prepare(agent(), ref, epoch), StatusCode::kInvalidArgument, "prepare " + what);
    ExpectCode(CommitBranch(agent(), ref, epoch), StatusCode::kInvalidArgument,
               "commit_branch " + what);
    ExpectCode(AbortBranch(agent(), ref, epoch), StatusCode::kInvalidArgument,
               "abort_branch " + what);
  }
  for (int64_t bad_epoch : {int64_t{0}, int64_t{-1}}) {
    ExpectCode(Prepare(agent(), Branch(t4, 1), bad_epoch), StatusCode::kInvalidArgument,
               fmt::format("prepare with coordinator_epoch {}", bad_epoch));
    ExpectCode(CommitBranch(agent(), Branch(t4, 1), bad_epoch), StatusCode::kInvalidArgument,
               fmt::format("commit_branch with coordinator_epoch {}", bad_epoch));
    ExpectCode(AbortBranch(agent(), Branch(t4, 1), bad_epoch), StatusCode::kInvalidArgument,
               fmt::format("abort_branch with coordinator_epoch {}", bad_epoch));
  }
  ExpectCode(AgentSql(agent(), TxnId{0, 0}, "SELECT 1"), StatusCode::kInvalidArgument,
             "execute_sql in txid 0.0");

  EXPECT_EQ(Balance(), kStart - 10 - 4) << "only t1 and t4 committed";
  EXPECT_TRUE(Eventually([&] { return Prepared() == 0 && Open() == 0; }, 5000));
}

TEST_F(RpcContractTest, ParticipantExchangeAnswersEachRequestAsItsSingleCallWould) {
  const TxnId t1 = Begin();
  const TxnId t2 = Begin();
  ASSERT_TRUE(Debit(t1, 10, /*account=*/1).ok());
  ASSERT_TRUE(Debit(t2, 20, /*account=*/2).ok());
  const TxnId unknown = Begin();
  const TxnId tombstoned = Begin();
  const int64_t epoch = static_cast<int64_t>(t1.epoch);

  // A malformed batch is refused whole: nothing in it happens, not even its valid entries.
  ExpectCode(Exchange(agent(), {}), StatusCode::kInvalidArgument, "an empty exchange");
  rpc::ParticipantRequest two_in_one = PrepareEntry(Branch(t1, 1), epoch);
  two_in_one.__set_commit(CommitEntry(Branch(t1, 1), epoch).commit);
  ExpectCode(Exchange(agent(), {PrepareEntry(Branch(t2, 1), epoch), two_in_one}),
             StatusCode::kInvalidArgument, "an entry with two requests");
  ExpectCode(Exchange(agent(), {PrepareEntry(Branch(t2, 1), epoch), rpc::ParticipantRequest{}}),
             StatusCode::kInvalidArgument, "an empty entry");
  ExpectCode(Exchange(agent(), {PrepareEntry(Branch(t2, 1), epoch),
                                PrepareEntry(Branch(t1, 0), epoch)}),
             StatusCode::kInvalidArgument, "an entry with branch 0");
  ExpectCode(Exchange(agent(), std::vector<rpc::ParticipantRequest>(
                                   1025, AbortEntry(Branch(tombstoned, 1), epoch))),
             StatusCode::kInvalidArgument, "1025 entries");
  EXPECT_EQ(Prepared(), 0) << "a refused batch prepared something";

  // Phase 1 for two transactions, plus what commit_branch and abort_branch do with branches
  // the agent never saw: each answered in its own slot.
  auto first = Exchange(agent(), {PrepareEntry(Branch(t1, 1), epoch),
                                  CommitEntry(Branch(unknown, 1), epoch),
                                  PrepareEntry(Branch(t2, 1), epoch),
                                  AbortEntry(Branch(tombstoned, 1), epoch)});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 4u);
  ASSERT_TRUE((*first)[0].__isset.vote);
  EXPECT_EQ((*first)[0].vote.vote, rpc::Vote::YES);
  EXPECT_TRUE((*first)[1].__isset.refused);
  EXPECT_TRUE((*first)[1].__isset.unknown_branch && (*first)[1].unknown_branch);
  ASSERT_TRUE((*first)[2].__isset.vote);
  EXPECT_EQ((*first)[2].vote.vote, rpc::Vote::YES);
  ASSERT_TRUE((*first)[3].__isset.ack);
  EXPECT_EQ((*first)[3].ack.outcome, rpc::Outcome::ABORTED);
  EXPECT_EQ(Prepared(), 2);

  // Phase 2 for both in one call (one PostgreSQL round trip), twice: committed once.
  for (int i = 0; i < 2; ++i) {
    auto second = Exchange(agent(), {CommitEntry(Branch(t1, 1), epoch),
                                     CommitEntry(Branch(t2, 1), epoch)});
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    ASSERT_EQ(second->size(), 2u);
    for (const rpc::ParticipantAnswer& answer : *second) {
      ASSERT_TRUE(answer.__isset.ack) << "exchange #" << i + 1 << ": " << answer.refused;
      EXPECT_EQ(answer.ack.outcome, rpc::Outcome::COMMITTED);
    }
  }
  EXPECT_EQ(Prepared(), 0);
  EXPECT_EQ(Balance(1), kStart - 10);
  EXPECT_EQ(Balance(2), kStart - 20);
  // The tombstone holds: work in that transaction is refused.
  ExpectCode(AgentSql(agent(), tombstoned, "SELECT 1"), StatusCode::kFailedPrecondition,
             "work in a tombstoned transaction");

  // A newer epoch raises the agent's fence; requests of the old one are refused with it.
  const TxnId later = Begin();
  auto raised = Exchange(agent(), {AbortEntry(Branch(later, 1), epoch + 1)});
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  ASSERT_TRUE((*raised)[0].__isset.ack);
  auto stale = Exchange(agent(), {PrepareEntry(Branch(later, 1), epoch),
                                  AbortEntry(Branch(later, 1), epoch + 1)});
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_TRUE((*stale)[0].__isset.refused);
  ASSERT_TRUE((*stale)[0].__isset.current_epoch);
  EXPECT_EQ((*stale)[0].current_epoch, epoch + 1);
  ASSERT_TRUE((*stale)[1].__isset.ack) << "the other entry of the batch is answered";
  EXPECT_EQ((*stale)[1].ack.outcome, rpc::Outcome::ABORTED);
  EXPECT_TRUE(Eventually([&] { return Prepared() == 0 && Open() == 0; }, 5000));
}

TEST_F(RpcContractTest, CoordinatorAnswersUnknownTxidsAndRefusesStaleOrInvalidOnes) {
  const TxnId first = Begin();
  ASSERT_TRUE(first.valid());
  const int64_t epoch = static_cast<int64_t>(first.epoch);
  const int64_t next = static_cast<int64_t>(first.sequence) + 1;

  // A txid this coordinator has not issued yet. commit/abort answer UNKNOWN: a coordinator
  // cannot tell a txid it never began from one it finished and forgot, and ABORTED would be a
  // guess. outcome() may say ABORTED only when no COMMIT can be chosen any more - not true of a
  // sequence it may still issue. Nothing of this may stick to the txid once it is issued.
  {
    auto committed = CommitTxn(coordinator(), RpcTxn(epoch, next));
    ASSERT_TRUE(committed.ok()) << committed.status().ToString();
    EXPECT_EQ(*committed, rpc::Outcome::UNKNOWN) << "commit_transaction of a never-begun txid";
    auto aborted = AbortTxn(coordinator(), RpcTxn(epoch, next));
    ASSERT_TRUE(aborted.ok()) << aborted.status().ToString();
    EXPECT_EQ(*aborted, rpc::Outcome::UNKNOWN) << "abort_transaction of a never-begun txid";
    auto early = OutcomeOf(coordinator(), RpcTxn(epoch, next));
    ASSERT_TRUE(early.ok()) << early.status().ToString();
    EXPECT_NE(*early, rpc::Outcome::ABORTED)
        << "outcome() of txid " << epoch << "." << next << ", which is not issued yet";
    // Enlisting in a transaction that does not exist is refused.
    auto enlisted = Enlist(coordinator(), RpcTxn(epoch, next + 1000), agent());
    ASSERT_FALSE(enlisted.ok()) << "enlisted in a never-begun transaction";
    EXPECT_TRUE(enlisted.status().code() == StatusCode::kFailedPrecondition ||
                enlisted.status().code() == StatusCode::kNotFound)
        << enlisted.status().ToString();

    const TxnId issued = Begin();
    ASSERT_EQ(issued.epoch, first.epoch);
    ASSERT_EQ(static_cast<int64_t>(issued.sequence), next) << "nothing else begins meanwhile";
    ASSERT_TRUE(Debit(issued, 2).ok());
    EXPECT_EQ(client_->Commit(issued).kind, OutcomeKind::kCommitted);
    auto later = OutcomeOf(coordinator(), sdk::ToRpc(issued));
    ASSERT_TRUE(later.ok());
    EXPECT_EQ(*later, rpc::Outcome::COMMITTED);
    EXPECT_EQ(Balance(), kStart - 2);
  }

  // Invalid ids and arguments: InvalidArgument.
  for (const rpc::TxnId& bad : {RpcTxn(0, 1), RpcTxn(epoch, 0), RpcTxn(-1, 1), RpcTxn(1, -1)}) {
    const std::string what = fmt::format("txid {}.{}", bad.epoch, bad.sequence);
    ExpectCode(CommitTxn(coordinator(), bad), StatusCode::kInvalidArgument, "commit " + what);
    ExpectCode(AbortTxn(coordinator(), bad), StatusCode::kInvalidArgument, "abort " + what);
    ExpectCode(OutcomeOf(coordinator(), bad), StatusCode::kInvalidArgument, "outcome " + what);
    ExpectCode(Enlist(coordinator(), bad, agent()), StatusCode::kInvalidArgument, "enlist " + what);
  }
  const TxnId open = Begin();
  ExpectCode(OutcomeOf(coordinator(), sdk::ToRpc(open), /*epoch=*/-1), StatusCode::kInvalidArgument,
             "outcome with a negative epoch");
  ExpectCode(Enlist(coordinator(), sdk::ToRpc(open), "not an address"),
             StatusCode::kInvalidArgument, "enlist with a malformed address");
  ExpectCode(Enlist(coordinator(), sdk::ToRpc(open), agent(), /*incarnation=*/-1),
             StatusCode::kInvalidArgument, "enlist with a negative incarnation");

  // A branch of this epoch prepared (YES), then the coordinator restarts: epoch + 1.
  const TxnId stranded = Begin();
  ASSERT_TRUE(Debit(stranded, 3).ok());
  auto vote = Prepare(agent(), Branch(stranded, 1), epoch);
  ASSERT_TRUE(vote.ok() && vote->vote == rpc::Vote::YES);
  ASSERT_TRUE(cluster_->Kill("coordinator").ok());
  ASSERT_TRUE(cluster_->StartCoordinator().ok());
  const TxnId fresh = Begin();
  ASSERT_GT(fresh.epoch, first.epoch) << "a restarted coordinator leads a new epoch";
  const int64_t new_epoch = static_cast<int64_t>(fresh.epoch);

  // The old epoch is closed: enlisting in it is refused as stale; the stranded transaction can
  // only have aborted (outcome), while commit_transaction still does not guess.
  ExpectCode(Enlist(coordinator(), sdk::ToRpc(stranded), agent()), StatusCode::kStaleEpoch,
             "enlist in a transaction of a closed epoch");
  auto stranded_outcome = OutcomeOf(coordinator(), sdk::ToRpc(stranded));
  ASSERT_TRUE(stranded_outcome.ok());
  EXPECT_EQ(*stranded_outcome, rpc::Outcome::ABORTED);
  auto stranded_commit = CommitTxn(coordinator(), sdk::ToRpc(stranded));
  ASSERT_TRUE(stranded_commit.ok());
  EXPECT_NE(*stranded_commit, rpc::Outcome::COMMITTED);
  // The agent, in doubt about it, asks and rolls it back.
  EXPECT_TRUE(Eventually([&] { return Prepared() == 0; }, 10000))
      << "the prepared branch of the closed epoch is never resolved";

  // The agent sees the new epoch when it enlists in a new transaction. From then on, requests
  // carrying the old epoch are StaleEpoch and change nothing.
  ASSERT_TRUE(Debit(fresh, 4).ok());
  ExpectCode(Prepare(agent(), Branch(fresh, 1), epoch), StatusCode::kStaleEpoch,
             "prepare with the old epoch");
  ExpectCode(AbortBranch(agent(), Branch(fresh, 1), epoch), StatusCode::kStaleEpoch,
             "abort_branch with the old epoch");
  EXPECT_EQ(Prepared(), 0);
  ASSERT_TRUE(AgentSql(agent(), fresh, "SELECT 1").ok()) << "the branch is still active";
  auto current = Prepare(agent(), Branch(fresh, 1), new_epoch);
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(current->vote, rpc::Vote::YES);
  ExpectCode(CommitBranch(agent(), Branch(fresh, 1), epoch), StatusCode::kStaleEpoch,
             "commit_branch with the old epoch");
  ExpectCode(AbortBranch(agent(), Branch(fresh, 1), epoch), StatusCode::kStaleEpoch,
             "abort_branch of a prepared branch with the old epoch");
  EXPECT_EQ(Prepared(), 1) << "still prepared, still in doubt";
  EXPECT_EQ(client_->Commit(fresh).kind, OutcomeKind::kCommitted);
  EXPECT_TRUE(Eventually([&] { return Prepared() == 0 && Open() == 0; }, 10000));
  EXPECT_EQ(Balance(), kStart - 2 - 4) << "the stranded debit of 3 was rolled back";
}

// Leased txids: a lease is bounded and validated; a leased txid begins when an agent first
// enlists in it, and commits as any other; one the client never used aborts when the lease
// ends, after which it can no longer begin.
TEST_F(RpcContractTest, LeasedTxidsBeginAtFirstUseAndAbortUnusedWhenTheLeaseEnds) {
  ExpectCode(BeginTxn(coordinator(), -1), StatusCode::kInvalidArgument, "lease_txids -1");
  ExpectCode(BeginTxn(coordinator(), 1025), StatusCode::kInvalidArgument, "lease_txids 1025");
  auto lease = BeginTxn(coordinator(), 3);
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  ASSERT_EQ(lease->leased, 3);
  ASSERT_GT(lease->lease_ms, 0);
  const TxnId used = sdk::FromRpc(lease->txid);
  const TxnId unused{used.epoch, used.sequence + 2};

  auto before = OutcomeOf(coordinator(), sdk::ToRpc(unused));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, rpc::Outcome::UNKNOWN) << "a leased txid may still begin";
  ASSERT_TRUE(Debit(used, 5).ok());
  EXPECT_EQ(client_->Commit(used).kind, OutcomeKind::kCommitted);
  EXPECT_TRUE(Eventually([&] { return Prepared() == 0 && Open() == 0; }, 10000));
  EXPECT_EQ(Balance(), kStart - 5);

  // The cluster's coordinator leases for 4 s (its --txid-lease-ms default).
  ASSERT_LE(lease->lease_ms, 10000);
  std::this_thread::sleep_for(std::chrono::milliseconds(lease->lease_ms + 200));
  auto after = OutcomeOf(coordinator(), sdk::ToRpc(unused));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, rpc::Outcome::ABORTED);
  EXPECT_FALSE(Debit(unused, 7).ok()) << "work in an expired leased txid";
  EXPECT_EQ(Balance(), kStart - 5);
  EXPECT_TRUE(Eventually([&] { return Open() == 0; }, 10000));

  // The SDK's client takes consecutive txids from one lease, and commits them as usual.
  EXPECT_EQ(Client::Create({.coordinators = {coordinator()}, .txid_lease = -1}).status().code(),
            StatusCode::kInvalidArgument);
  auto leasing = Client::Create({.coordinators = {coordinator()}, .txid_lease = 4});
  ASSERT_TRUE(leasing.ok());
  auto a = (*leasing)->Begin();
  auto b = (*leasing)->Begin();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->id().sequence, a->id().sequence + 1) << "the second came from the lease";
  ASSERT_TRUE(Debit(b->id(), 1).ok());
  EXPECT_EQ(b->Commit().kind, OutcomeKind::kCommitted);
  EXPECT_EQ(a->Commit().kind, OutcomeKind::kCommitted) << "no work: committed read-only";
  EXPECT_EQ(Balance(), kStart - 6);
}

}  // namespace
}  // namespace pact::integration
