// WorkerPool: a fixed number of threads running queued tasks, with a bounded queue. Edge code
// uses it for blocking calls (store operations, RPCs) that must not stall a protocol driver.
//
// Submit() refuses work past `queued_tasks_max` instead of growing without bound; callers
// whose work may be retried later (protocol messages) simply drop it. Thread-safe.
#ifndef PACT_COMMON_WORKER_POOL_H_
#define PACT_COMMON_WORKER_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pact {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t queued_tasks_max);
  ~WorkerPool();  // Stop()s

  // False (and the task is not run) when the queue is full or the pool stopped.
  bool Submit(std::function<void()> task);
  // Runs no further queued task, waits for running ones, joins the threads. Idempotent.
  void Stop();

 private:
  void Work();

  const size_t queued_tasks_max_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pact

#endif  // PACT_COMMON_WORKER_POOL_H_
