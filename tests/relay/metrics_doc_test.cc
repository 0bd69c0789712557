// docs/metrics.md and docs/grafana-dashboard.json against the real relay
// (issue 14): after some traffic (accepted and refused submissions, a
// subscriber, integrations), every metric family
// on /metrics is documented with its type, and every metric the dashboard's
// queries use is on /metrics.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using testing::BinaryPath;
using testing::NowMs;
using testing::ReadFile;
using testing::RelayProcess;
using testing::SendUnary;
using testing::TestKey;
using testing::ToolResult;
using json = nlohmann::json;

// Family name -> type, from the "# TYPE" lines of a scrape.
std::map<std::string, std::string> Families(const std::string& exposition) {
  std::map<std::string, std::string> families;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    if (words.size() == 4 && words[0] == "#" && words[1] == "TYPE") families[words[2]] = words[3];
  }
  return families;
}

// The metric name starting at `pos` in `text` ("fedrelay_" then [a-z_]), or "".
// Scanned by hand: std::regex trips GCC 12's -Wmaybe-uninitialized under ASan.
std::string MetricNameAt(const std::string& text, size_t pos) {
  if (text.compare(pos, 9, "fedrelay_") != 0) return "";
  size_t end = pos + 9;
  while (end < text.size() && (absl::ascii_islower(text[end]) || text[end] == '_')) ++end;
  return end == pos + 9 ? "" : text.substr(pos, end - pos);
}

// Metric name -> type, from the tables of docs/metrics.md ("| `name` | type | ...").
std::map<std::string, std::string> Documented(const std::string& markdown) {
  std::map<std::string, std::string> documented;
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(markdown, '\n'))) {
    if (!absl::StartsWith(line, "| `")) continue;
    const std::string name = MetricNameAt(line, 3);
    if (name.empty() || line.compare(3 + name.size(), 4, "` | ") != 0) continue;
    const size_t type_begin = 3 + name.size() + 4;
    const size_t type_end = line.find(" |", type_begin);
    if (type_end == std::string::npos) continue;
    const std::string type = line.substr(type_begin, type_end - type_begin);
    if (type == "counter" || type == "gauge" || type == "histogram") documented[name] = type;
  }
  return documented;
}

// Every metric name in the dashboard's queries.
std::set<std::string> DashboardMetrics(const json& dashboard) {
  std::set<std::string> names;
  for (const json& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const json& target : panel["targets"]) {
      const std::string expr = target["expr"];
      for (size_t pos = expr.find("fedrelay_"); pos != std::string::npos;
           pos = expr.find("fedrelay_", pos + 1)) {
        if (std::string name = MetricNameAt(expr, pos); !name.empty()) names.insert(name);
      }
    }
  }
  return names;
}

class MetricsDocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    keys_ = relay_->dir() + "/keys";
    std::filesystem::create_directories(keys_);
    ASSERT_TRUE(WriteKeyFile(keys_ + "/beta.key", TestKey("server-beta")).ok());
  }
  ToolResult Tool(const std::vector<std::string>& argv) { return testing::RunTool(argv, relay_->dir()); }
  ToolResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir", relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return Tool(argv);
  }
  std::string Http() const { return absl::StrCat("127.0.0.1:", relay_->http_port()); }

  std::unique_ptr<RelayProcess> relay_;
  std::string keys_;
};

TEST_F(MetricsDocTest, EveryMetricIsDocumentedAndEveryDashboardMetricExists) {
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  const uint64_t now = NowMs();
  // Accepted and refused submissions.
  ASSERT_TRUE(SendUnary(*stub, testing::SignedJoin("alpha", "alice", "g1", now)).status.ok());
  ASSERT_FALSE(SendUnary(*stub, testing::SignedJoin("alpha", "alice", "g1", now - 600000)).status.ok());
  // A subscriber (its per-subscriber series stay after it leaves).
  ToolResult subscribed = testing::RunClient(
      *relay_, {"subscribe", "--server-id", "beta.example", "--server-key", keys_ + "/beta.key",
                "--resume", "0", "--count", "1"});
  ASSERT_EQ(subscribed.exit_code, 0) << subscribed.err;
  // An integration whose access request the operator denies, and one refused outright.
  const std::string bot_out = relay_->dir() + "/bot.out";
  const pid_t bot = fork();
  if (bot == 0) {
    std::freopen(bot_out.c_str(), "w", stdout);
    const std::string client = BinaryPath("tools/fedrelay-client");
    execl(client.c_str(), client.c_str(), "integrate", "--client-id", "metrics-bot", "--http",
          Http().c_str(), "--key-file", (relay_->dir() + "/bot.apikey").c_str(), nullptr);
    _exit(127);
  }
  std::string request_id;
  for (int i = 0; i < 400 && request_id.empty(); ++i) {
    const json pending = json::parse(Ctl({"access", "list", "--json"}).out, nullptr, false);
    if (pending.is_object() && !pending["requests"].empty()) request_id = pending["requests"][0]["request_id"];
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_FALSE(request_id.empty()) << ReadFile(bot_out);
  EXPECT_EQ(Ctl({"access", "deny", request_id}).exit_code, 0);
  int status = 0;
  waitpid(bot, &status, 0);
  ToolResult refused = Tool({BinaryPath("tools/fedrelay-client"), "integrate", "--client-id",
                             "Not A Client Id!", "--http", Http(), "--key-file",
                             relay_->dir() + "/refused.apikey"});
  EXPECT_EQ(refused.exit_code, 1) << refused.out;

  const std::string exposition = testing::HttpRequest(relay_->http_port(), "GET", "/metrics").body;
  const std::map<std::string, std::string> families = Families(exposition);
  ASSERT_FALSE(families.empty()) << exposition;
  const std::map<std::string, std::string> documented =
      Documented(ReadFile(std::string(FEDRELAY_SOURCE_DIR) + "/docs/metrics.md"));
  for (const auto& [name, type] : families) {
    auto it = documented.find(name);
    if (it == documented.end()) {
      ADD_FAILURE() << name << " (" << type << ") is on /metrics but not in docs/metrics.md";
    } else {
      EXPECT_EQ(it->second, type) << name << ": docs/metrics.md says " << it->second;
    }
  }
  const json dashboard = json::parse(
      ReadFile(std::string(FEDRELAY_SOURCE_DIR) + "/docs/grafana-dashboard.json"), nullptr, false);
  ASSERT_TRUE(dashboard.is_object()) << "docs/grafana-dashboard.json does not parse";
  const std::set<std::string> used = DashboardMetrics(dashboard);
  EXPECT_GE(used.size(), 15u);
  for (const std::string& name : used) {
    EXPECT_TRUE(families.count(name) == 1) << "the dashboard uses " << name << ", not on /metrics:\n"
                                           << exposition;
    EXPECT_TRUE(documented.count(name) == 1) << name << " is not in docs/metrics.md";
  }
}

}  // namespace
}  // namespace fedrelay
