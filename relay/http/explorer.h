// The log explorer: a small single-page app that lets anyone audit the relay's
// log from a browser, plus the two public JSON endpoints that feed it
// (docs/explorer.md):
//
//   GET /, /explorer              the page (index.html)
//   GET /explorer/<file>          its script and style sheet; any other path
//                                 under /explorer/ is the page again (app routes)
//   GET /v1/log/entries?start=&end=   decoded entries [start, end) as proto3 JSON,
//                                 at most kMaxExplorerEntries per request
//   GET /v1/log/summary           version, verifier key, peers and what each
//                                 may ban, log size and a growth curve
//
// The page trusts the server for nothing it checks: it verifies the checkpoint's
// note signature against a key the visitor pins, and an entry's inclusion from
// the raw entry bundle and hash tiles (GET /tile/...), in the browser. The JSON
// endpoints are display data only. They need no credential: the log holds no
// secrets, and a DM invite's token is cleared again before it is shown.
//
// Thread-safety: the handlers only read `store` and `federation`, which must
// outlive the server's Stop().
#ifndef FEDRELAY_RELAY_HTTP_EXPLORER_H_
#define FEDRELAY_RELAY_HTTP_EXPLORER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "relay/http/http_server.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// The most entries one GET /v1/log/entries returns; a wider range is cut short
// and the reply's `end` says where it stopped.
inline constexpr uint64_t kMaxExplorerEntries = 100;
// The most points of the log's growth curve in GET /v1/log/summary.
inline constexpr uint64_t kGrowthPoints = 24;

struct ExplorerInfo {
  std::string version;
  std::string server_id;
  std::string origin;        // relay.origin: the checkpoint's origin line
  std::string verifier_key;  // C2SP note verifier key of the relay
  std::string relay_pubkey_hex;
};

void RegisterExplorerEndpoints(HttpServer& server, const store::LogStore& store,
                               const federation::Federation& federation, ExplorerInfo info);

// A log entry as the explorer's JSON shows it: the proto3 JSON mapping
// (lowerCamelCase names, 64-bit integers as decimal strings) except that
// `bytes` fields are lowercase hex, as every signature in the relay's JSON; a
// DM invite's `token` is never included.
absl::StatusOr<std::string> LogEntryToExplorerJson(v1::LogEntry entry);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_EXPLORER_H_
