#include "relay/http/log_http.h"

#include <string>
#include <utility>

#include "base/errors.h"
#include "base/status_macros.h"
#include "store/tiles.h"

namespace fedrelay::relay {
namespace {

constexpr char kImmutable[] = "public, max-age=31536000, immutable";
// A partial tile is replaced by a wider one as the log grows.
constexpr char kShortLived[] = "public, max-age=10";

absl::StatusOr<HttpResponse> ServeCheckpoint(const store::LogStore& store) {
  const auto checkpoint = store.LatestCheckpoint();
  if (!checkpoint.has_value()) return MakeError(ErrorCode::kUnavailable, "no checkpoint has been published yet");
  HttpResponse response = HttpResponse::Text(checkpoint->note);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

absl::StatusOr<HttpResponse> ServeTile(const store::LogStore& store, const HttpRequest& request) {
  absl::string_view path = request.path;
  path.remove_prefix(1);  // the route guarantees the leading '/'
  ASSIGN_OR_RETURN(const store::TilePath tile, store::ParseTilePath(path));
  ASSIGN_OR_RETURN(std::string bytes, tile.entries ? store.ReadEntryBundle(tile.index, tile.width)
                                                   : store.ReadTile(tile.level, tile.index, tile.width));
  HttpResponse response;
  response.content_type = "application/octet-stream";
  response.body = std::move(bytes);
  response.headers.emplace_back("Cache-Control",
                                tile.width == store::kFullTileWidth ? kImmutable : kShortLived);
  return response;
}

}  // namespace

void RegisterLogEndpoints(HttpServer& server, const store::LogStore& store) {
  server.Handle("GET", "/checkpoint", [&store](const HttpRequest&) { return ServeCheckpoint(store); });
  server.HandlePrefix("GET", "/tile/",
                      [&store](const HttpRequest& request) { return ServeTile(store, request); });
}

void RegisterHealthEndpoints(HttpServer& server, const MetricsRegistry& metrics,
                             std::function<absl::Status()> readiness) {
  server.Handle("GET", "/healthz", [](const HttpRequest&) {
    HttpResponse response = HttpResponse::Json(R"({"status":"ok"})");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  });
  server.Handle("GET", "/readyz",
                [readiness = std::move(readiness)](const HttpRequest&) -> absl::StatusOr<HttpResponse> {
                  if (const absl::Status status = readiness(); !status.ok()) {
                    return MakeError(ErrorCode::kUnavailable, HumanMessage(status));
                  }
                  HttpResponse response = HttpResponse::Json(R"({"status":"ready"})");
                  response.headers.emplace_back("Cache-Control", "no-store");
                  return response;
                });
  server.Handle("GET", "/metrics", [&metrics](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text(metrics.RenderText());
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return response;
  });
}

}  // namespace fedrelay::relay
