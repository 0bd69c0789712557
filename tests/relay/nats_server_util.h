// Starts a real nats-server with JetStream on 127.0.0.1 for the bus tests
// (docs/scale-out.md), in a directory the caller owns.
#ifndef FEDRELAY_TESTS_RELAY_NATS_SERVER_UTIL_H_
#define FEDRELAY_TESTS_RELAY_NATS_SERVER_UTIL_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fedrelay::testing {

// The nats-server binary ($PATH, then /usr/sbin), or "" when it is not installed.
std::string NatsServerBinary();

// Skips the test when nats-server is missing, unless CI is set (then it fails:
// CI installs it with tools/scripts/deps.sh --test).
#define FEDRELAY_REQUIRE_NATS_SERVER()                                                         \
  do {                                                                                         \
    if (::fedrelay::testing::NatsServerBinary().empty()) {                                     \
      if (std::getenv("CI") != nullptr) {                                                      \
        FAIL() << "nats-server is not installed (tools/scripts/deps.sh --test installs it)";   \
      }                                                                                        \
      GTEST_SKIP() << "nats-server is not installed (tools/scripts/deps.sh --test installs it)"; \
    }                                                                                          \
  } while (0)

class NatsServer {
 public:
  // nats-server -js on 127.0.0.1 with its store under `dir`, on a free port.
  static absl::StatusOr<std::unique_ptr<NatsServer>> Start(const std::string& dir);
  ~NatsServer();  // Kill()s

  // SIGKILL and wait: a crash (JetStream's deferred fsync may lose the newest messages).
  void Kill();
  // Starts it again on the same port and store.
  absl::Status Restart();

  int port() const { return port_; }
  std::string url() const;
  bool running() const { return pid_ > 0; }
  std::string log_text() const;

 private:
  NatsServer() = default;
  absl::Status Launch();

  std::string dir_, log_path_;
  pid_t pid_ = -1;
  int port_ = -1;  // -1: let the server pick one
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_NATS_SERVER_UTIL_H_
