// The finite limits every Pact Thrift endpoint uses (DESIGN §4), and the factories that apply
// them, so that no server or client is built with Thrift's permissive defaults (100 MB
// messages, recursion 64, unbounded strings and containers).
//
// A message over a limit fails to decode with a TProtocolException or TTransportException on
// that connection only; the edge turns it into a Status and the process goes on.
#ifndef PACT_THRIFT_RPC_LIMITS_H_
#define PACT_THRIFT_RPC_LIMITS_H_

#include <thrift/TConfiguration.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TTransport.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pact::rpc {

inline constexpr int kFrameBytesMax = 1 << 20;
inline constexpr int kMessageBytesMax = 1 << 20;
inline constexpr int kRecursionDepthMax = 16;
inline constexpr int32_t kStringBytesMax = 256 << 10;
inline constexpr int32_t kContainerItemsMax = 16384;
// Most requests in one Participant.exchange call (pact.thrift).
inline constexpr size_t kExchangeRequestsMax = 1024;

// A TConfiguration with the frame, message and recursion limits above.
std::shared_ptr<apache::thrift::TConfiguration> MakeConfiguration();

// The framed transport every Pact connection speaks, with the limits above, over `socket`.
// Between the two sits a small read buffer, so that a message usually arrives with one recv():
// TFramedTransport alone reads the 4-byte frame size and the frame in two calls, and a
// server's TSocket polls before each call and peeks before each message.
std::shared_ptr<apache::thrift::transport::TTransport> MakeFramedTransport(
    std::shared_ptr<apache::thrift::transport::TTransport> socket);

// Binary protocol (strict read and write) over `transport` with the string and container
// limits above. `transport` should already be framed (TFramedTransport) for RPC use.
std::shared_ptr<apache::thrift::protocol::TProtocol> MakeProtocol(
    std::shared_ptr<apache::thrift::transport::TTransport> transport);

// The same, as a factory for servers.
std::shared_ptr<apache::thrift::protocol::TProtocolFactory> MakeProtocolFactory();

// For the main() of a server process: makes the C allocator give freed frame buffers back to
// the OS. A connection's frame buffer grows to the largest frame it read (up to
// kFrameBytesMax). glibc serves such a buffer with mmap and unmaps it when freed - until the
// first one is freed: then it raises its mmap threshold past that size and from then on keeps
// freed buffers in its per-thread arenas (up to 8 per core), so large frames on many
// connections leave the process bigger for good. This pins the threshold at glibc's default
// (128 KiB). A library embedding Pact leaves its host's allocator alone. No-op without glibc.
void ReturnLargeBuffersToTheOs();

}  // namespace pact::rpc

#endif  // PACT_THRIFT_RPC_LIMITS_H_
