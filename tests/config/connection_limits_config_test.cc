// The http.* and grpc.* connection limits (docs/configuration.md,
// docs/security.md): defaults, and each key at its edges.

#include <string>

#include "config/config.h"
#include "config/required_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedrelay::config {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Config> WithSection(const std::string& section, const std::string& line) {
  return ParseConfig(std::string(kRequiredYaml) + section + ":\n  " + line + "\n", "limits.yaml");
}

TEST(ConnectionLimitsConfigTest, DefaultsMatchTheDocsAndTheHeader) {
  auto config = ParseConfig(kRequiredYaml, "limits.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config defaults;
  EXPECT_EQ(config->http_max_connections, 10000u);
  EXPECT_EQ(config->http_header_timeout_ms, 10000u);
  EXPECT_EQ(config->http_idle_timeout_ms, 60000u);
  EXPECT_EQ(config->grpc_max_concurrent_streams, 1000u);
  EXPECT_EQ(config->grpc_handshake_timeout_ms, 10000u);
  EXPECT_EQ(config->http_max_connections, defaults.http_max_connections);
  EXPECT_EQ(config->http_header_timeout_ms, defaults.http_header_timeout_ms);
  EXPECT_EQ(config->http_idle_timeout_ms, defaults.http_idle_timeout_ms);
  EXPECT_EQ(config->grpc_max_concurrent_streams, defaults.grpc_max_concurrent_streams);
  EXPECT_EQ(config->grpc_handshake_timeout_ms, defaults.grpc_handshake_timeout_ms);
}

TEST(ConnectionLimitsConfigTest, EachKeyIsReadAtItsEdgesAndRefusedBeyond) {
  struct Edge {
    const char* section;
    const char* key;
    const char* lowest;
    const char* highest;
    const char* below;
    const char* above;  // nullptr: no maximum short of the 100-year duration cap
    uint64_t Config::*field;
  };
  const Edge edges[] = {
      {"http", "max_connections", "1", "1000000", "0", "1000001", &Config::http_max_connections},
      {"http", "header_timeout_ms", "100", "3153600000000", "99", "3153600000001",
       &Config::http_header_timeout_ms},
      {"http", "idle_timeout_ms", "100", "3153600000000", "99", "3153600000001",
       &Config::http_idle_timeout_ms},
      {"grpc", "max_concurrent_streams", "1", "2147483647", "0", "2147483648",
       &Config::grpc_max_concurrent_streams},
      {"grpc", "handshake_timeout_ms", "100", "2147483647", "99", "2147483648",
       &Config::grpc_handshake_timeout_ms},
  };
  for (const Edge& edge : edges) {
    const std::string key = std::string(edge.section) + "." + edge.key;
    for (const char* value : {edge.lowest, edge.highest}) {
      auto config = WithSection(edge.section, std::string(edge.key) + ": " + value);
      ASSERT_TRUE(config.ok()) << key << " = " << value << ": " << config.status();
      EXPECT_EQ(std::to_string((*config).*edge.field), value) << key;
    }
    for (const char* value : {edge.below, edge.above, "-1", "1.5", "ten"}) {
      auto refused = WithSection(edge.section, std::string(edge.key) + ": " + value);
      ASSERT_FALSE(refused.ok()) << key << " = " << value;
      EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(refused.status().message()), HasSubstr("limits.yaml:10: " + key)) << value;
    }
  }
}

}  // namespace
}  // namespace fedrelay::config
