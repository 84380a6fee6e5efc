#include "common/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <fmt/format.h>

namespace pact {

Status InitLogging(std::string_view process_name, std::string_view level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(std::string(level));
  // from_str answers "off" for anything it does not know; only "off" itself may mean off.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::InvalidArgument(fmt::format(
        "unknown log level '{}' (expected trace, debug, info, warn, error or off)", level));
  }
  auto logger = spdlog::stderr_color_mt(std::string(process_name));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n] %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace pact
