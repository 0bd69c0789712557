// Starts the real fedrelay-fanout binary on loopback ephemeral ports for the
// scale-out tests (docs/scale-out.md), following a RelayProcess's stream;
// the process handling (start, ready file, stop, kill, restart) is DaemonProcess's.
#ifndef FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_
#define FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/temp_dir.h"
#include "gtest/gtest.h"
#include "relay/nats_server_util.h"
#include "relay/relay_fixture_util.h"

namespace fedrelay::testing {

class FanoutProcess : public DaemonProcess {
 public:
  // A node with its own data dir under `dir` following `nats_url`, for the
  // test relay (server id relay.example, origin relay.example/log, TestKey("relay")).
  static absl::StatusOr<std::unique_ptr<FanoutProcess>> Start(const std::string& dir,
                                                              const std::string& nats_url);

 private:
  FanoutProcess() = default;
};

// A fixture with a real nats-server (JetStream, in a temporary directory)
// and the real sequencer on it (fedrelayd with bus.nats_url); fan-out nodes
// start on demand. Skips (fails under CI) without nats-server.
class FanoutClusterTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // More of the sequencer's YAML (top-level blocks other than bus:).
  virtual std::string ExtraSequencerYaml() const { return ""; }
  // A node with its own data dir `name` under the test's directory; nullptr
  // (with a test failure) when it does not start.
  std::unique_ptr<FanoutProcess> StartNode(const std::string& name);

  TempDir dir_{"fedrelay-fanout-"};
  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<RelayProcess> sequencer_;
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_
