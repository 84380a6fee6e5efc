// CoordinatorDriver against fake participants served over real loopback Thrift, with the real
// decision log on an in-memory disk whose fsync takes as long as a test wants: a commit is
// answered and both phases finish without ticks, concurrent commits share fsyncs and their
// messages travel in batches, and a call whose deadline passes answers UNKNOWN in time.
#include "coordinator/server/coordinator_driver.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/fault_injecting_file_system.h"
#include "common/sync_hook_file_system.h"
#include "coordinator/single_replica_decision_log.h"
#include "pact/rpc/Participant.h"
#include "thrift/rpc_server.h"

namespace pact::coordinator {
namespace {

using namespace std::chrono_literals;

// A participant that votes as told and counts what it is asked, one call or one exchange batch
// at a time. PREPARE answers can be late.
class FakeParticipant final : public rpc::ParticipantIf {
 public:
  std::atomic<rpc::Vote> vote{rpc::YES};
  std::atomic<int> prepare_delay_ms{0};
  std::atomic<int> prepares{0};
  std::atomic<int> commits{0};
  std::atomic<int> aborts{0};
  std::atomic<int> exchanges{0};

  void prepare(rpc::PrepareReply& reply, const rpc::PrepareRequest&) override {
    ++prepares;
    std::this_thread::sleep_for(std::chrono::milliseconds(prepare_delay_ms.load()));
    reply.vote = vote;
  }
  void commit_branch(rpc::BranchAckReply& reply, const rpc::CommitBranchRequest&) override {
    ++commits;
    reply.outcome = rpc::Outcome::COMMITTED;
  }
  void abort_branch(rpc::BranchAckReply& reply, const rpc::AbortBranchRequest&) override {
    ++aborts;
    reply.outcome = rpc::Outcome::ABORTED;
  }
  // While held, exchange calls wait at the door: whatever the coordinator sends meanwhile
  // queues behind the call in flight.
  void Hold() {
    std::lock_guard<std::mutex> lock(door_mutex_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(door_mutex_);
      held_ = false;
    }
    door_opened_.notify_all();
  }

  void exchange(std::vector<rpc::ParticipantAnswer>& answers,
                const std::vector<rpc::ParticipantRequest>& requests) override {
    {
      std::unique_lock<std::mutex> lock(door_mutex_);
      door_opened_.wait(lock, [this] { return !held_; });
    }
    ++exchanges;
    for (const rpc::ParticipantRequest& request : requests) {
      rpc::ParticipantAnswer answer;
      if (request.__isset.prepare) {
        rpc::PrepareReply reply;
        prepare(reply, request.prepare);
        answer.__set_vote(reply);
      } else if (request.__isset.commit) {
        rpc::BranchAckReply reply;
        commit_branch(reply, request.commit);
        answer.__set_ack(reply);
      } else {
        rpc::BranchAckReply reply;
        abort_branch(reply, request.abort);
        answer.__set_ack(reply);
      }
      answers.push_back(std::move(answer));
    }
  }

