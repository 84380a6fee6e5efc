// Assertions for broken invariants. A failed check means the program's own state is wrong;
// going on could acknowledge something that is not durable, so it logs and aborts.
//
//   PACT_CHECK(cond, "fmt {}", args...)   always on, also in release builds
//   PACT_DCHECK(cond, ...)                debug builds only (hot paths, expensive checks)
//   PACT_UNREACHABLE("fmt", args...)      a branch the logic rules out
//
// Expected failures (bad input, IO errors, timeouts) are Status values, never checks.
#ifndef PACT_COMMON_CHECK_H_
#define PACT_COMMON_CHECK_H_

#include <fmt/format.h>

#include <string>

namespace pact::internal {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& message);

inline std::string CheckMessage() { return {}; }
template <typename... Args>
std::string CheckMessage(fmt::format_string<Args...> format, Args&&... args) {
  return fmt::format(format, std::forward<Args>(args)...);
}

}  // namespace pact::internal

#define PACT_CHECK(condition, ...)                                            \
  do {                                                                        \
    if (!(condition)) [[unlikely]] {                                          \
      ::pact::internal::CheckFailed(__FILE__, __LINE__, #condition,           \
                                    ::pact::internal::CheckMessage(__VA_ARGS__)); \
    }                                                                         \
  } while (0)

#define PACT_CHECK_OK(status_expr)                                            \
  do {                                                                        \
    /* A copy: `status_expr` may name a member of a temporary (F().status()). */ \
    const auto pact_check_status_ = (status_expr);                            \
    PACT_CHECK(pact_check_status_.ok(), "{}", pact_check_status_.ToString()); \
  } while (0)

#ifdef NDEBUG
// Compiled (so it cannot rot) but never evaluated.
#define PACT_DCHECK(...)      \
  do {                        \
    if (false) {              \
      PACT_CHECK(__VA_ARGS__); \
    }                         \
  } while (0)
#else
#define PACT_DCHECK(...) PACT_CHECK(__VA_ARGS__)
#endif

#define PACT_UNREACHABLE(...) \
  ::pact::internal::CheckFailed(__FILE__, __LINE__, "unreachable", \
                                ::pact::internal::CheckMessage(__VA_ARGS__))

#endif  // PACT_COMMON_CHECK_H_
