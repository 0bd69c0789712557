// Delivery progress per subscriber identity, on /metrics (labelled
// subscriber="<identity>"): events written, acknowledgements, catch-ups, the
// acknowledged cursor, and the lag gauges computed from the ring's ready
// counter when /metrics is read. Kept while the process runs (identities are
// bounded by peers + API keys) so the lag also shows a subscriber that went away.
//
// Thread-safety: thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STATS_H_
#define FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STATS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "base/metrics.h"

namespace fedrelay::relay::downstream {

// One stream's progress.
struct StreamProgress {
  std::atomic<uint64_t> position{0};  // every event up to this id has been written to it
  std::atomic<uint64_t> working_on_received_at_ms{0};  // received_at of the entry in flight

  // Durable events up to `head` not yet written to the stream.
  uint64_t LagEvents(uint64_t head) const;
  // While behind `head`: the age at `now_ms` of the entry in flight, else 0.
  double LagSeconds(uint64_t head, uint64_t now_ms) const;
};

// One identity's counters, and the progress of its open streams: the lag
// gauges follow its slowest open stream, or where its last stream stopped
// (or its acknowledged cursor, after a restart) while none is open.
class IdentityStats {
 public:
  Counter* delivered = nullptr;
  Counter* acks = nullptr;
  Counter* catch_ups = nullptr;
  Gauge* acked = nullptr;

  std::shared_ptr<StreamProgress> OpenStream(uint64_t start_after);
  void CloseStream(const std::shared_ptr<StreamProgress>& stream);
  // Where nothing is open: the position the gauges show.
  void SetIdlePosition(uint64_t position);

  // For the gauges: the slowest open stream's position (or the idle
  // position), and the age in ms at `now_ms` of the oldest entry an open
  // stream behind `head` is working on (0 when none).
  uint64_t Position() const;
  uint64_t OldestWorkMs(uint64_t head, uint64_t now_ms) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<StreamProgress>> open_ ABSL_GUARDED_BY(mu_);
  uint64_t idle_position_ ABSL_GUARDED_BY(mu_) = 0;
};

class SubscriberStats {
 public:
  // `ready`: the last event id streams may read (FanOutRing::ready_counter).
  SubscriberStats(std::shared_ptr<const std::atomic<uint64_t>> ready, const Clock* clock)
      : ready_(std::move(ready)), clock_(clock) {}

  // The identity's stats, registering its metrics on first use.
  std::shared_ptr<IdentityStats> For(const std::string& identity);
  // Removes the lag gauges' callbacks (at shutdown: they read this delivery).
  void RemoveCallbacks();

 private:
  const std::shared_ptr<const std::atomic<uint64_t>> ready_;
  const Clock* const clock_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<IdentityStats>> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedrelay::relay::downstream

#endif  // FEDRELAY_RELAY_DOWNSTREAM_SUBSCRIBER_STATS_H_
