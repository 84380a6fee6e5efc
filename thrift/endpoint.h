// Endpoint: a "host:port" address of a Pact process. Parsing is strict so that a typo in a
// flag or config file is a clear error at start-up, not a connection failure later.
#ifndef PACT_THRIFT_ENDPOINT_H_
#define PACT_THRIFT_ENDPOINT_H_

#include <compare>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pact::rpc {

struct Endpoint {
  std::string host;
  int port = 0;  // 0 only when listening: "any free port"

  // "127.0.0.1:7000", "localhost:0". IPv6 literals go in brackets: "[::1]:7000".
  static Result<Endpoint> Parse(std::string_view text);
  std::string ToString() const;

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

}  // namespace pact::rpc

#endif  // PACT_THRIFT_ENDPOINT_H_
