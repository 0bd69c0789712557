#include "relay/auth/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/errors.h"

namespace fedrelay::relay {

RateLimiter::RateLimiter(std::string name, uint32_t per_minute, const Clock* clock)
    : name_(std::move(name)),
      capacity_(per_minute),
      per_ms_(per_minute / 60000.0),
      clock_(clock) {}

absl::Status RateLimiter::Allow(const std::string& key) {
  if (capacity_ <= 0) return absl::OkStatus();
  const uint64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  // Drop buckets that have refilled completely; they carry no information.
  if (now - last_sweep_ms_ > 60000) {
    last_sweep_ms_ = now;
    absl::erase_if(buckets_, [&](const auto& entry) {
      return entry.second.tokens + (now - entry.second.last_ms) * per_ms_ >= capacity_;
    });
  }
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{capacity_, now});
  Bucket& bucket = it->second;
  if (!inserted && now > bucket.last_ms) {
    bucket.tokens = std::min(capacity_, bucket.tokens + (now - bucket.last_ms) * per_ms_);
  }
  bucket.last_ms = std::max(bucket.last_ms, now);
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return absl::OkStatus();
  }
  const auto retry_ms = static_cast<uint64_t>(std::ceil((1.0 - bucket.tokens) / per_ms_));
  return RateLimitedError(absl::StrCat(name_, " of ", capacity_, "/min exceeded"), retry_ms);
}

}  // namespace fedrelay::relay