 private:
  std::mutex door_mutex_;
  std::condition_variable door_opened_;
  bool held_ = false;
};

class CoordinatorDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& participant : participants_) {
      participant = std::make_shared<FakeParticipant>();
      auto server = rpc::RpcServer::Start(
          rpc::Endpoint{"127.0.0.1", 0},
          {{"Participant", std::make_shared<rpc::ParticipantProcessor>(participant)}});
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      addresses_.push_back(fmt::format("127.0.0.1:{}", (*server)->port()));
      servers_.push_back(std::move(server).value());
    }
  }

  void TearDown() override {
    if (driver_ != nullptr) driver_->Stop();
  }

  // `tick_ms` long enough means no tick after the first: whatever happens is done by calls
  // and the sender.
  void StartDriver(int tick_ms, size_t calls_in_flight_per_participant = 4) {
    wal::LogOptions log_options;
    log_options.dir = "/coord/decisions";
    auto log = SingleReplicaDecisionLog::Open(&fs_, log_options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    DriverOptions options;
    options.tick_ms = tick_ms;
    options.sender.sender_threads = 4;
    options.sender.calls_in_flight_per_participant = calls_in_flight_per_participant;
    options.sender.rpc.call_timeout_ms = 3000;
    auto driver = CoordinatorDriver::Start(options, "coord-test", std::move(log).value(),
                                           SystemClock::Default());
    ASSERT_TRUE(driver.ok()) << driver.status().ToString();
    driver_ = std::move(driver).value();
  }

  // Begins a transaction and enlists a branch on every fake participant.
  TxnId BeginWithBranches() {
    Result<protocol::Message> began = driver_->Call(protocol::BeginRequest{1}, 2000);
    EXPECT_TRUE(began.ok()) << began.status().ToString();
    if (!began.ok()) return TxnId{};
    const TxnId txn = std::get<protocol::BeginReply>(*began).txn;
    for (const std::string& address : addresses_) {
      Result<protocol::Message> enlisted =
          driver_->Call(protocol::EnlistRequest{driver_->epoch(), txn, address, 1}, 2000);
      EXPECT_TRUE(enlisted.ok()) << enlisted.status().ToString();
      if (!enlisted.ok()) return TxnId{};
      EXPECT_EQ(std::get<protocol::EnlistReply>(*enlisted).status,
                protocol::EnlistStatus::kEnlisted);
    }
    return txn;
  }

  Result<protocol::Outcome> Commit(const TxnId& txn, int wait_ms = 3000) {
    PACT_ASSIGN_OR_RETURN(protocol::Message reply,
                          driver_->Call(protocol::CommitRequest{txn}, wait_ms));
    return std::get<protocol::CommitReply>(reply).outcome;
  }

  int Sum(std::atomic<int> FakeParticipant::*counter) const {
    int sum = 0;
    for (const auto& participant : participants_) sum += ((*participant).*counter).load();
    return sum;
  }

  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return done();
  }

  // A disk whose fsync takes as long as a test wants: slow enough for concurrent commits to
  // meet in one group commit.
  FaultInjectingFileSystem disk_{7};
  std::atomic<std::chrono::milliseconds> sync_delay_{0ms};
  SyncHookFileSystem fs_{&disk_, [this] { std::this_thread::sleep_for(sync_delay_.load()); }};
  std::shared_ptr<FakeParticipant> participants_[2];
  std::vector<std::string> addresses_;
  std::vector<std::unique_ptr<rpc::RpcServer>> servers_;
  std::unique_ptr<CoordinatorDriver> driver_;
};

TEST_F(CoordinatorDriverTest, CommitIsAnsweredAndPhaseTwoFinishesWithoutTicks) {
  StartDriver(/*tick_ms=*/600000);
  const TxnId txn = BeginWithBranches();
  ASSERT_TRUE(txn.valid());
  Result<protocol::Outcome> outcome = Commit(txn);
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(*outcome, protocol::Outcome::kCommitted);
  EXPECT_EQ(Sum(&FakeParticipant::prepares), 2);
  // No tick comes: the sender thread that stepped the votes carries phase 2 out, and END.
  EXPECT_TRUE(Eventually([&] { return Sum(&FakeParticipant::commits) == 2; }));
  EXPECT_TRUE(Eventually([&] { return driver_->OpenTxns().empty(); }));
  EXPECT_EQ(driver_->Stats().committed, 1u);
  // A repeated commit answers from the remembered outcome.
  EXPECT_EQ(*Commit(txn), protocol::Outcome::kCommitted);
}

TEST_F(CoordinatorDriverTest, NoVoteAbortsWithoutTicks) {
  StartDriver(/*tick_ms=*/600000);
  participants_[1]->vote = rpc::NO;
  const TxnId txn = BeginWithBranches();
  ASSERT_TRUE(txn.valid());
  EXPECT_EQ(*Commit(txn), protocol::Outcome::kAborted);
  // The other branch is told ABORT: once when the NO aborts the transaction, and once more if
  // its YES arrives after that (the core answers a late YES with ABORT), so at least once.
  EXPECT_TRUE(Eventually([&] { return participants_[0]->aborts.load() >= 1; }));
  EXPECT_LE(participants_[0]->aborts.load(), 2);
  EXPECT_EQ(Sum(&FakeParticipant::commits), 0);
  EXPECT_TRUE(Eventually([&] { return driver_->OpenTxns().empty(); }));
}

