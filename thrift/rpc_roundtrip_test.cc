// The RPC plumbing over real loopback sockets: calls, declared errors, dead peers, restarts,
// timeouts, and hostile frames that must cost only their own connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "pact/rpc/Coordinator.h"
#include "thrift/rpc_client.h"
#include "thrift/rpc_server.h"

namespace pact::rpc {
namespace {

// Answers outcome() from a fixed table so the tests can see what crossed the wire.
class TableCoordinator final : public CoordinatorIf {
 public:
  std::atomic<int> outcome_calls{0};
  std::atomic<int> delay_ms{0};

  void outcome(OutcomeReply& reply, const OutcomeRequest& request) override {
    ++outcome_calls;
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    if (request.txid.epoch == 99) {
      NotLeader error;
      error.message = "replica 2 follows";
      error.__set_leader_hint("127.0.0.1:7002");
      throw error;
    }
    reply.outcome = request.txid.sequence % 2 == 0 ? Outcome::COMMITTED : Outcome::ABORTED;
  }
  void begin_transaction(BeginReply&, const BeginRequest&) override { Refuse(); }
  void enlist(EnlistReply&, const EnlistRequest&) override { Refuse(); }
  void commit_transaction(CommitReply&, const CommitRequest&) override { Refuse(); }
  void abort_transaction(AbortReply&, const AbortRequest&) override { Refuse(); }

 private:
  [[noreturn]] static void Refuse() {
    InvalidArgument error;
    error.message = "not served by this test";
    throw error;
  }
};

class RpcRoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(0); }

  void StartServer(int port) {
    auto server = RpcServer::Start(
        Endpoint{"127.0.0.1", port},
        {{"Coordinator", std::make_shared<CoordinatorProcessor>(handler_)}}, server_options_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  Endpoint endpoint() const { return Endpoint{"127.0.0.1", server_->port()}; }

  Result<Outcome> AskOutcome(ClientPool<CoordinatorClient>& pool, int64_t epoch,
                             int64_t sequence) {
    OutcomeRequest request;
    request.txid.epoch = epoch;
    request.txid.sequence = sequence;
    OutcomeReply reply;
    Status status = pool.Call([&](CoordinatorClient& client) { client.outcome(reply, request); });
    if (!status.ok()) return status;
    return reply.outcome;
  }

  // Opens a raw TCP connection and sends `bytes` as they are.
  int SendRaw(const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server_->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    return fd;
  }

  // True when the server closed the connection (read returns 0) within a few seconds.
  static bool ClosedByPeer(int fd) {
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char buffer[64];
    const ssize_t read = ::recv(fd, buffer, sizeof(buffer), 0);
    ::close(fd);
    return read == 0;
  }

  std::shared_ptr<TableCoordinator> handler_ = std::make_shared<TableCoordinator>();
  ServerOptions server_options_;
  std::unique_ptr<RpcServer> server_;
};

TEST_F(RpcRoundTripTest, CallsRoundTripAndReuseConnections) {
  ASSERT_GT(server_->port(), 0);
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator");
  EXPECT_EQ(*AskOutcome(pool, 1, 2), Outcome::COMMITTED);
  EXPECT_EQ(*AskOutcome(pool, 1, 3), Outcome::ABORTED);
  EXPECT_EQ(handler_->outcome_calls, 2);
}

TEST_F(RpcRoundTripTest, DeclaredExceptionBecomesStatusWithLeaderHint) {
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator");
  Result<Outcome> result = AskOutcome(pool, 99, 1);
  ASSERT_EQ(result.status().code(), StatusCode::kNotLeader);
  EXPECT_EQ(LeaderHint(result.status()), "127.0.0.1:7002");
  EXPECT_EQ(*AskOutcome(pool, 1, 2), Outcome::COMMITTED) << "connection stays usable";
}

TEST_F(RpcRoundTripTest, UnknownServiceNameIsAnErrorNotACrash) {
  ClientPool<CoordinatorClient> pool(endpoint(), "NoSuchService");
  Result<Outcome> result = AskOutcome(pool, 1, 2);
  EXPECT_EQ(result.status().code(), StatusCode::kOutcomeUnknown);
  EXPECT_EQ(handler_->outcome_calls, 0);
}

TEST_F(RpcRoundTripTest, DeadPeerIsUnavailable) {
  const Endpoint dead = endpoint();
  server_->Stop();
  ClientPool<CoordinatorClient> pool(dead, "Coordinator");
  EXPECT_EQ(AskOutcome(pool, 1, 2).status().code(), StatusCode::kUnavailable);
}

TEST_F(RpcRoundTripTest, PooledConnectionSurvivesServerRestart) {
  const int port = server_->port();
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator");
  ASSERT_TRUE(AskOutcome(pool, 1, 2).ok());
  server_->Stop();
  StartServer(port);
  EXPECT_EQ(*AskOutcome(pool, 1, 4), Outcome::COMMITTED);
}

TEST_F(RpcRoundTripTest, SlowCallTimesOutAsOutcomeUnknown) {
  ClientOptions options;
  options.call_timeout_ms = 200;
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator", options);
  handler_->delay_ms = 1000;
  EXPECT_EQ(AskOutcome(pool, 1, 2).status().code(), StatusCode::kOutcomeUnknown);
  handler_->delay_ms = 0;
}

TEST_F(RpcRoundTripTest, OversizedFrameClosesOnlyThatConnection) {
  // Claims a 2 GiB frame: the server must refuse it without allocating, and go on serving.
  const uint32_t claimed = htonl(0x7fffffff);
  EXPECT_TRUE(ClosedByPeer(SendRaw(std::string(reinterpret_cast<const char*>(&claimed), 4))));
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator");
  EXPECT_EQ(*AskOutcome(pool, 1, 2), Outcome::COMMITTED);
}

TEST_F(RpcRoundTripTest, GarbageFrameClosesOnlyThatConnection) {
  // A well-framed 16-byte message that is not a Thrift message at all.
  const uint32_t length = htonl(16);
  const std::string frame =
      std::string(reinterpret_cast<const char*>(&length), 4) + "garbage-garbage!";
  EXPECT_TRUE(ClosedByPeer(SendRaw(frame)));
  ClientPool<CoordinatorClient> pool(endpoint(), "Coordinator");
  EXPECT_EQ(*AskOutcome(pool, 1, 2), Outcome::COMMITTED);
  EXPECT_EQ(handler_->outcome_calls, 1);
}

TEST_F(RpcRoundTripTest, BusyPortIsAClearError) {
  auto second = RpcServer::Start(endpoint(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos);
}

}  // namespace
}  // namespace pact::rpc
