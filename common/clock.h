// Clock: the only way edge code reads time. Protocol cores never read a clock; they count
// ticks that a driver feeds them, so the simulator can run them without one.
#ifndef PACT_COMMON_CLOCK_H_
#define PACT_COMMON_CLOCK_H_

#include <cstdint>
#include <mutex>

namespace pact {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic microseconds since an arbitrary origin; never goes backwards.
  virtual uint64_t NowMicros() = 0;
  virtual void SleepForMicros(uint64_t micros) = 0;
};

// The process's steady clock. Thread-safe.
class SystemClock final : public Clock {
 public:
  uint64_t NowMicros() override;
  void SleepForMicros(uint64_t micros) override;
  // A process-wide instance; never destroyed.
  static SystemClock* Default();
};

// A clock that moves only when told: sleeping advances it. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t start_micros = 0) : now_micros_(start_micros) {}
  uint64_t NowMicros() override;
  void SleepForMicros(uint64_t micros) override { AdvanceMicros(micros); }
  void AdvanceMicros(uint64_t micros);

 private:
  std::mutex mutex_;
  uint64_t now_micros_;
};

}  // namespace pact

#endif  // PACT_COMMON_CLOCK_H_
