// A small Prometheus metrics registry (text exposition format 0.0.4).
//
// A metric family is a name with a type, a help text and, for histograms, a
// bucket layout; each distinct label set of a family is one child. Hot paths
// update children with atomics only; looking a child up takes the registry
// lock, so callers on hot paths keep the returned reference (it stays valid
// for the registry's lifetime).
//
//   Counter& rejected = registry.GetCounter("fedrelay_rejections_total",
//                                           "Requests rejected, by machine code.",
//                                           {{"code", "stale_timestamp"}});
//   rejected.Increment();
//
// Registering one name with two types, two help texts or two bucket layouts is
// a programming error and aborts, as does an invalid metric or label name.
//
// Thread-safety: everything here is thread-safe.
#ifndef FEDRELAY_BASE_METRICS_H_
#define FEDRELAY_BASE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace fedrelay {

// Label name/value pairs. Order does not matter: {a, b} and {b, a} are the same child.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed buckets given by their (inclusive) upper bounds; +Inf is implicit.
class Histogram {
 public:
  // `upper_bounds` must be strictly increasing and finite.
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, last = above every bound
  std::atomic<double> sum_{0};
};

// `count` bounds start, start*factor, start*factor^2, ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// Request latencies in seconds, 100us .. ~10s.
std::vector<double> DefaultLatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  ~MetricsRegistry();

  // The process-wide registry the relay's /metrics serves.
  static MetricsRegistry& Default();

  // Returns the child for `labels`, creating the family and child on first use.
  Counter& GetCounter(absl::string_view name, absl::string_view help, const MetricLabels& labels = {});
  Gauge& GetGauge(absl::string_view name, absl::string_view help, const MetricLabels& labels = {});
  Histogram& GetHistogram(absl::string_view name, absl::string_view help,
                          const std::vector<double>& upper_bounds, const MetricLabels& labels = {});

  // A gauge whose value is computed by `fn` at render time (e.g. the log size),
  // replacing an earlier callback for the same name and labels. `fn` runs under
  // the registry lock: it must be cheap and must not use the registry. Whoever
  // registers a callback that captures an object removes it (RemoveCallbacks)
  // before that object goes away.
  void AddCallbackGauge(absl::string_view name, absl::string_view help, std::function<double()> fn);
  void AddCallbackGauge(absl::string_view name, absl::string_view help, const MetricLabels& labels,
                        std::function<double()> fn);
  // Drops every callback child of family `name` (plain gauges stay).
  void RemoveCallbacks(absl::string_view name);

  // Every family in name order, children in label order, as Prometheus text 0.0.4.
  std::string RenderText() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family;

  Family& FamilyFor(absl::string_view name, absl::string_view help, Type type,
                    const std::vector<double>* upper_bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// Text format value spelling: shortest round-trip decimal, "+Inf", "-Inf", "NaN".
std::string FormatMetricValue(double value);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_METRICS_H_
