#include "thrift/rpc_server.h"

#include <thrift/processor/TMultiplexedProcessor.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "common/logging.h"
#include "thrift/rpc_limits.h"
#include "thrift/thrift_output.h"

namespace pact::rpc {
namespace {

using apache::thrift::TConfiguration;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TServerSocket;
using apache::thrift::transport::TTransport;
using apache::thrift::transport::TTransportFactory;

// TServerSocket hands out sockets with Thrift's default configuration (100 MB messages);
// framing every accepted connection with ours puts the limits on what the server reads.
class LimitedFramedTransportFactory final : public TTransportFactory {
 public:
  std::shared_ptr<TTransport> getTransport(std::shared_ptr<TTransport> transport) override {
    return MakeFramedTransport(std::move(transport));
  }
};

// What the serving thread tells Start(): the bound socket, or why serving failed.
struct ListenSignal {
  std::mutex mutex;
  std::condition_variable changed;
  int bound_fd = -1;
  bool failed = false;
  std::string error;
};

// Thrift calls the listen callback after bind() but before listen(); a client connecting in
// between is refused. The socket is ready only once the kernel accepts connections on it.
bool IsAcceptingConnections(int fd) {
  int accepting = 0;
  socklen_t length = sizeof(accepting);
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

}  // namespace

Result<std::unique_ptr<RpcServer>> RpcServer::Start(const Endpoint& listen,
                                                    std::vector<ServiceBinding> services,
                                                    const ServerOptions& options) {
  RouteThriftOutputToLog();
  auto processor = std::make_shared<apache::thrift::TMultiplexedProcessor>();
  for (ServiceBinding& service : services) {
    processor->registerProcessor(service.name, std::move(service.processor));
  }
  auto socket = std::make_shared<TServerSocket>(listen.host, listen.port);
  socket->setRecvTimeout(options.idle_timeout_ms);
  socket->setSendTimeout(options.send_timeout_ms);
  socket->setKeepAlive(true);

  auto signal = std::make_shared<ListenSignal>();
  socket->setListenCallback([signal](int fd) {
    std::lock_guard lock(signal->mutex);
    signal->bound_fd = fd;
  });

  std::unique_ptr<RpcServer> server(new RpcServer());
  server->server_ = std::make_shared<TThreadedServer>(
      processor, socket, std::make_shared<LimitedFramedTransportFactory>(),
      MakeProtocolFactory());
  server->server_->setConcurrentClientLimit(options.connections_max);
  server->thread_ = std::thread([threaded = server->server_, signal, listen] {
    try {
      threaded->serve();
    } catch (const std::exception& e) {
      PACT_LOG_ERROR("server on {} stopped: {}", listen.ToString(), e.what());
      std::lock_guard lock(signal->mutex);
      signal->error = e.what();
      signal->failed = true;
      signal->changed.notify_all();
    }
  });

  // Poll briefly: listen() follows bind() within microseconds, or serve() fails.
  std::unique_lock lock(signal->mutex);
  while (!signal->failed &&
         !(signal->bound_fd >= 0 && IsAcceptingConnections(signal->bound_fd))) {
    signal->changed.wait_for(lock, std::chrono::milliseconds(1));
  }
  if (signal->failed) {
    lock.unlock();
    server->thread_.join();
    server->server_.reset();
    return Status::Unavailable(
        fmt::format("cannot listen on {}: {}", listen.ToString(), signal->error));
  }
  server->port_ = BoundPort(signal->bound_fd);
  return server;
}

void RpcServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

RpcServer::~RpcServer() { Stop(); }

}  // namespace pact::rpc
