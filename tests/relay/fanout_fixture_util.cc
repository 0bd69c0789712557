#include "relay/fanout_fixture_util.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace fedrelay::testing {

absl::StatusOr<std::unique_ptr<FanoutProcess>> FanoutProcess::Start(const std::string& dir,
                                                                    const std::string& nats_url) {
  std::unique_ptr<FanoutProcess> node(new FanoutProcess());
  std::filesystem::create_directories(dir);
  node->name_ = "fedrelay-fanout";
  node->ready_path_ = dir + "/ready.json";
  node->log_path_ = dir + "/fedrelay-fanout.log";
  node->argv_ = {BinaryPath("fanout/fedrelay-fanout"),
                 "--nats-url", nats_url,
                 "--relay-pubkey", TestKey("relay").PublicKeyHex(),
                 "--server-id", "relay.example",
                 "--origin", "relay.example/log",
                 "--data-dir", dir + "/data",
                 "--ready-file", node->ready_path_};
  if (auto status = node->Launch(); !status.ok()) return status;
  return node;
}

void FanoutClusterTest::SetUp() {
  FEDRELAY_REQUIRE_NATS_SERVER();
  auto nats = NatsServer::Start(dir_.path());
  ASSERT_TRUE(nats.ok()) << nats.status();
  nats_ = std::move(*nats);
  RelayProcess::Options options;
  options.extra_yaml = absl::StrCat("bus:\n  nats_url: ", nats_->url(), "\n", ExtraSequencerYaml());
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  sequencer_ = std::move(*relay);
}

std::unique_ptr<FanoutProcess> FanoutClusterTest::StartNode(const std::string& name) {
  auto node = FanoutProcess::Start(dir_.path() + "/" + name, nats_->url());
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? std::move(*node) : nullptr;
}

}  // namespace fedrelay::testing
