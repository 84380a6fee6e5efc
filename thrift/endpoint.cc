#include "thrift/endpoint.h"

#include <charconv>

#include <fmt/format.h>

namespace pact::rpc {

Result<Endpoint> Endpoint::Parse(std::string_view text) {
  auto malformed = [&](std::string_view why) {
    return Status::InvalidArgument(
        fmt::format("bad address '{}': {} (expected host:port, e.g. 127.0.0.1:7000)", text, why));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return malformed("no port");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) return malformed("no host");
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port < 0 || port > 65535) {
    return malformed("port must be a number from 0 to 65535");
  }
  return Endpoint{std::string(host), port};
}

std::string Endpoint::ToString() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace pact::rpc
