#include "common/reply_router.h"

#include <gtest/gtest.h>

#include <thread>

namespace pact {
namespace {

using Clock = std::chrono::steady_clock;

TEST(ReplyRouterTest, DeliversToTheWaiterOfTheAddress) {
  ReplyRouter router;
  const std::string first = router.Register();
  const std::string second = router.Register();
  EXPECT_NE(first, second);
  EXPECT_TRUE(ReplyRouter::IsReplyAddress(first));
  EXPECT_FALSE(ReplyRouter::IsReplyAddress("127.0.0.1:7000"));
  std::thread driver([&] {
    router.Deliver(second, protocol::OutcomeReply{1, TxnId{1, 2}, protocol::Outcome::kAborted});
    router.Deliver(first, protocol::OutcomeReply{1, TxnId{1, 1}, protocol::Outcome::kCommitted});
  });
  auto reply = router.Wait(first, Clock::now() + std::chrono::seconds(10));
  driver.join();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(std::get<protocol::OutcomeReply>(*reply).txn, (TxnId{1, 1}));
  auto other = router.Wait(second, Clock::now());
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(std::get<protocol::OutcomeReply>(*other).txn, (TxnId{1, 2}));
}

TEST(ReplyRouterTest, KeepsTheFirstReplyAndDropsLateOnes) {
  ReplyRouter router;
  const std::string address = router.Register();
  router.Deliver(address, protocol::OutcomeReply{1, TxnId{1, 1}, protocol::Outcome::kCommitted});
  router.Deliver(address, protocol::OutcomeReply{1, TxnId{1, 1}, protocol::Outcome::kAborted});
  auto reply = router.Wait(address, Clock::now());
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(std::get<protocol::OutcomeReply>(*reply).outcome, protocol::Outcome::kCommitted);
  // The address is forgotten after Wait: a late delivery goes nowhere.
  router.Deliver(address, protocol::OutcomeReply{});
  EXPECT_FALSE(router.Wait(address, Clock::now()).has_value());
}

TEST(ReplyRouterTest, TimesOutAndShutsDown) {
  ReplyRouter router;
  const std::string address = router.Register();
  EXPECT_FALSE(router.Wait(address, Clock::now() + std::chrono::milliseconds(20)).has_value());
  const std::string pending = router.Register();
  std::thread stopper([&] { router.Shutdown(); });
  EXPECT_FALSE(router.Wait(pending, Clock::now() + std::chrono::seconds(30)).has_value());
  stopper.join();
  EXPECT_TRUE(router.shut_down());
}

}  // namespace
}  // namespace pact
