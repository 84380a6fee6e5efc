// Malformed and oversized Thrift frames sent on raw sockets to a real pact-coordinator's port and
// a real pact-agent's port: a 2 GiB frame header, a frame over the 1 MiB limit, garbage inside a
// valid frame, truncated frames and headers, message names and strings that claim gigabytes, a
// list of two billion elements, structs nested past the recursion limit, unknown services and
// methods. Every one must be rejected with the connection closed (or, for a well-formed call of
// an unknown method, an exception reply), the process must not crash and must go on serving
// real calls, and its memory must stay bounded: hundreds of such frames may not grow its VmRSS
// by more than a few MiB (no buffer sized by what a frame claims, nothing leaked per
// connection).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pact/client.h"
#include "tests/integration/cluster_calls.h"
#include "tests/integration/pact_cluster.h"
#include "tests/integration/process.h"
#include "thrift/endpoint.h"
#include "thrift/rpc_limits.h"

namespace pact::integration {
namespace {

constexpr char kKv[] = "agent-kv";
constexpr int kRounds = 50;  // of every case, after one round to warm up
constexpr int kSettleRounds = 10;
#ifdef __SANITIZE_ADDRESS__
// The address sanitizer's allocator adds shadow memory and metadata to every allocation, and
// its (here small, see SetUp) quarantine holds freed chunks for a while.
constexpr int64_t kSanitizerSlack = 4;
#else
constexpr int64_t kSanitizerSlack = 1;
#endif
#ifdef __SANITIZE_THREAD__
// The thread sanitizer keeps state for every thread that ever ran (here one per connection)
// and shadows memory several times over: VmRSS says nothing about our buffers. Release and
// address-sanitizer builds check the bound.
constexpr bool kMemoryBounded = false;
#else
constexpr bool kMemoryBounded = true;
#endif
constexpr int64_t kGrowthMaxKiB = 4096 * kSanitizerSlack;      // VmRSS growth over all rounds
constexpr int64_t kLateGrowthMaxKiB = 1024 * kSanitizerSlack;  // ... after kSettleRounds
constexpr int kCloseWaitMs = 3000;

// ---- Bytes of the framed binary protocol, big-endian, written by hand ------------------------

std::string I32(uint32_t v) {
  const uint32_t be = htonl(v);
  return std::string(reinterpret_cast<const char*>(&be), 4);
}
std::string I16(uint16_t v) {
  const uint16_t be = htons(v);
  return std::string(reinterpret_cast<const char*>(&be), 2);
}
std::string Byte(uint8_t v) { return std::string(1, static_cast<char>(v)); }
std::string Str(const std::string& s) { return I32(static_cast<uint32_t>(s.size())) + s; }
std::string Frame(const std::string& payload) {
  return I32(static_cast<uint32_t>(payload.size())) + payload;
}
// A strict binary-protocol message header: version 1, type CALL.
std::string Call(const std::string& name) { return I32(0x80010001) + Str(name) + I32(7); }

constexpr uint8_t kStop = 0, kI32 = 8, kString = 11, kStruct = 12, kList = 15;
std::string Field(uint8_t type, int16_t id) { return Byte(type) + I16(static_cast<uint16_t>(id)); }

std::string Garbage(size_t size, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  bytes[0] = 0x00;  // never a valid strict version byte
  return bytes;
}

struct Case {
  std::string name;
  std::string bytes;
  bool half_close = false;  // we end our side (a truncated send)
  bool may_answer = false;  // a well-formed call: an exception reply is fine too
};

// Every case, for a port serving `call` (a "Service:method" that exists) whose request struct
// (argument field 1) has a string field `huge_string_field`.
std::vector<Case> Cases(const std::string& call, int16_t huge_string_field) {
  const std::string huge_string = Field(kStruct, 1) + Field(kString, huge_string_field) +
                                  I32(0x7fffffff) + "only a few bytes follow";
  const std::string huge_list = Field(kList, 99) + Byte(kI32) + I32(0x7fffffff) + I32(1);
  std::string deep;
  for (int i = 0; i < 64; ++i) deep += Field(kStruct, 99);
  deep += std::string(64 + 1, static_cast<char>(kStop));
  return {
      {"2 GiB frame header", I32(0x80000000) + "x"},
      {"frame header of 2 GiB - 1", I32(0x7fffffff) + "x"},
      {"frame header of -1", I32(0xffffffff) + "x"},
      {"frame one byte over the limit", I32(rpc::kFrameBytesMax + 1) + "x"},
      {"garbage inside a valid frame", Frame(Garbage(200, 1))},
      {"1 MiB of garbage inside a valid frame", Frame(Garbage(rpc::kFrameBytesMax - 4, 2))},
      {"empty frame", Frame("")},
      {"truncated frame", I32(1000) + Garbage(100, 3), /*half_close=*/true},
      {"truncated frame header", std::string("\0\0", 2), /*half_close=*/true},
      {"message name claiming 2 GiB", Frame(I32(0x80010001) + I32(0x7ffffff0) + "abc")},
      {"message name of negative length", Frame(I32(0x80010001) + I32(0xfffffffb) + "abc")},
      {"string argument claiming 2 GiB", Frame(Call(call) + huge_string)},
      {"list of 2^31 - 1 elements", Frame(Call(call) + huge_list)},
      {"structs nested 64 deep", Frame(Call(call) + deep)},
      // Thrift reads a message across frames, so the server waits for the rest; it gives up
      // when our side ends.
      {"call truncated inside its arguments", Frame(Call(call) + Field(kStruct, 1)),
       /*half_close=*/true},
      {"unknown service", Frame(Call("NoSuchService:ping") + Byte(kStop)), false, true},
      {"unknown method",
       Frame(Call(call.substr(0, call.find(':')) + ":no_such_method") + Byte(kStop)), false, true},
  };
}

// What became of one raw connection.
struct Exchange {
  bool connected = false;
  bool closed = false;   // the peer closed (EOF or reset) within the wait
  std::string received;  // what it sent first
};

Exchange SendRaw(const rpc::Endpoint& peer, const Case& c) {
  Exchange result;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(peer.port));
  ::inet_pton(AF_INET, peer.host.c_str(), &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return result;
  }
  result.connected = true;
  // The peer may close before taking everything (it rejects the header): stop sending then.
  size_t sent = 0;
  while (sent < c.bytes.size()) {
    const ssize_t n = ::send(fd, c.bytes.data() + sent, c.bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (c.half_close) ::shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kCloseWaitMs);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, 50) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) {  // EOF, or a reset for the bytes it did not read
      result.closed = true;
      break;
    }
    result.received.append(buffer, static_cast<size_t>(n));
    // A whole reply frame arrived: the connection may stay open for the next call.
    if (result.received.size() >= 4 &&
        result.received.size() >=
            4 + ntohl(*reinterpret_cast<const uint32_t*>(result.received.data()))) {
      break;
    }
  }
  ::close(fd);
  return result;
}

