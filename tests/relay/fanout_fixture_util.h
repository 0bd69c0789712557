// Starts the real fedrelay-fanout binary on loopback ephemeral ports for the
// scale-out tests (docs/scale-out.md), following a RelayProcess's stream;
// the process handling (start, ready file, stop, kill, restart) is DaemonProcess's.
#ifndef FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_
#define FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
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

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_FANOUT_FIXTURE_UTIL_H_
