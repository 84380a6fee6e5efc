// Status and Result: how Pact reports expected errors. No exception crosses a module
// boundary; edges (Thrift, libpq, POSIX) turn their failures into a Status.
//
// An error code exists only where some caller reacts to it differently from the others
// (retry elsewhere, back off, give up, ask again). Everything else is carried by the message.
#ifndef PACT_COMMON_STATUS_H_
#define PACT_COMMON_STATUS_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/check.h"

namespace pact {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the request is malformed; retrying it unchanged never helps
  kNotFound,            // the named thing (file, transaction, key) does not exist
  kCorruption,          // stored bytes fail their checks; refuse to go on
  kIoError,             // the operating system refused (open, write, read)
  kNotLeader,           // this replica is not the leader; the message may hint at it
  kStaleEpoch,          // the request belongs to an older leader epoch
  kOverloaded,          // a limit is reached; back off and retry
  kUnavailable,         // the peer cannot be reached now; retry later
  kOutcomeUnknown,      // the operation may or may not have happened; ask again
  kFailedPrecondition,  // the object is in a state that forbids the call (closed, fenced)
  kAborted,             // the transaction ended in abort
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status NotLeader(std::string m) { return {StatusCode::kNotLeader, std::move(m)}; }
  static Status StaleEpoch(std::string m) { return {StatusCode::kStaleEpoch, std::move(m)}; }
  static Status Overloaded(std::string m) { return {StatusCode::kOverloaded, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status OutcomeUnknown(std::string m) { return {StatusCode::kOutcomeUnknown, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Corruption: wal/000001.log at offset 4096: bad checksum"
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context` ("opening log: ...").
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T>: a value or an error Status, never both. Reading the value of an error (or the
// error of a value) is a broken invariant and crashes.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    PACT_CHECK(!status_.ok(), "a Result built from a Status must hold an error");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    PACT_CHECK(ok(), "value() of an error Result: {}", status_.ToString());
    return *value_;
  }
  const T& value() const& {
    PACT_CHECK(ok(), "value() of an error Result: {}", status_.ToString());
    return *value_;
  }
  T&& value() && {
    PACT_CHECK(ok(), "value() of an error Result: {}", status_.ToString());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // By value: `for (auto& x : *MakeResult())` must not bind to a dead temporary's value.
  T operator*() && { return std::move(*this).value(); }

 private:
  std::optional<T> value_;
  Status status_;  // OK whenever value_ is set
};

}  // namespace pact

// Returns early from the enclosing function when `expr` (a Status) is an error.
#define PACT_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::pact::Status pact_status_ = (expr);       \
    if (!pact_status_.ok()) return pact_status_; \
  } while (0)

#define PACT_CONCAT_INNER_(a, b) a##b
#define PACT_CONCAT_(a, b) PACT_CONCAT_INNER_(a, b)

// PACT_ASSIGN_OR_RETURN(auto x, ComputeResult()); returns the error or binds the value.
#define PACT_ASSIGN_OR_RETURN(lhs, expr) \
  PACT_ASSIGN_OR_RETURN_IMPL_(PACT_CONCAT_(pact_result_, __LINE__), lhs, expr)
#define PACT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

#endif  // PACT_COMMON_STATUS_H_
