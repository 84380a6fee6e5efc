#include "thrift/thrift_output.h"

#include <thrift/Thrift.h>

#include <mutex>
#include <string_view>

#include "common/logging.h"

namespace pact::rpc {
namespace {

void LogThriftOutput(const char* message) {
  const std::string_view text(message);
  if (text.starts_with("TSocket::")) {
    PACT_LOG_DEBUG("thrift: {}", text);
  } else {
    PACT_LOG_WARN("thrift: {}", text);
  }
}

}  // namespace

void RouteThriftOutputToLog() {
  static std::once_flag once;
  std::call_once(once, [] { apache::thrift::GlobalOutput.setOutputFunction(&LogThriftOutput); });
}

}  // namespace pact::rpc
