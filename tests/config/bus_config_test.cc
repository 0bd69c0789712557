// The bus.* keys (docs/configuration.md, docs/scale-out.md): defaults, value rules.

#include "config/config.h"
#include "config/required_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedrelay::config {
namespace {

using ::testing::HasSubstr;

TEST(BusConfigTest, DefaultIsNoBus) {
  auto config = ParseConfig(kRequiredYaml, "bus.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config defaults;
  EXPECT_EQ(config->bus_nats_url, "");
  EXPECT_EQ(config->bus_stream, "FEDRELAY_LOG");
  EXPECT_EQ(config->bus_subject_prefix, "fedrelay");
  EXPECT_EQ(config->bus_nats_url, defaults.bus_nats_url);
  EXPECT_EQ(config->bus_stream, defaults.bus_stream);
  EXPECT_EQ(config->bus_subject_prefix, defaults.bus_subject_prefix);
}

TEST(BusConfigTest, ValuesAreReadAndRulesEnforced) {
  auto config = ParseConfig(std::string(kRequiredYaml) +
                                "bus:\n  nats_url: nats://127.0.0.1:4222\n  stream: LOG_2\n"
                                "  subject_prefix: relay-a\n",
                            "bus.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bus_nats_url, "nats://127.0.0.1:4222");
  EXPECT_EQ(config->bus_stream, "LOG_2");
  EXPECT_EQ(config->bus_subject_prefix, "relay-a");
  for (const char* bad :
       {"nats_url: 127.0.0.1:4222", "nats_url: nats://127.0.0.1", "nats_url: nats://:4222",
        "nats_url: nats://h:0", "nats_url: nats://h:65536", "nats_url: nats://u:p@h:4222",
        "nats_url: http://h:4222", "stream: a.b", "stream: \"a b\"", "subject_prefix: \"*\"",
        "subject_prefix: \"\"",
        "stream: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    auto refused = ParseConfig(std::string(kRequiredYaml) + "bus:\n  " + bad + "\n", "bus.yaml");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(std::string(refused.status().message()), HasSubstr("bus.yaml:10: bus.")) << bad;
  }
}

}  // namespace
}  // namespace fedrelay::config
