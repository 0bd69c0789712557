// The bridge.* keys (docs/configuration.md, docs/bridge.md): defaults, limits.

#include "config/config.h"
#include "config/required_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedrelay::config {
namespace {

using ::testing::HasSubstr;

TEST(BridgeConfigTest, DefaultsMatchTheDocsAndTheHeader) {
  auto config = ParseConfig(kRequiredYaml, "bridge.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config defaults;
  EXPECT_EQ(config->bridge_retry_base_delay_ms, 1000u);
  EXPECT_EQ(config->bridge_retry_max_delay_ms, 300000u);
  EXPECT_EQ(config->bridge_max_attempts, 8u);
  EXPECT_EQ(config->bridge_resend_after_ms, 60000u);
  EXPECT_EQ(config->bridge_retry_base_delay_ms, defaults.bridge_retry_base_delay_ms);
  EXPECT_EQ(config->bridge_retry_max_delay_ms, defaults.bridge_retry_max_delay_ms);
  EXPECT_EQ(config->bridge_max_attempts, defaults.bridge_max_attempts);
  EXPECT_EQ(config->bridge_resend_after_ms, defaults.bridge_resend_after_ms);
}

TEST(BridgeConfigTest, ValuesAreReadAndLimitsEnforced) {
  auto config = ParseConfig(std::string(kRequiredYaml) +
                                "bridge:\n  retry_base_delay_ms: 5\n  retry_max_delay_ms: 50\n"
                                "  max_attempts: 1000\n  resend_after_ms: 10\n",
                            "bridge.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bridge_retry_base_delay_ms, 5u);
  EXPECT_EQ(config->bridge_retry_max_delay_ms, 50u);
  EXPECT_EQ(config->bridge_max_attempts, 1000u);
  EXPECT_EQ(config->bridge_resend_after_ms, 10u);
  for (const char* bad : {"max_attempts: 0", "max_attempts: 1001", "resend_after_ms: 9", "retry_base_delay_ms: 0",
                          "retry_max_delay_ms: 0", "max_attempts: many"}) {
    auto refused = ParseConfig(std::string(kRequiredYaml) + "bridge:\n  " + bad + "\n", "bridge.yaml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("bridge.yaml:10: bridge.")) << bad;
  }
}

}  // namespace
}  // namespace fedrelay::config
