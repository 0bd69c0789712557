// Per-key token buckets for the ServerSettings-named limits (config RateLimits).
//
// A limit of N per minute allows bursts of N and refills continuously. Keys
// are whatever identifies the caller for that limit (origin server id, signing
// user or device key, client connection). Idle buckets are dropped lazily.
// Thread-safe.
#ifndef FEDRELAY_RELAY_AUTH_RATE_LIMITER_H_
#define FEDRELAY_RELAY_AUTH_RATE_LIMITER_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"

namespace fedrelay::relay {

class RateLimiter {
 public:
  // `per_minute` 0 disables the limit.
  RateLimiter(std::string name, uint32_t per_minute, const Clock* clock = &SystemClock());

  // OK, or rate_limited with the delay until one request would be allowed.
  absl::Status Allow(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    uint64_t last_ms;
  };
  const std::string name_;
  const double capacity_;
  const double per_ms_;
  const Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  uint64_t last_sweep_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_AUTH_RATE_LIMITER_H_
