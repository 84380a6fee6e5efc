// ReplyRouter: pairs the requests that Thrift handler threads hand to a single-threaded
// protocol driver with the replies the driver's core addresses to them. A handler registers a
// private reply address, gives the core its request "from" that address, and waits; the driver
// delivers every message addressed to a router address here instead of sending it.
//
// Addresses look like "reply/<n>"; Pact names peers by "host:port", so they cannot collide.
// Thread-safe.
#ifndef PACT_COMMON_REPLY_ROUTER_H_
#define PACT_COMMON_REPLY_ROUTER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/protocol.h"

namespace pact {

class ReplyRouter {
 public:
  static bool IsReplyAddress(std::string_view address);

  // A fresh address to give the core as the request's sender. Pair with Wait() or Forget().
  std::string Register();

  // Hands `message` to whoever waits on `to`. Dropped if nobody does any more (the waiter gave
  // up): the request's effect stands, only its answer is lost, as on a network.
  void Deliver(const std::string& to, protocol::Message message);

  // Waits until a reply for `address` arrives, the deadline passes, or Shutdown(); then
  // forgets the address. nullopt when no reply came.
  std::optional<protocol::Message> Wait(const std::string& address,
                                        std::chrono::steady_clock::time_point deadline);

  // Gives up an address without waiting (the request was never handed to the driver).
  void Forget(const std::string& address);

  // Wakes every waiter with no reply; later Wait()s return at once.
  void Shutdown();
  bool shut_down() const;

 private:
  // One per registered address, so a delivery wakes only its own waiter: with one condition
  // variable for all, every delivery woke every waiting handler thread (hundreds of context
  // switches per transaction with 32 concurrent calls).
  struct Slot {
    std::optional<protocol::Message> reply;
    std::condition_variable delivered;
  };

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Slot>> waiting_;
  uint64_t next_ = 1;
  bool shut_down_ = false;
};

}  // namespace pact

#endif  // PACT_COMMON_REPLY_ROUTER_H_
