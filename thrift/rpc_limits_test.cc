// The limits must reject oversized input before allocating for it, and still accept
// everything a well-behaved peer sends.
#include "thrift/rpc_limits.h"

#include <gtest/gtest.h>
#include <thrift/protocol/TProtocolException.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TTransportException.h>

#include "pact/rpc/pact_types.h"

namespace pact::rpc {
namespace {

using apache::thrift::protocol::TProtocolException;
using apache::thrift::transport::TFramedTransport;
using apache::thrift::transport::TMemoryBuffer;
using apache::thrift::transport::TTransportException;

LogEntry SampleEntry(int branches) {
  LogEntry entry;
  entry.kind = EntryKind::COMMIT_DECISION;
  entry.epoch = 3;
  TxnId txid;
  txid.epoch = 3;
  txid.sequence = 1042;
  entry.__set_txid(txid);
  std::vector<BranchRef> refs;
  std::vector<std::string> addresses;
  for (int i = 1; i <= branches; ++i) {
    BranchRef ref;
    ref.txid = txid;
    ref.branch = i;
    refs.push_back(ref);
    addresses.push_back("127.0.0.1:7001");
  }
  entry.__set_branches(refs);
  entry.__set_participant_addresses(addresses);
  return entry;
}

// Serializes `entry` with no limits (a peer that ignores them), then decodes with ours.
template <typename T>
void EncodeUnlimited(const T& value, std::shared_ptr<TMemoryBuffer> buffer) {
  apache::thrift::protocol::TBinaryProtocol writer(buffer);
  value.write(&writer);
}

TEST(RpcLimitsTest, WellFormedEntryRoundTrips) {
  auto buffer = std::make_shared<TMemoryBuffer>(MakeConfiguration());
  const LogEntry sent = SampleEntry(8);
  EncodeUnlimited(sent, buffer);
  LogEntry received;
  received.read(MakeProtocol(buffer).get());
  EXPECT_EQ(received, sent);
}

TEST(RpcLimitsTest, OversizedStringIsRejected) {
  auto buffer = std::make_shared<TMemoryBuffer>(MakeConfiguration());
  InvalidArgument huge;
  huge.message.assign(kStringBytesMax + 1, 'x');
  EncodeUnlimited(huge, buffer);
  InvalidArgument received;
  try {
    received.read(MakeProtocol(buffer).get());
    FAIL() << "a string over the limit was accepted";
  } catch (const TProtocolException& e) {
    EXPECT_EQ(e.getType(), TProtocolException::SIZE_LIMIT);
  }
}

TEST(RpcLimitsTest, OversizedContainerIsRejected) {
  auto buffer = std::make_shared<TMemoryBuffer>(MakeConfiguration());
  EncodeUnlimited(SampleEntry(kContainerItemsMax + 1), buffer);
  LogEntry received;
  try {
    received.read(MakeProtocol(buffer).get());
    FAIL() << "a container over the limit was accepted";
  } catch (const TProtocolException& e) {
    EXPECT_EQ(e.getType(), TProtocolException::SIZE_LIMIT);
  }
}

TEST(RpcLimitsTest, FrameOverTheLimitIsRejected) {
  // A whole 2 MiB frame is on the wire, so only the frame limit can refuse it.
  constexpr uint32_t kFrameBytes = 2u << 20;
  auto wire = std::make_shared<TMemoryBuffer>(kFrameBytes + 8);
  const uint32_t header = htonl(kFrameBytes);
  wire->write(reinterpret_cast<const uint8_t*>(&header), sizeof(header));
  const std::string payload(kFrameBytes, 'x');
  wire->write(reinterpret_cast<const uint8_t*>(payload.data()), kFrameBytes);
  TFramedTransport framed(wire, MakeConfiguration());
  uint8_t byte;
  try {
    framed.read(&byte, 1);
    FAIL() << "a frame over the limit was read";
  } catch (const TTransportException& e) {
    EXPECT_NE(e.getType(), TTransportException::END_OF_FILE) << e.what();
  }
}

TEST(RpcLimitsTest, FrameUnderTheLimitIsRead) {
  auto wire = std::make_shared<TMemoryBuffer>();
  const uint32_t header = htonl(3);
  wire->write(reinterpret_cast<const uint8_t*>(&header), sizeof(header));
  wire->write(reinterpret_cast<const uint8_t*>("abc"), 3);
  TFramedTransport framed(wire, MakeConfiguration());
  uint8_t bytes[3];
  EXPECT_EQ(framed.read(bytes, 3), 3u);
  EXPECT_EQ(bytes[2], 'c');
}

TEST(RpcLimitsTest, ConfigurationCarriesOurLimits) {
  auto config = MakeConfiguration();
  EXPECT_EQ(config->getMaxFrameSize(), kFrameBytesMax);
  EXPECT_EQ(config->getMaxMessageSize(), kMessageBytesMax);
  EXPECT_EQ(config->getRecursionLimit(), kRecursionDepthMax);
}

}  // namespace
}  // namespace pact::rpc
