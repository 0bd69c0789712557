#include "relay/downstream/subscriber_stats.h"

namespace fedrelay::relay::downstream {
namespace {

constexpr char kLagEventsMetric[] = "fedrelay_subscriber_lag_events";
constexpr char kLagSecondsMetric[] = "fedrelay_subscriber_lag_seconds";

}  // namespace

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
                              const uint64_t h = head->load(), p = view->position.load();
                              return h > p ? static_cast<double>(h - p) : 0.0;
                            });
  registry.AddCallbackGauge(
      kLagSecondsMetric,
      "Age of the event the subscriber is being sent, while it is behind (0 when caught up).",
      labels, [head, view, clock]() {
        if (view->position.load() >= head->load()) return 0.0;
        const uint64_t since = view->working_on_received_at_ms.load();
        const uint64_t now = clock->NowMs();
        return since == 0 || now < since ? 0.0 : static_cast<double>(now - since) / 1000.0;
      });
  return stats;
}

void SubscriberStats::RemoveCallbacks() {
  MetricsRegistry::Default().RemoveCallbacks(kLagEventsMetric);
  MetricsRegistry::Default().RemoveCallbacks(kLagSecondsMetric);
}

}  // namespace fedrelay::relay::downstream
