#include "relay/fanout_fixture_util.h"

#include <filesystem>

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

}  // namespace fedrelay::testing
