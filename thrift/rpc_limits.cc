#include "thrift/rpc_limits.h"

#include <thrift/transport/TBufferTransports.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace pact::rpc {

using apache::thrift::transport::TBufferedTransport;
using apache::thrift::transport::TFramedTransport;

namespace {
// Most Pact messages fit; a larger one is read in several calls, as without the buffer.
constexpr uint32_t kReadBufferBytes = 4096;
// TFramedTransport hands its whole frame to one write(); larger writes bypass the buffer.
constexpr uint32_t kWriteBufferBytes = 4096;
}  // namespace

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TBinaryProtocolFactory;

std::shared_ptr<apache::thrift::TConfiguration> MakeConfiguration() {
  return std::make_shared<apache::thrift::TConfiguration>(kMessageBytesMax, kFrameBytesMax,
                                                           kRecursionDepthMax);
}

std::shared_ptr<apache::thrift::transport::TTransport> MakeFramedTransport(
    std::shared_ptr<apache::thrift::transport::TTransport> socket) {
  auto buffered = std::make_shared<TBufferedTransport>(std::move(socket), kReadBufferBytes,
                                                       kWriteBufferBytes, MakeConfiguration());
  return std::make_shared<TFramedTransport>(std::move(buffered), MakeConfiguration());
}

std::shared_ptr<apache::thrift::protocol::TProtocol> MakeProtocol(
    std::shared_ptr<apache::thrift::transport::TTransport> transport) {
  return std::make_shared<TBinaryProtocol>(std::move(transport), kStringBytesMax,
                                           kContainerItemsMax, /*strict_read=*/true,
                                           /*strict_write=*/true);
}

std::shared_ptr<apache::thrift::protocol::TProtocolFactory> MakeProtocolFactory() {
  return std::make_shared<TBinaryProtocolFactory>(kStringBytesMax, kContainerItemsMax,
                                                  /*strict_read=*/true, /*strict_write=*/true);
}

void ReturnLargeBuffersToTheOs() {
#if defined(__GLIBC__)
  // Setting M_MMAP_THRESHOLD also turns off glibc's dynamic adjustment of it.
  mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
}

}  // namespace pact::rpc
