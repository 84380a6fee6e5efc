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
  waiting_.emplace(address, std::make_unique<Slot>());
  return address;
}

void ReplyRouter::Deliver(const std::string& to, protocol::Message message) {
  std::lock_guard lock(mutex_);
  auto it = waiting_.find(to);
  if (it == waiting_.end() || it->second->reply.has_value()) return;
  it->second->reply = std::move(message);
  it->second->delivered.notify_one();
}

std::optional<protocol::Message> ReplyRouter::Wait(
    const std::string& address, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  auto it = waiting_.find(address);
  if (it == waiting_.end()) return std::nullopt;
  Slot& slot = *it->second;  // stays put: only this waiter erases it
  slot.delivered.wait_until(lock, deadline, [&] { return slot.reply.has_value() || shut_down_; });
  std::optional<protocol::Message> reply = std::move(slot.reply);
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
  for (auto& [address, slot] : waiting_) slot->delivered.notify_all();
}

bool ReplyRouter::shut_down() const {
  std::lock_guard lock(mutex_);
  return shut_down_;
}

}  // namespace pact
