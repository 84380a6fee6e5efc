// ClientPool: connections to one peer's service, reused across calls and threads (DESIGN §4:
// per-peer connection pools). Each connection is TSocket + TFramedTransport + TBinaryProtocol
// with the limits of rpc_limits.h, multiplexed under the service's name, with connect and
// call timeouts.
//
// Thread-safe: any number of threads may Call() at once; each call holds its own connection.
// At most `idle_connections_max` idle connections are kept; extra ones are closed.
#ifndef PACT_THRIFT_RPC_CLIENT_H_
#define PACT_THRIFT_RPC_CLIENT_H_

#include <thrift/protocol/TProtocol.h>
#include <thrift/transport/TTransport.h>
#include <thrift/transport/TTransportException.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "thrift/endpoint.h"
#include "thrift/rpc_errors.h"

namespace pact::rpc {

struct ClientOptions {
  int connect_timeout_ms = 1000;
  int call_timeout_ms = 5000;  // send and receive, per call
  size_t idle_connections_max = 16;
};

// A connected, framed, limited, multiplexed protocol to `peer`'s `service_name`.
struct RawConnection {
  std::shared_ptr<apache::thrift::transport::TTransport> transport;
  std::shared_ptr<apache::thrift::protocol::TProtocol> protocol;
};
Result<RawConnection> Connect(const Endpoint& peer, const std::string& service_name,
                              const ClientOptions& options);

template <typename Client>
class ClientPool {
 public:
  ClientPool(Endpoint peer, std::string service_name, ClientOptions options = {})
      : peer_(std::move(peer)), service_name_(std::move(service_name)), options_(options) {}

  const Endpoint& peer() const { return peer_; }

  // Runs `call(Client&)` on a connection. Exceptions thrown by `call` become a Status
  // (rpc_errors.h). Every Pact RPC is idempotent, so a call that fails on a reused connection
  // because the peer had closed it (idle timeout, restart) is retried once on a new one.
  template <typename Fn>
  Status Call(Fn&& call) {
    for (int attempt = 0;; ++attempt) {
      bool reused = false;
      std::unique_ptr<Connection> connection = TakeIdle();
      if (connection != nullptr) {
        reused = true;
      } else {
        Result<RawConnection> raw = Connect(peer_, service_name_, options_);
        if (!raw.ok()) return raw.status();
        connection = std::make_unique<Connection>(std::move(raw).value());
      }
      try {
        call(*connection->client);
        ReturnIdle(std::move(connection));
        return Status::Ok();
      } catch (const apache::thrift::transport::TTransportException& e) {
        connection->raw.transport->close();
        const bool peer_closed_idle =
            e.getType() == apache::thrift::transport::TTransportException::END_OF_FILE ||
            e.getType() == apache::thrift::transport::TTransportException::NOT_OPEN;
        if (reused && peer_closed_idle && attempt == 0) continue;
        return CurrentExceptionToStatus(peer_.ToString(), CallPhase::kInFlight);
      } catch (const apache::thrift::protocol::TProtocolException&) {
        // The stream is out of step; this connection cannot be trusted for another call.
        connection->raw.transport->close();
        return CurrentExceptionToStatus(peer_.ToString(), CallPhase::kInFlight);
      } catch (...) {
        // A declared exception of pact.thrift: the reply was read whole, the stream is sane.
        ReturnIdle(std::move(connection));
        return CurrentExceptionToStatus(peer_.ToString(), CallPhase::kInFlight);
      }
    }
  }

  ~ClientPool() {
    for (auto& connection : idle_) connection->raw.transport->close();
  }

 private:
  struct Connection {
    explicit Connection(RawConnection r)
        : raw(std::move(r)), client(std::make_unique<Client>(raw.protocol)) {}
    RawConnection raw;
    std::unique_ptr<Client> client;
  };

  std::unique_ptr<Connection> TakeIdle() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    return connection;
  }

  void ReturnIdle(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < options_.idle_connections_max) {
      idle_.push_back(std::move(connection));
    } else {
      connection->raw.transport->close();
    }
  }

  const Endpoint peer_;
  const std::string service_name_;
  const ClientOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace pact::rpc

#endif  // PACT_THRIFT_RPC_CLIENT_H_