// True when `bytes` starts a framed binary-protocol message of type EXCEPTION.
bool IsExceptionReply(const std::string& bytes) {
  return bytes.size() >= 8 && static_cast<uint8_t>(bytes[4]) == 0x80 &&
         static_cast<uint8_t>(bytes[5]) == 0x01 && static_cast<uint8_t>(bytes[7]) == 3;
}

class MalformedFramesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // In an address-sanitizer build (PACT_SANITIZE), freed memory waits in a quarantine of up
    // to 256 MiB before reuse, which the memory bound below would take for growth. A small
    // quarantine for the processes under test keeps the bound meaningful there; other builds
    // ignore the variable.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string options = (asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "") +
                                "quarantine_size_mb=1:thread_local_quarantine_size_kb=64";
    ASSERT_EQ(setenv("ASAN_OPTIONS", options.c_str(), /*overwrite=*/1), 0);
    auto cluster = PactCluster::Start(ClusterOptions{});  // no PostgreSQL: a KV agent only
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    cluster_ = std::move(cluster).value();
    ASSERT_TRUE(cluster_->StartCoordinator().ok());
    ASSERT_TRUE(cluster_->StartAgent(kKv, "").ok());
    auto client = Client::Create(ClientOptions{.coordinators = {cluster_->coordinator_address()},
                                               .commit_deadline_ms = 10000});
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
  }

  // Real calls still work: a transaction that writes and reads the KV store commits.
  void ExpectServing(const std::string& value) {
    ASSERT_TRUE(WriteKv(*client_, cluster_->address(kKv), "key", value).ok());
    auto read = ReadKv(*client_, cluster_->address(kKv), "key");
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(read->value_or("<absent>"), value);
  }

  // Sends every case once, checks how each was refused, and checks the process lives.
  void SendEveryCase(const std::string& process, const std::vector<Case>& cases, bool check) {
    const rpc::Endpoint peer = *rpc::Endpoint::Parse(cluster_->address(process));
    for (const Case& c : cases) {
      const Exchange exchange = SendRaw(peer, c);
      if (!check) continue;
      ASSERT_TRUE(exchange.connected) << c.name << ": " << process << " refused to connect";
      if (c.may_answer && !exchange.closed) {
        EXPECT_TRUE(IsExceptionReply(exchange.received))
            << c.name << ": neither closed nor answered with an exception";
      } else {
        EXPECT_TRUE(exchange.closed) << c.name << ": " << process << " kept the connection open";
      }
      ASSERT_FALSE(ProcessGone(cluster_->pid(process))) << c.name << " killed " << process << ":\n"
                                                        << cluster_->LogOf(process);
    }
  }

  void Bombard(const std::string& process, const std::vector<Case>& cases) {
    const pid_t pid = cluster_->pid(process);
    ASSERT_NE(pid, 0);
    // One round first: thread stacks, connection buffers and allocator arenas reach the size
    // they keep; what comes after must not grow with the number of frames.
    ASSERT_NO_FATAL_FAILURE(SendEveryCase(process, cases, /*check=*/true));
    ASSERT_NO_FATAL_FAILURE(ExpectServing("before"));
    const int64_t before = ResidentKiB(pid);
    ASSERT_GT(before, 0);
    int64_t settled = 0;
    for (int round = 1; round <= kRounds; ++round) {
      ASSERT_NO_FATAL_FAILURE(SendEveryCase(process, cases, /*check=*/round == kRounds));
      if (round == kSettleRounds) settled = ResidentKiB(pid);
    }
    const int64_t after = ResidentKiB(pid);
    std::cout << process << ": " << (kRounds + 1) * cases.size() << " malformed frames, VmRSS "
              << before << " KiB, " << settled << " KiB after " << kSettleRounds << " rounds, "
              << after << " KiB after " << kRounds << "\n";
    if (kMemoryBounded) {
      EXPECT_LE(after - before, kGrowthMaxKiB)
          << process << " grew from " << before << " KiB to " << after << " KiB";
      // Allocator arenas and cached thread stacks fill up in the first rounds; a leak goes on.
      EXPECT_LE(after - settled, kLateGrowthMaxKiB)
          << process << " still grows: " << settled << " KiB after " << kSettleRounds
          << " rounds, " << after << " KiB after " << kRounds;
    }
    ASSERT_FALSE(ProcessGone(pid));
    ExpectServing("after");
  }

  std::unique_ptr<PactCluster> cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(MalformedFramesTest, CoordinatorRejectsThemAndKeepsServing) {
  // begin_transaction's BeginRequest: field 2 is client_name.
  Bombard("coordinator", Cases("Coordinator:begin_transaction", 2));
}

TEST_F(MalformedFramesTest, AgentRejectsThemAndKeepsServing) {
  // execute_kv's KvRequest: field 3 is the key. The Participant service shares the port.
  std::vector<Case> cases = Cases("Agent:execute_kv", 3);
  for (Case& c : Cases("Participant:prepare", 1)) {
    if (c.bytes.find("Participant:") != std::string::npos) {
      c.name += " (Participant)";
      cases.push_back(std::move(c));
    }
  }
  Bombard(kKv, cases);
}

}  // namespace
}  // namespace pact::integration
