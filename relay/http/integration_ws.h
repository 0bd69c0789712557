// The integration front door, GET /v1/ws (docs/integrations.md): a WebSocket
// on which a third-party tool says hello, asks the operator for access
// (request_access -> access_pending -> access_granted | access_denied), and,
// with an API key, follows the relay's events as JSON (subscribe, ack, state).
//
// Every frame both ways is a JSON text `{"type": "...", "payload": {...}}`.
// Events come from the same Delivery as gRPC Subscribe (EventSubscriber), so an
// API key sees the same events, in the same order, with the same durable
// cursor; a slow socket holds one frame in flight and falls back to reading
// the log like a slow gRPC stream. Bad frames get an `error` frame with a
// typed code and never close other sockets.
//
// Thread-safety: Register before the server starts; Shutdown once, from any
// thread but an io thread, before the HTTP server stops.
#ifndef FEDRELAY_RELAY_HTTP_INTEGRATION_WS_H_
#define FEDRELAY_RELAY_HTTP_INTEGRATION_WS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "relay/auth/api_keys.h"
#include "relay/downstream/delivery.h"
#include "relay/http/access_requests.h"
#include "relay/http/http_server.h"
#include "store/log_store.h"

namespace fedrelay::relay {

inline constexpr char kIntegrationPath[] = "/v1/ws";

// Whether `client_id` is a slug ("lumia", "mod-bot_2") or a reverse-DNS name
// ("com.example.bot"): 1..128 of [A-Za-z0-9._-], starting and ending with a
// letter or digit, no "..".
bool IsValidClientId(absl::string_view client_id);
// Semantic version MAJOR.MINOR.PATCH with optional -prerelease and +build.
bool IsSemVer(absl::string_view version);

struct IntegrationOptions {
  std::string server_id;  // this relay's id: the channelName of access_granted
  size_t max_frame_bytes = 65536;
  uint64_t hello_timeout_ms = 10000;
  uint64_t idle_timeout_ms = 300000;
  size_t max_sockets_per_address = 16;
};

class IntegrationGateway {
 public:
  struct Deps {
    Delivery* delivery = nullptr;
    ApiKeys* api_keys = nullptr;
    // Null on a fan-out node: request_access is then refused with not_ready.
    AccessRequests* access_requests = nullptr;
    const federation::Federation* federation = nullptr;
    const store::LogStore* store = nullptr;
    // OK when the relay is ready to serve (SPEC: /readyz); else `not_ready`.
    std::function<absl::Status()> readiness;
  };
  // Every dependency must outlive the gateway. Starts the timer thread
  // (hello and idle timeouts, access request expiry).
  IntegrationGateway(Deps deps, IntegrationOptions options);
  ~IntegrationGateway();  // Shutdown()

  void Register(HttpServer& server);
  // What Register installs for kIntegrationPath: a handler per upgrade
  // request. Lets the fuzz target (tests/fuzz/integration_ws_fuzz.cc) drive
  // sessions without sockets.
  WebSocketFactory SocketFactory();

  // Denies pending access requests with not_ready, tells subscribed sockets
  // `not_ready` and closes every socket; stops the timer thread. Idempotent.
  void Shutdown();

  struct Core;  // shared with live sessions; defined in the .cc

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_INTEGRATION_WS_H_
