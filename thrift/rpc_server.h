// RpcServer: serves one or more Thrift services on one port (DESIGN §4): a blocking
// TThreadedServer (one thread per connection), TFramedTransport + TBinaryProtocol with the
// limits of rpc_limits.h on every accepted connection, services multiplexed by name, idle
// connections closed after `idle_timeout_ms`, at most `connections_max` at once.
//
// A malformed or oversized frame costs only its own connection. Handlers must not throw
// anything but pact.thrift's declared exceptions.
#ifndef PACT_THRIFT_RPC_SERVER_H_
#define PACT_THRIFT_RPC_SERVER_H_

#include <thrift/TProcessor.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "thrift/endpoint.h"

namespace apache::thrift::server {
class TThreadedServer;
}

namespace pact::rpc {

struct ServerOptions {
  int idle_timeout_ms = 60000;  // a connection silent this long is closed
  int send_timeout_ms = 5000;
  int64_t connections_max = 256;
};

struct ServiceBinding {
  std::string name;  // "Coordinator", "Participant", "Replica", "Admin"
  std::shared_ptr<apache::thrift::TProcessor> processor;
};

class RpcServer {
 public:
  // Binds `listen` (port 0 picks a free port; see port()) and starts serving on a thread of
  // its own. Fails with kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<RpcServer>> Start(const Endpoint& listen,
                                                  std::vector<ServiceBinding> services,
                                                  const ServerOptions& options = {});
  ~RpcServer();  // Stop()s

  // The port actually bound.
  int port() const { return port_; }
  // Stops accepting, closes every connection and joins the serving thread. Idempotent.
  void Stop();

 private:
  RpcServer() = default;

  std::shared_ptr<apache::thrift::server::TThreadedServer> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace pact::rpc

#endif  // PACT_THRIFT_RPC_SERVER_H_
