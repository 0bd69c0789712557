#include "base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace fedrelay {
namespace {

// Misuse of the registry is a bug in the caller, found the first time the code runs.
[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "fedrelay metrics: %s\n", message.c_str());
  std::abort();
}

bool IsValidName(absl::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Sorted by label name so that the order callers list labels in does not matter.
MetricLabels Normalize(const MetricLabels& labels, bool histogram) {
  MetricLabels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& name = sorted[i].first;
    if (!IsValidName(name, /*allow_colon=*/false) || absl::string_view(name).substr(0, 2) == "__") {
      Die(absl::StrCat("invalid label name \"", name, "\""));
    }
    if (histogram && name == "le") Die("label \"le\" is reserved for histogram buckets");
    if (i > 0 && sorted[i - 1].first == name) Die(absl::StrCat("duplicate label \"", name, "\""));
  }
  return sorted;
}

void AtomicAdd(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

std::string EscapeHelp(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeLabelValue(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"), or "" with no labels at all.
std::string FormatLabels(const MetricLabels& labels, absl::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    absl::StrAppend(&out, labels[i].first, "=\"", EscapeLabelValue(labels[i].second), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, labels.empty() ? "" : ",", extra);
  out += "}";
  return out;
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      counts_(new std::atomic<uint64_t>[upper_bounds_.size() + 1]) {
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (!std::isfinite(upper_bounds_[i]) || (i > 0 && upper_bounds_[i] <= upper_bounds_[i - 1])) {
      Die("histogram bounds must be finite and strictly increasing");
    }
  }
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // Buckets are inclusive upper bounds: the first bound >= value.
  const size_t bucket =
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
          0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
}

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<double> upper_bounds;  // histograms only

  struct Child {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> callback;  // callback gauges
  };
  std::map<MetricLabels, Child> children;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry& MetricsRegistry::Default() {
  // Never destroyed: metrics may be touched by threads still winding down at exit.
  static MetricsRegistry* const registry = new MetricsRegistry();
  return *registry;
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(absl::string_view name, absl::string_view help,
                                                    Type type, const std::vector<double>* upper_bounds) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    if (!IsValidName(name, /*allow_colon=*/true)) Die(absl::StrCat("invalid metric name \"", name, "\""));
    auto family = std::make_unique<Family>();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
    if (upper_bounds != nullptr) family->upper_bounds = *upper_bounds;
    it = families_.emplace(std::string(name), std::move(family)).first;
  }
  Family& family = *it->second;
  if (family.type != type || family.help != help ||
      (upper_bounds != nullptr && family.upper_bounds != *upper_bounds)) {
    Die(absl::StrCat("metric \"", name, "\" registered twice with different type, help or buckets"));
  }
  return family;
}

Counter& MetricsRegistry::GetCounter(absl::string_view name, absl::string_view help,
                                     const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family::Child& child =
      FamilyFor(name, help, Type::kCounter, nullptr).children[Normalize(labels, /*histogram=*/false)];
  if (child.counter == nullptr) child.counter = std::make_unique<Counter>();
  return *child.counter;
}

Gauge& MetricsRegistry::GetGauge(absl::string_view name, absl::string_view help,
                                 const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family::Child& child =
      FamilyFor(name, help, Type::kGauge, nullptr).children[Normalize(labels, /*histogram=*/false)];
  if (child.callback) Die(absl::StrCat("gauge \"", name, "\" already has a callback for these labels"));
  if (child.gauge == nullptr) child.gauge = std::make_unique<Gauge>();
  return *child.gauge;
}

Histogram& MetricsRegistry::GetHistogram(absl::string_view name, absl::string_view help,
                                         const std::vector<double>& upper_bounds,
                                         const MetricLabels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Family::Child& child = FamilyFor(name, help, Type::kHistogram, &upper_bounds)
                             .children[Normalize(labels, /*histogram=*/true)];
  if (child.histogram == nullptr) child.histogram = std::make_unique<Histogram>(upper_bounds);
  return *child.histogram;
}

void MetricsRegistry::AddCallbackGauge(absl::string_view name, absl::string_view help,
                                       std::function<double()> fn) {
  AddCallbackGauge(name, help, {}, std::move(fn));
}

void MetricsRegistry::AddCallbackGauge(absl::string_view name, absl::string_view help,
                                       const MetricLabels& labels, std::function<double()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  Family::Child& child =
      FamilyFor(name, help, Type::kGauge, nullptr).children[Normalize(labels, /*histogram=*/false)];
  if (child.gauge != nullptr) Die(absl::StrCat("gauge \"", name, "\" already has a value for these labels"));
  child.callback = std::move(fn);
}

void MetricsRegistry::RemoveCallbacks(absl::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto family = families_.find(name);
  if (family == families_.end()) return;
  auto& children = family->second->children;
  for (auto child = children.begin(); child != children.end();) {
    child = child->second.callback ? children.erase(child) : std::next(child);
  }
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    if (family->children.empty()) continue;
    const char* type = family->type == Type::kCounter ? "counter"
                       : family->type == Type::kGauge ? "gauge"
                                                      : "histogram";
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family->help), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", type, "\n");
    for (const auto& [labels, child] : family->children) {
      switch (family->type) {
        case Type::kCounter:
          absl::StrAppend(&out, name, FormatLabels(labels), " ", child.counter->Value(), "\n");
          break;
        case Type::kGauge: {
          const double value = child.callback ? child.callback() : child.gauge->Value();
          absl::StrAppend(&out, name, FormatLabels(labels), " ", FormatMetricValue(value), "\n");
          break;
        }
        case Type::kHistogram: {
          const Histogram::Snapshot snapshot = child.histogram->Read();
          for (size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
            const std::string bound = i < snapshot.upper_bounds.size()
                                          ? FormatMetricValue(snapshot.upper_bounds[i])
                                          : "+Inf";
            absl::StrAppend(&out, name, "_bucket", FormatLabels(labels, absl::StrCat("le=\"", bound, "\"")),
                            " ", snapshot.cumulative_counts[i], "\n");
          }
          absl::StrAppend(&out, name, "_sum", FormatLabels(labels), " ", FormatMetricValue(snapshot.sum),
                          "\n");
          absl::StrAppend(&out, name, "_count", FormatLabels(labels), " ",
                          snapshot.cumulative_counts.back(), "\n");
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace fedrelay
