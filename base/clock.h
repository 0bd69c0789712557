// Wall-clock time in Unix milliseconds, injectable so tests control "now".
#ifndef FEDRELAY_BASE_CLOCK_H_
#define FEDRELAY_BASE_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace fedrelay {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual uint64_t NowMs() const = 0;
};

// The process-wide real clock.
const Clock& SystemClock();

// A clock tests set by hand. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(uint64_t now_ms) : now_ms_(now_ms) {}
  uint64_t NowMs() const override { return now_ms_.load(); }
  void SetMs(uint64_t now_ms) { now_ms_.store(now_ms); }
  void AdvanceMs(uint64_t delta_ms) { now_ms_.fetch_add(delta_ms); }

 private:
  std::atomic<uint64_t> now_ms_;
};

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_CLOCK_H_
