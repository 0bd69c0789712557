// The end-to-end benchmark's smoke run (what CI runs of fedrelay-bench): with
// tiny sizes it must start fedrelayd, drive every workload over gRPC and print
// every row of docs/benchmarks.md's end-to-end table, all measured.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "relay/relay_fixture_util.h"
#include "common/temp_dir.h"

namespace fedrelay::testing {
namespace {

const std::vector<std::string> kTinySizes = {
    "--seconds", "0.2", "--requests", "200", "--unary-requests", "100", "--burst", "200",
    "--mixed-users", "40", "--fanout-requests", "100", "--stalled-subscribers", "2",
    "--idle-subscribers", "10", "--idle-connections", "20"};

TEST(BenchEndToEndTest, SmokeRunPrintsEveryRowMeasured) {
  TempDir scratch("fedrelay-bench-test-");
  std::vector<std::string> argv = {BinaryPath("tools/fedrelay-bench"), "--e2e", "--json", "--dir",
                                   scratch.path() + "/run"};
  argv.insert(argv.end(), kTinySizes.begin(), kTinySizes.end());
  const ToolResult result = RunTool(argv, scratch.path());
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  const auto doc = nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << result.out;
  EXPECT_GE(doc.value("cores", 0), 1);

  std::set<std::string> seen;
  for (const auto& row : doc.at("rows")) {
    const std::string id = row.at("id").get<std::string>();
    seen.insert(id);
    EXPECT_TRUE(row.at("ok").get<bool>()) << id << ": " << row.at("note").get<std::string>();
    // Latencies may be 0 ms (a delivery can beat its receipt); everything else is positive.
    if (row.at("unit").get<std::string>() != "ms") {
      EXPECT_GT(row.at("value").get<double>(), 0) << id;
    }
  }
  const std::set<std::string> expected = {
      "A_verify",           "B_ping",           "submit_1_stream",      "submit_4_streams",
      "submit_8_streams",   "federate_16_callers", "federate_32_callers", "burst_receipt_p50",
      "burst_receipt_p99",  "mixed_workload",   "fanout_p99",           "fanout_p99_stalled",
      "fanout_ingest_stalled", "rss_idle_subscribers", "rss_idle_connections", "audit_data_dir",
      "restart_ready",      "restart_rss"};
  EXPECT_EQ(seen, expected);
  // The ingest rows are reported against baseline A, the unary ones against B.
  for (const auto& row : doc.at("rows")) {
    const std::string id = row.at("id").get<std::string>();
    if (id.rfind("submit_", 0) == 0 || id == "mixed_workload" || id == "audit_data_dir") {
      EXPECT_EQ(row.at("ratio_to"), "A") << id;
      EXPECT_GT(row.at("ratio").get<double>(), 0) << id;
    }
    if (id.rfind("federate_", 0) == 0) {
      EXPECT_EQ(row.at("ratio_to"), "B") << id;
    }
  }
  // The scratch directory is the caller's: the run leaves its data there.
  EXPECT_TRUE(std::filesystem::exists(scratch.path() + "/run/data"));
}

TEST(BenchEndToEndTest, UsageErrorsExitTwo) {
  TempDir scratch("fedrelay-bench-test-");
  const ToolResult unknown =
      RunTool({BinaryPath("tools/fedrelay-bench"), "--e2e", "--no-such-flag"}, scratch.path());
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  const ToolResult zero = RunTool({BinaryPath("tools/fedrelay-bench"), "--e2e", "--requests", "0"}, scratch.path());
  EXPECT_EQ(zero.exit_code, 2) << zero.err;
  const ToolResult help = RunTool({BinaryPath("tools/fedrelay-bench"), "--e2e", "--help"}, scratch.path());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--idle-connections"), std::string::npos);
  const ToolResult group =
      RunTool({BinaryPath("tools/fedrelay-bench"), "--e2e", "--only", "federate,nonsense"}, scratch.path());
  EXPECT_EQ(group.exit_code, 2) << group.err;
  EXPECT_NE(group.err.find("nonsense"), std::string::npos) << group.err;
}

// --only runs the baselines and the groups named, nothing else.
TEST(BenchEndToEndTest, OnlyRunsTheGroupsNamed) {
  TempDir scratch("fedrelay-bench-test-");
  std::vector<std::string> argv = {BinaryPath("tools/fedrelay-bench"), "--e2e", "--json", "--only",
                                   "federate,audit"};
  argv.insert(argv.end(), kTinySizes.begin(), kTinySizes.end());
  const ToolResult result = RunTool(argv, scratch.path());
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  const auto doc = nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << result.out;
  std::set<std::string> seen;
  for (const auto& row : doc.at("rows")) seen.insert(row.at("id").get<std::string>());
  EXPECT_EQ(seen, (std::set<std::string>{"A_verify", "B_ping", "federate_16_callers",
                                         "federate_32_callers", "audit_data_dir"}));
}

}  // namespace
}  // namespace fedrelay::testing
