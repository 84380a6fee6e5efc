// Logging on spdlog. Every Pact process logs to stderr through one logger, so that tests and
// scripts capture one stream. Call InitLogging once at start-up; before that spdlog's default
// logger is used, which is also fine for tests.
#ifndef PACT_COMMON_LOGGING_H_
#define PACT_COMMON_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace pact {

// Sets up the stderr logger with `level` ("trace", "debug", "info", "warn", "error", "off")
// and a pattern that names the process (`process_name`, e.g. "coord1"). An unknown level is an
// InvalidArgument, and logging stays as it was.
Status InitLogging(std::string_view process_name, std::string_view level);

}  // namespace pact

#define PACT_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define PACT_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define PACT_LOG_INFO(...) SPDLOG_INFO(__VA_ARGS__)
#define PACT_LOG_WARN(...) SPDLOG_WARN(__VA_ARGS__)
#define PACT_LOG_ERROR(...) SPDLOG_ERROR(__VA_ARGS__)

#endif  // PACT_COMMON_LOGGING_H_
