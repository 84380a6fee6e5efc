#include "common/reply_router.h"

#include <fmt/format.h>

namespace pact {
namespace {
constexpr std::string_view kPrefix = "reply/";
}  // namespace

bool ReplyRouter::IsReplyAddress(std::string_view address) { return address.starts_with(kPrefix); }

std::string ReplyRouter::Register() {
  std::lock_guard lock(mutex_);
  std::string address = fmt::format("{}{}", kPrefix, next_++);
  waiting_.emplace(address, std::nullopt);
  return address;
}

void ReplyRouter::Deliver(const std::string& to, protocol::Message message) {
  std::lock_guard lock(mutex_);
  auto it = waiting_.find(to);
  if (it == waiting_.end() || it->second.has_value()) return;
  it->second = std::move(message);
  delivered_.notify_all();
}

std::optional<protocol::Message> ReplyRouter::Wait(
    const std::string& address, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  auto it = waiting_.find(address);
  if (it == waiting_.end()) return std::nullopt;
  delivered_.wait_until(lock, deadline, [&] { return it->second.has_value() || shut_down_; });
  std::optional<protocol::Message> reply = std::move(it->second);
  waiting_.erase(it);
  return reply;
}

void ReplyRouter::Forget(const std::string& address) {
  std::lock_guard lock(mutex_);
  waiting_.erase(address);
}

void ReplyRouter::Shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  delivered_.notify_all();
}

bool ReplyRouter::shut_down() const {
  std::lock_guard lock(mutex_);
  return shut_down_;
}

}  // namespace pact
