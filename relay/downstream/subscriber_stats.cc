#include "relay/downstream/subscriber_stats.h"

#include <algorithm>
#include <cstdint>

namespace fedrelay::relay::downstream {
namespace {

constexpr char kLagEventsMetric[] = "fedrelay_subscriber_lag_events";
constexpr char kLagSecondsMetric[] = "fedrelay_subscriber_lag_seconds";

}  // namespace

std::shared_ptr<StreamProgress> IdentityStats::OpenStream(uint64_t start_after) {
  auto stream = std::make_shared<StreamProgress>();
  stream->position.store(start_after);
  absl::MutexLock lock(&mu_);
  open_.push_back(stream);
  return stream;
}

void IdentityStats::CloseStream(const std::shared_ptr<StreamProgress>& stream) {
  absl::MutexLock lock(&mu_);
  open_.erase(std::remove(open_.begin(), open_.end(), stream), open_.end());
  idle_position_ = stream->position.load();
}

void IdentityStats::SetIdlePosition(uint64_t position) {
  absl::MutexLock lock(&mu_);
  idle_position_ = position;
}

uint64_t IdentityStats::Position() const {
  absl::MutexLock lock(&mu_);
  if (open_.empty()) return idle_position_;
  uint64_t slowest = UINT64_MAX;
  for (const auto& stream : open_) slowest = std::min(slowest, stream->position.load());
  return slowest;
}

uint64_t StreamProgress::LagEvents(uint64_t head) const {
  const uint64_t at = position.load();
  return head > at ? head - at : 0;
}

double StreamProgress::LagSeconds(uint64_t head, uint64_t now_ms) const {
  if (position.load() >= head) return 0.0;
  const uint64_t since = working_on_received_at_ms.load();
  return since == 0 || now_ms < since ? 0.0 : static_cast<double>(now_ms - since) / 1000.0;
}

uint64_t IdentityStats::OldestWorkMs(uint64_t head, uint64_t now_ms) const {
  absl::MutexLock lock(&mu_);
  double oldest = 0;
  for (const auto& stream : open_) oldest = std::max(oldest, stream->LagSeconds(head, now_ms));
  return static_cast<uint64_t>(oldest * 1000.0);
}

std::shared_ptr<IdentityStats> SubscriberStats::For(const std::string& identity) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<IdentityStats>& stats = stats_[identity];
  if (stats != nullptr) return stats;
  stats = std::make_shared<IdentityStats>();
  MetricsRegistry& registry = MetricsRegistry::Default();
  const MetricLabels labels = {{"subscriber", identity}};
  stats->delivered = &registry.GetCounter("fedrelay_delivered_events_total",
                                          "Events written to downstream subscribers.", labels);
  stats->acks = &registry.GetCounter("fedrelay_acks_total", "Acknowledge calls accepted.", labels);
  stats->catch_ups = &registry.GetCounter(
      "fedrelay_subscriber_catchups_total",
      "Times a stream fell more than the behind limit behind the newest durable entry and "
      "continued by reading: the ring of recent entries in memory, then the log on disk.",
      labels);
  stats->acked = &registry.GetGauge("fedrelay_subscriber_acked_event_id",
                                    "The subscriber's durable (acknowledged) cursor.", labels);
  std::shared_ptr<const std::atomic<uint64_t>> head = ready_;
  std::shared_ptr<const IdentityStats> view = stats;
  const Clock* clock = clock_;
  registry.AddCallbackGauge(kLagEventsMetric,
                            "Events durable in the log but not yet written to the subscriber.",
                            labels, [head, view]() {
                              const uint64_t h = head->load(), p = view->Position();
                              return h > p ? static_cast<double>(h - p) : 0.0;
                            });
  registry.AddCallbackGauge(
      kLagSecondsMetric,
      "Age of the event the subscriber is being sent, while it is behind (0 when caught up).",
      labels, [head, view, clock]() {
        return static_cast<double>(view->OldestWorkMs(head->load(), clock->NowMs())) / 1000.0;
      });
  return stats;
}

void SubscriberStats::RemoveCallbacks() {
  MetricsRegistry::Default().RemoveCallbacks(kLagEventsMetric);
  MetricsRegistry::Default().RemoveCallbacks(kLagSecondsMetric);
}

}  // namespace fedrelay::relay::downstream
