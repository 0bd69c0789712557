// GET /v1/bridge: the messaging bridge's WebSocket (docs/bridge.md). The
// upgrade needs `Authorization: Bearer <api key>` (401 unauthenticated
// otherwise); every frame is then handed to the bridge outbox, which owns the
// protocol. Revoking the key closes the socket at once.
//
// Thread-safety: register before HttpServer::Start(); the handlers run on
// the server's io threads.
#ifndef FEDRELAY_RELAY_HTTP_BRIDGE_WS_H_
#define FEDRELAY_RELAY_HTTP_BRIDGE_WS_H_

#include "relay/auth/api_keys.h"
#include "relay/downstream/bridge_outbox.h"
#include "relay/http/http_server.h"

namespace fedrelay::relay {

inline constexpr char kBridgePath[] = "/v1/bridge";

// `api_keys` and `outbox` must outlive the server. Also registers the
// revocation listener that closes a revoked key's bridge.
void RegisterBridgeEndpoint(HttpServer& server, ApiKeys& api_keys, BridgeOutbox& outbox);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_BRIDGE_WS_H_
