// Authentication of downstream calls (SPEC section 4): a peer's Call signature
// or an API key, turned into the Principal whose cursor, filters and
// visibility the delivery code works with.
//
//   authorization: Bearer <api key>                         -> "key:<key id>"
//   x-fedrelay-origin / x-fedrelay-timestamp / x-fedrelay-signature
//     (hex Ed25519 by the origin's pinned key over
//      SB("Call", origin, this relay's server_id, method, timestamp))  -> "peer:<origin>"
//
// When an authorization header is present it decides alone (a bad key is not
// rescued by a signature). Everything that does not authenticate is
// kUnauthenticated, with a detail that never echoes the credential.
//
// Thread-safety: Authenticate is thread-safe.
#ifndef FEDRELAY_RELAY_AUTH_DOWNSTREAM_AUTH_H_
#define FEDRELAY_RELAY_AUTH_DOWNSTREAM_AUTH_H_

#include <cstdint>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "federation/federation.h"
#include "federation/signing.h"
#include "relay/auth/api_keys.h"

namespace fedrelay::relay {

// Full gRPC method paths, the `method` field of a Call signature.
using federation::kAcknowledgeMethod;
using federation::kSubscribeMethod;

// An authenticated downstream consumer.
struct Principal {
  std::string identity;        // "peer:<server_id>" or "key:<key id>": names its durable cursor
  std::string peer_server_id;  // set for a peer
  std::string key_id;          // set for an API key
  bool full_access = false;    // an API key with scope rest.full

  bool is_peer() const { return !peer_server_id.empty(); }
};

// The credential-bearing request headers, whatever the transport. A header
// that appears more than once is recorded as ambiguous.
struct DownstreamCredentials {
  std::optional<std::string> authorization;
  std::optional<std::string> origin;
  std::optional<std::string> timestamp;
  std::optional<std::string> signature;
  bool ambiguous = false;

  static DownstreamCredentials FromGrpc(const grpc::CallbackServerContext& context);
};

class DownstreamAuthenticator {
 public:
  struct Options {
    std::string server_id;  // this relay's id: the Call signature's destination
    uint64_t max_clock_skew_ms = 300000;
    const Clock* clock = &SystemClock();
  };
  // Both pointers must outlive the authenticator.
  DownstreamAuthenticator(const federation::Federation* federation, const ApiKeys* api_keys,
                          Options options);

  absl::StatusOr<Principal> Authenticate(const DownstreamCredentials& credentials,
                                         absl::string_view method) const;

 private:
  absl::StatusOr<Principal> AuthenticateKey(absl::string_view authorization) const;
  absl::StatusOr<Principal> AuthenticateCall(const DownstreamCredentials& credentials,
                                             absl::string_view method) const;

  const federation::Federation* const federation_;
  const ApiKeys* const api_keys_;
  const Options options_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_AUTH_DOWNSTREAM_AUTH_H_
