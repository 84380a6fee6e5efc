#include "thrift/rpc_limits.h"

namespace pact::rpc {

using apache::thrift::protocol::TBinaryProtocol;
using apache::thrift::protocol::TBinaryProtocolFactory;

std::shared_ptr<apache::thrift::TConfiguration> MakeConfiguration() {
  return std::make_shared<apache::thrift::TConfiguration>(kMessageBytesMax, kFrameBytesMax,
                                                           kRecursionDepthMax);
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

}  // namespace pact::rpc
