// The log's public HTTP endpoints (SPEC sections 6 and 7) and the operational
// ones, registered on the relay's HttpServer:
//
//   GET /checkpoint                latest signed checkpoint note (503 before the first)
//   GET /tile/<L>/<N>[.p/<W>]      C2SP tlog-tiles hash tiles
//   GET /tile/entries/<N>[.p/<W>]  C2SP tlog-tiles entry bundles
//   GET /healthz                   200 while the process serves
//   GET /readyz                    200 when `readiness` is OK, else 503 naming why
//   GET /metrics                   Prometheus text format 0.0.4
//
// The log endpoints need no credential: the log holds no secrets. Full tiles
// never change and are cacheable forever; partial tiles and the checkpoint are
// superseded as the log grows.
//
// Thread-safety: the registered handlers only read `store` and `metrics`,
// which must outlive the server's Stop().
#ifndef FEDRELAY_RELAY_HTTP_LOG_HTTP_H_
#define FEDRELAY_RELAY_HTTP_LOG_HTTP_H_

#include <functional>

#include "absl/status/status.h"
#include "base/metrics.h"
#include "relay/http/http_server.h"
#include "store/log_store.h"

namespace fedrelay::relay {

void RegisterLogEndpoints(HttpServer& server, const store::LogStore& store);

// `readiness` runs on an io thread for each /readyz request, so it must be
// cheap; any error it returns is served as 503 unavailable with its message.
void RegisterHealthEndpoints(HttpServer& server, const MetricsRegistry& metrics,
                             std::function<absl::Status()> readiness);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_LOG_HTTP_H_
