#include "relay/ulid.h"

#include "absl/strings/str_cat.h"
#include "base/errors.h"

namespace fedrelay::relay {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kUlidChars = 26;
constexpr unsigned __int128 kRandomMask = (static_cast<unsigned __int128>(1) << 80) - 1;
constexpr uint64_t kMaxTimeMs = (uint64_t{1} << 48) - 1;

std::string Encode(uint64_t time_ms, unsigned __int128 random) {
  unsigned __int128 value = (static_cast<unsigned __int128>(time_ms & kMaxTimeMs) << 80) | random;
  std::string out(kUlidChars, '0');
  for (int i = kUlidChars - 1; i >= 0; --i) {
    out[i] = kCrockford[static_cast<int>(value & 31)];
    value >>= 5;
  }
  return out;
}

}  // namespace

UlidGenerator::UlidGenerator(const Clock* clock) : UlidGenerator(clock, std::random_device{}()) {}

UlidGenerator::UlidGenerator(const Clock* clock, uint64_t seed) : clock_(clock), random_(seed) {}

std::string UlidGenerator::Next() {
  const uint64_t now_ms = clock_->NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    last_random_ = ((static_cast<unsigned __int128>(random_()) << 64) | random_()) & kRandomMask;
  } else {
    // Same millisecond, or the clock stepped back: stay monotonic. When the
    // random part runs out, borrow the next millisecond.
    last_random_ = (last_random_ + 1) & kRandomMask;
    if (last_random_ == 0) ++last_ms_;
  }
  return Encode(last_ms_, last_random_);
}

std::string NewUlid() {
  static UlidGenerator* const generator = new UlidGenerator();
  return generator->Next();
}

std::string NewCorrelationId() { return absl::StrCat("req_", NewUlid()); }

absl::StatusOr<uint64_t> UlidTimeMs(absl::string_view ulid) {
  if (ulid.size() != kUlidChars || ulid[0] > '7') {
    return MakeError(ErrorCode::kMalformed, "a ULID is 26 Crockford base32 characters");
  }
  uint64_t time_ms = 0;
  for (int i = 0; i < kUlidChars; ++i) {
    const char* digit = nullptr;
    for (const char* c = kCrockford; *c != '\0'; ++c) {
      if (*c == ulid[i]) digit = c;
    }
    if (digit == nullptr) return MakeError(ErrorCode::kMalformed, "a ULID is 26 Crockford base32 characters");
    if (i < 10) time_ms = (time_ms << 5) | static_cast<uint64_t>(digit - kCrockford);
  }
  return time_ms;
}

}  // namespace fedrelay::relay
