#include "common/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace pact {
namespace {

TEST(WorkerPoolTest, RunsEverySubmittedTaskConcurrently) {
  WorkerPool pool(4, 100);
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> waiting{0};
  // Four tasks that only finish together prove four threads run at once.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.Submit([&] {
      ++waiting;
      gate.wait();
      ++ran;
    }));
  }
  while (waiting.load() < 4) std::this_thread::yield();
  release.set_value();
  pool.Stop();
  EXPECT_EQ(ran.load(), 4);
}

TEST(WorkerPoolTest, RefusesWorkPastTheQueueLimitAndAfterStop) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(pool.Submit([&] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();  // the one thread is busy; the queue is empty
  EXPECT_TRUE(pool.Submit([] {}));
  EXPECT_TRUE(pool.Submit([] {}));
  EXPECT_FALSE(pool.Submit([] {})) << "a third queued task exceeds queued_tasks_max";
  release.set_value();
  pool.Stop();
  EXPECT_FALSE(pool.Submit([] {}));
}

}  // namespace
}  // namespace pact
