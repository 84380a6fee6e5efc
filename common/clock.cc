#include "common/clock.h"

#include <chrono>
#include <thread>

namespace pact {

uint64_t SystemClock::NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SystemClock::SleepForMicros(uint64_t micros) {
  std::this_thread::sleep_for(std::chrono::microseconds(micros));
}

SystemClock* SystemClock::Default() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

uint64_t ManualClock::NowMicros() {
  std::lock_guard lock(mutex_);
  return now_micros_;
}

void ManualClock::AdvanceMicros(uint64_t micros) {
  std::lock_guard lock(mutex_);
  now_micros_ += micros;
}

}  // namespace pact
