#include "thrift/rpc_client.h"

#include <thrift/protocol/TMultiplexedProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>

#include "thrift/rpc_limits.h"
#include "thrift/thrift_output.h"

namespace pact::rpc {

using apache::thrift::protocol::TMultiplexedProtocol;
using apache::thrift::transport::TSocket;

Result<RawConnection> Connect(const Endpoint& peer, const std::string& service_name,
                              const ClientOptions& options) {
  RouteThriftOutputToLog();
  auto socket = std::make_shared<TSocket>(peer.host, peer.port, MakeConfiguration());
  socket->setConnTimeout(options.connect_timeout_ms);
  socket->setSendTimeout(options.call_timeout_ms);
  socket->setRecvTimeout(options.call_timeout_ms);
  socket->setNoDelay(true);
  socket->setLinger(false, 0);
  std::shared_ptr<apache::thrift::transport::TTransport> transport = MakeFramedTransport(socket);
  try {
    transport->open();
  } catch (...) {
    return CurrentExceptionToStatus(peer.ToString(), CallPhase::kConnecting);
  }
  auto protocol = std::make_shared<TMultiplexedProtocol>(MakeProtocol(transport), service_name);
  return RawConnection{std::move(transport), std::move(protocol)};
}

}  // namespace pact::rpc
