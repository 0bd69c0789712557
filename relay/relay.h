// The whole relay in one object: configuration in, listeners out. fedrelayd's
// main() and the integration-test fixtures both start it through here, so a
// test exercises exactly what an operator runs.
//
// Start order: store -> key (relay_key.h) -> federation core -> checkpointer -> delivery ->
// gRPC -> HTTP. Shutdown runs it backwards: listeners close first, in-flight
// submissions finish and are answered, a last checkpoint is published, the
// store closes. Thread-safety: Shutdown() may be called from any thread, once.
#ifndef FEDRELAY_RELAY_RELAY_H_
#define FEDRELAY_RELAY_RELAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/crypto.h"
#include "config/config.h"

namespace fedrelay::relay {

class Relay {
 public:
  static absl::StatusOr<std::unique_ptr<Relay>> Start(const config::Config& config);
  virtual ~Relay() = default;

  virtual int grpc_port() const = 0;
  virtual int http_port() const = 0;
  virtual std::string public_key_hex() const = 0;
  virtual std::string verifier_key() const = 0;

  virtual void Shutdown() = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_RELAY_H_
