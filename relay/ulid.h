// ULIDs (github.com/ulid/spec): 48-bit Unix-ms time + 80 random bits, written
// as 26 Crockford base32 characters, so they sort by creation time. Within one
// millisecond a generator increments the random part instead of redrawing it,
// which keeps its ids strictly increasing (also if the clock steps back).
//
// The random part is not a secret: correlation ids are echoed to clients and
// written to logs. Thread-safety: UlidGenerator and the free functions are thread-safe.
#ifndef FEDRELAY_RELAY_ULID_H_
#define FEDRELAY_RELAY_ULID_H_

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"

namespace fedrelay::relay {

class UlidGenerator {
 public:
  explicit UlidGenerator(const Clock* clock = &SystemClock());
  // A fixed seed, for tests.
  UlidGenerator(const Clock* clock, uint64_t seed);

  std::string Next();

 private:
  const Clock* const clock_;
  std::mutex mu_;
  std::mt19937_64 random_;
  uint64_t last_ms_ = 0;
  unsigned __int128 last_random_ = 0;  // low 80 bits used
};

// From a process-wide generator on the system clock.
std::string NewUlid();
// "req_<ulid>": the id an HTTP request's error body, header and log line share.
std::string NewCorrelationId();

// The millisecond time of a well-formed ULID (uppercase Crockford, 26 chars).
absl::StatusOr<uint64_t> UlidTimeMs(absl::string_view ulid);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_ULID_H_
