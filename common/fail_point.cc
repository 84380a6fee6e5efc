#include "common/fail_point.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace pact {
namespace {

struct Armed {
  std::string name;
  long hits_left = 0;
  Status status;
};

Armed Parse() {
  Armed armed;
  const char* value = std::getenv("PACT_FAIL_POINT");
  if (value == nullptr || *value == '\0') return armed;
  std::string_view text = value;
  long count = 1;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    const std::string_view digits = text.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || count < 1) {
      armed.status = Status::InvalidArgument(
          fmt::format("PACT_FAIL_POINT='{}': the count after ':' must be a positive number", text));
      return armed;
    }
    text = text.substr(0, colon);
  }
  if (std::find(kFailPoints.begin(), kFailPoints.end(), text) == kFailPoints.end()) {
    armed.status = Status::InvalidArgument(
        fmt::format("PACT_FAIL_POINT names unknown fail point '{}'", text));
    return armed;
  }
  armed.name = std::string(text);
  armed.hits_left = count;
  return armed;
}

Armed& State() {
  static Armed armed = Parse();
  return armed;
}

std::atomic<long>& HitsLeft() {
  static std::atomic<long> hits_left{State().hits_left};
  return hits_left;
}

}  // namespace

Status ValidateFailPointEnvironment() { return State().status; }

void FailPoint(std::string_view name) {
  if (HitsLeft().load(std::memory_order_relaxed) <= 0 || State().name != name) return;
  if (HitsLeft().fetch_sub(1) == 1) {
    // Say where, for the test's log, then die the way kill -9 kills: no cleanup, no flush.
    const std::string line = fmt::format("fail point {} reached: SIGKILL\n", name);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    ::kill(::getpid(), SIGKILL);
  }
}

}  // namespace pact
