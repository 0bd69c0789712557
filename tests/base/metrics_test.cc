#include "base/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fedrelay {
namespace {

TEST(MetricsTest, RendersSmallRegistryExactly) {
  MetricsRegistry registry;
  registry.GetCounter("fedrelay_rejections_total", "Requests rejected, by machine code.",
                      {{"code", "stale_timestamp"}})
      .Increment(3);
  registry.GetCounter("fedrelay_rejections_total", "Requests rejected, by machine code.",
                      {{"code", "bad_signature"}})
      .Increment();
  registry.GetGauge("fedrelay_subscribers", "Connected subscribers.").Set(2);
  Histogram& latency = registry.GetHistogram("fedrelay_append_seconds", "Append latency.", {0.25, 1, 4},
                                             {{"kind", "ban"}});
  latency.Observe(0.125);
  latency.Observe(0.25);  // bounds are inclusive
  latency.Observe(2);
  latency.Observe(8);
  uint64_t log_size = 41;
  registry.AddCallbackGauge("fedrelay_log_size", "Leaves in the log.",
                            [&log_size] { return static_cast<double>(log_size); });
  log_size = 42;

  EXPECT_EQ(registry.RenderText(),
            "# HELP fedrelay_append_seconds Append latency.\n"
            "# TYPE fedrelay_append_seconds histogram\n"
            "fedrelay_append_seconds_bucket{kind=\"ban\",le=\"0.25\"} 2\n"
            "fedrelay_append_seconds_bucket{kind=\"ban\",le=\"1\"} 2\n"
            "fedrelay_append_seconds_bucket{kind=\"ban\",le=\"4\"} 3\n"
            "fedrelay_append_seconds_bucket{kind=\"ban\",le=\"+Inf\"} 4\n"
            "fedrelay_append_seconds_sum{kind=\"ban\"} 10.375\n"
            "fedrelay_append_seconds_count{kind=\"ban\"} 4\n"
            "# HELP fedrelay_log_size Leaves in the log.\n"
            "# TYPE fedrelay_log_size gauge\n"
            "fedrelay_log_size 42\n"
            "# HELP fedrelay_rejections_total Requests rejected, by machine code.\n"
            "# TYPE fedrelay_rejections_total counter\n"
            "fedrelay_rejections_total{code=\"bad_signature\"} 1\n"
            "fedrelay_rejections_total{code=\"stale_timestamp\"} 3\n"
            "# HELP fedrelay_subscribers Connected subscribers.\n"
            "# TYPE fedrelay_subscribers gauge\n"
            "fedrelay_subscribers 2\n");
}

TEST(MetricsTest, SameLabelsInAnyOrderAreOneChild) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("c_total", "h", {{"x", "1"}, {"y", "2"}});
  Counter& b = registry.GetCounter("c_total", "h", {{"y", "2"}, {"x", "1"}});
  EXPECT_EQ(&a, &b);
  a.Increment();
  b.Increment();
  EXPECT_EQ(registry.RenderText(), "# HELP c_total h\n# TYPE c_total counter\nc_total{x=\"1\",y=\"2\"} 2\n");
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  MetricsRegistry registry;
  registry.GetGauge("g", "line one\nback\\slash \"quoted\"", {{"path", "a\"b\\c\nd"}}).Set(-1.5);
  EXPECT_EQ(registry.RenderText(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"a\\\"b\\\\c\\nd\"} -1.5\n");
}

TEST(MetricsTest, GaugeAddAndSpecialValues) {
  MetricsRegistry registry;
  Gauge& gauge = registry.GetGauge("g", "h");
  gauge.Add(2.5);
  gauge.Add(-1);
  EXPECT_EQ(gauge.Value(), 1.5);
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatMetricValue(1e21), "1e+21");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
}

TEST(MetricsTest, CallbackGaugesAreReplacedAndRemoved) {
  MetricsRegistry registry;
  registry.AddCallbackGauge("size", "h", {{"store", "main"}}, [] { return 7.0; });
  registry.AddCallbackGauge("size", "h", {{"store", "aux"}}, [] { return 1.0; });
  registry.AddCallbackGauge("size", "h", {{"store", "main"}}, [] { return 8.0; });
  EXPECT_EQ(registry.RenderText(),
            "# HELP size h\n# TYPE size gauge\nsize{store=\"aux\"} 1\nsize{store=\"main\"} 8\n");
  registry.GetGauge("size", "h", {{"store", "plain"}}).Set(3);
  registry.RemoveCallbacks("size");
  EXPECT_EQ(registry.RenderText(), "# HELP size h\n# TYPE size gauge\nsize{store=\"plain\"} 3\n");
  registry.RemoveCallbacks("no_such_metric");
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry registry;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&registry] {
      Counter& counter = registry.GetCounter("n_total", "h");
      Histogram& histogram = registry.GetHistogram("h_seconds", "h", {1});
      for (int i = 0; i < 10000; ++i) {
        counter.Increment();
        histogram.Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(registry.GetCounter("n_total", "h").Value(), 40000u);
  const Histogram::Snapshot snapshot = registry.GetHistogram("h_seconds", "h", {1}).Read();
  EXPECT_EQ(snapshot.cumulative_counts.back(), 40000u);
  EXPECT_EQ(snapshot.sum, 20000.0);
}

TEST(MetricsDeathTest, ConflictingRegistrationAborts) {
  MetricsRegistry registry;
  registry.GetCounter("x_total", "h");
  EXPECT_DEATH(registry.GetGauge("x_total", "h"), "registered twice");
  EXPECT_DEATH(registry.GetCounter("bad-name", "h"), "invalid metric name");
  EXPECT_DEATH(registry.GetHistogram("h", "h", {1}, {{"le", "1"}}), "reserved");
}

TEST(MetricsTest, DefaultRegistryIsOneInstance) {
  EXPECT_EQ(&MetricsRegistry::Default(), &MetricsRegistry::Default());
}

}  // namespace
}  // namespace fedrelay