TEST_F(CoordinatorDriverTest, ConcurrentCommitsShareFsyncsAndExchanges) {
  constexpr int kTxns = 8;
  sync_delay_.store(30ms);
  StartDriver(/*tick_ms=*/600000, /*calls_in_flight_per_participant=*/1);
  std::vector<TxnId> txns;
  for (int i = 0; i < kTxns; ++i) txns.push_back(BeginWithBranches());
  // The first exchange waits at the participants' door until every commit has sent its
  // PREPAREs: they queue behind it, however slowly a loaded machine starts the threads.
  for (auto& participant : participants_) participant->Hold();
  const uint64_t syncs = fs_.file_syncs();
  std::vector<std::thread> threads;
  std::vector<Result<protocol::Outcome>> outcomes(kTxns, Status::FailedPrecondition("not run"));
  for (int i = 0; i < kTxns; ++i) {
    threads.emplace_back([&, i] { outcomes[i] = Commit(txns[i], /*wait_ms=*/8000); });
  }
  EXPECT_TRUE(Eventually([&] {
    const std::vector<TxnView> open = driver_->OpenTxns();
    return std::all_of(open.begin(), open.end(),
                       [](const TxnView& view) { return view.state == TxnState::kPreparing; });
  }));
  // A PREPARE enters its outbox just after its transaction enters kPreparing.
  std::this_thread::sleep_for(50ms);
  for (auto& participant : participants_) participant->Release();
  for (std::thread& thread : threads) thread.join();
  for (const auto& outcome : outcomes) {
    ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
    EXPECT_EQ(*outcome, protocol::Outcome::kCommitted);
  }
  // One fsync per decision would be kTxns; votes that arrive together share one.
  EXPECT_LE(fs_.file_syncs() - syncs, static_cast<uint64_t>(kTxns / 2));
  EXPECT_TRUE(Eventually([&] { return Sum(&FakeParticipant::commits) == 2 * kTxns; }));
  // One call per message would be 2 * kTxns per participant (PREPARE and COMMIT).
  for (const auto& participant : participants_) {
    EXPECT_LE(participant->exchanges.load(), kTxns) << "messages did not travel in batches";
  }
  EXPECT_TRUE(Eventually([&] { return driver_->OpenTxns().empty(); }));
}

TEST_F(CoordinatorDriverTest, DecisionPastTheDeadlineIsUnknownThenCommitted) {
  StartDriver(/*tick_ms=*/600000);
  const TxnId txn = BeginWithBranches();
  ASSERT_TRUE(txn.valid());
  // The decision becomes durable after the call's deadline: the call cannot say more than
  // UNKNOWN in time, and asking again later gets the decision.
  sync_delay_.store(500ms);
  EXPECT_EQ(Commit(txn, /*wait_ms=*/100).status().code(), StatusCode::kOutcomeUnknown);
  // No tick comes: the sender thread finishes phase 2.
  EXPECT_TRUE(Eventually([&] { return Sum(&FakeParticipant::commits) == 2; }));
  EXPECT_TRUE(Eventually([&] { return driver_->OpenTxns().empty(); }));
  EXPECT_EQ(*Commit(txn), protocol::Outcome::kCommitted);
}

TEST_F(CoordinatorDriverTest, SlowVoteAnswersOutcomeUnknownInTimeAndTheTickerAbortsLater) {
  StartDriver(/*tick_ms=*/10);  // prepare timeout: 60 ticks
  const TxnId txn = BeginWithBranches();
  ASSERT_TRUE(txn.valid());
  participants_[1]->prepare_delay_ms = 1500;
  const auto started = std::chrono::steady_clock::now();
  Result<protocol::Outcome> outcome = Commit(txn, /*wait_ms=*/300);
  EXPECT_EQ(outcome.status().code(), StatusCode::kOutcomeUnknown);
  // The wait for the vote ended with the call's deadline, not the participant call timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1200ms);
  // No vote came within the prepare timeout: the ticker aborts the transaction and the sender
  // pool tells both branches.
  EXPECT_TRUE(Eventually([&] { return Sum(&FakeParticipant::aborts) >= 2; }));
  EXPECT_TRUE(driver_->OpenTxns().empty());
  EXPECT_EQ(Sum(&FakeParticipant::commits), 0);
  EXPECT_EQ(*Commit(txn), protocol::Outcome::kAborted);
}

TEST_F(CoordinatorDriverTest, CallsAfterStopAreUnavailable) {
  StartDriver(/*tick_ms=*/10);
  driver_->Stop();
  EXPECT_EQ(driver_->Call(protocol::BeginRequest{1}, 1000).status().code(),
            StatusCode::kUnavailable);
  driver_->Stop();  // idempotent
}

}  // namespace
}  // namespace pact::coordinator
