#include "relay/http/explorer.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "relay/http/explorer_assets.h"

namespace fedrelay::relay {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

// The page's own origin is all it may talk to, and nothing inline runs: a
// script injected through a log entry's text has nowhere to execute.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
// The page is the code that does the verifying: browsers revalidate it on every
// load (ETag), so an upgraded relay never runs against a stale script.
constexpr char kRevalidate[] = "no-cache";
constexpr char kIndexFile[] = "index.html";

std::string ContentTypeFor(absl::string_view name) {
  if (absl::EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (absl::EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

struct StaticFile {
  std::string content_type;
  std::string etag;
  absl::string_view bytes;
};

class StaticFiles {
 public:
  StaticFiles() {
    for (const EmbeddedAsset& asset : ExplorerAssets()) {
      files_.emplace(std::string(asset.name),
                     StaticFile{ContentTypeFor(asset.name),
                                absl::StrCat("\"", HexEncode(Sha256(asset.bytes)).substr(0, 24), "\""),
                                asset.bytes});
    }
  }

  const StaticFile* Find(absl::string_view name) const {
    const auto it = files_.find(std::string(name));
    return it == files_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, StaticFile> files_;
};

bool ETagMatches(const HttpRequest& request, const std::string& etag) {
  const auto if_none_match = request.Header("If-None-Match");
  if (!if_none_match.has_value()) return false;
  return absl::StrContains(*if_none_match, etag) || absl::StripAsciiWhitespace(*if_none_match) == "*";
}

HttpResponse ServeFile(const StaticFile& file, const HttpRequest& request) {
  HttpResponse response;
  response.content_type = file.content_type;
  if (ETagMatches(request, file.etag)) {
    response.status = 304;
  } else {
    response.body = std::string(file.bytes);
  }
  response.headers = {
      {"Cache-Control", kRevalidate},
      {"ETag", file.etag},
      {"Content-Security-Policy", kContentSecurityPolicy},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
  };
  return response;
}

// /explorer/<name>: an embedded file by name; any other path without a file
// extension is one of the app's own routes (e.g. /explorer/entry/7) and gets
// the page, which reads its path; a missing file is 404.
absl::StatusOr<HttpResponse> ServeExplorerPath(const StaticFiles& files, const HttpRequest& request) {
  absl::string_view rest = request.path;
  rest.remove_prefix(std::string_view("/explorer/").size());
  if (rest.find('/') == absl::string_view::npos && !rest.empty()) {
    if (const StaticFile* file = files.Find(rest)) return ServeFile(*file, request);
  }
  const size_t last_slash = rest.rfind('/');
  const absl::string_view last = last_slash == absl::string_view::npos ? rest : rest.substr(last_slash + 1);
  if (absl::StrContains(last, '.')) {
    return MakeError(ErrorCode::kNotFound, absl::StrCat("no explorer file ", std::string(rest)));
  }
  return ServeFile(*files.Find(kIndexFile), request);
}

// Rewrites the base64 of every `bytes` field in `value` (the proto3 JSON of a
// `descriptor` message) to lowercase hex.
absl::Status BytesToHex(const Descriptor& descriptor, json& value) {
  if (!value.is_object()) return absl::OkStatus();  // well-known types (Timestamp) are strings
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    const auto it = value.find(field.json_name());
    if (it == value.end() || field.is_map()) continue;
    auto convert = [&field](json& element) -> absl::Status {
      if (field.type() == FieldDescriptor::TYPE_BYTES && element.is_string()) {
        ASSIGN_OR_RETURN(const std::string raw, Base64Decode(element.get<std::string>()));
        element = HexEncode(raw);
      } else if (field.type() == FieldDescriptor::TYPE_MESSAGE) {
        RETURN_IF_ERROR(BytesToHex(*field.message_type(), element));
      }
      return absl::OkStatus();
    };
    if (field.is_repeated() && it->is_array()) {
      for (json& element : *it) RETURN_IF_ERROR(convert(element));
    } else {
      RETURN_IF_ERROR(convert(*it));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> EntryJson(v1::LogEntry entry) {
  // The log already holds invites without their token; clearing it here too
  // means no path through this page can ever show one.
  if (entry.has_dm_invite()) entry.mutable_dm_invite()->clear_token();
  for (v1::StreamResponse& event : *entry.mutable_events()) {
    if (event.has_dm_invite()) event.mutable_dm_invite()->clear_token();
  }
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  if (const auto status = google::protobuf::util::MessageToJsonString(entry, &text, options); !status.ok()) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("cannot render entry as JSON: ", status.ToString()));
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return MakeError(ErrorCode::kInternal, "entry JSON does not parse");
  if (const absl::Status status = BytesToHex(*v1::LogEntry::descriptor(), value); !status.ok()) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("entry JSON has bad base64: ", status.ToString()));
  }
  return value;
}

absl::StatusOr<v1::LogEntry> ReadEntry(const store::LogStore& store, uint64_t index) {
  ASSIGN_OR_RETURN(const std::string leaf, store.GetLeaf(index));
  v1::LogEntry entry;
  if (!entry.ParseFromString(leaf)) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("leaf ", index, " is not a LogEntry"));
  }
  return entry;
}

absl::StatusOr<uint64_t> RequiredIndex(const HttpRequest& request, const std::string& name) {
  const auto it = request.query.find(name);
  if (it == request.query.end()) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("query parameter `", name, "` is required"));
  }
  const std::optional<uint64_t> value = ParseDecimalU64(it->second);
  if (!value.has_value()) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("`", name, "` must be a decimal leaf index"));
  }
  return *value;
}

absl::StatusOr<HttpResponse> ServeEntries(const store::LogStore& store, const HttpRequest& request) {
  ASSIGN_OR_RETURN(const uint64_t start, RequiredIndex(request, "start"));
  ASSIGN_OR_RETURN(uint64_t end, RequiredIndex(request, "end"));
  if (start >= end) return MakeError(ErrorCode::kMalformed, "`start` must be below `end`");
  const uint64_t size = store.Size();
  if (start >= size) {
    return MakeError(ErrorCode::kNotFound, absl::StrCat("start ", start, " is not below the log size ", size));
  }
  end = std::min({end, size, start + kMaxExplorerEntries});

  json entries = json::array();
  absl::Status failure;
  RETURN_IF_ERROR(store.ScanLeaves(start, end, [&](uint64_t index, absl::string_view leaf) {
    v1::LogEntry entry;
    if (!entry.ParseFromArray(leaf.data(), static_cast<int>(leaf.size()))) {
      failure = MakeError(ErrorCode::kInternal, absl::StrCat("leaf ", index, " is not a LogEntry"));
      return false;
    }
    auto value = EntryJson(std::move(entry));
    if (!value.ok()) {
      failure = value.status();
      return false;
    }
    entries.push_back(std::move(*value));
    return true;
  }));
  RETURN_IF_ERROR(failure);
  const json body = {{"treeSize", size}, {"start", start}, {"end", end}, {"entries", std::move(entries)}};
  HttpResponse response = HttpResponse::Json(body.dump(-1, ' ', false, json::error_handler_t::replace));
  response.headers.emplace_back("Cache-Control", "no-cache");
  return response;
}

// Up to kGrowthPoints (size, received_at) pairs spread evenly over the log: its
// growth curve from a handful of point reads, whatever its length.
absl::StatusOr<json> GrowthCurve(const store::LogStore& store, uint64_t size) {
  json points = json::array();
  uint64_t previous = 0;
  for (uint64_t step = 1; step <= kGrowthPoints && size > 0; ++step) {
    // floor(size * step / kGrowthPoints) without overflowing.
    const uint64_t tree_size =
        std::max<uint64_t>(1, size / kGrowthPoints * step + size % kGrowthPoints * step / kGrowthPoints);
    if (tree_size == previous) continue;
    previous = tree_size;
    ASSIGN_OR_RETURN(const v1::LogEntry entry, ReadEntry(store, tree_size - 1));
    points.push_back({{"treeSize", tree_size}, {"time", entry.received_at()}});
  }
  return points;
}

absl::StatusOr<HttpResponse> ServeSummary(const store::LogStore& store, const federation::Federation& federation,
                                          const ExplorerInfo& info) {
  const uint64_t size = store.Size();
  json peers = json::array();
  std::vector<federation::PeerInfo> known = federation.Peers();
  std::sort(known.begin(), known.end(),
            [](const auto& a, const auto& b) { return a.server_id < b.server_id; });
  for (const federation::PeerInfo& peer : known) {
    peers.push_back({{"serverId", peer.server_id}, {"pubkey", peer.pubkey_hex}, {"mayBan", peer.may_ban}});
  }
  ASSIGN_OR_RETURN(json growth, GrowthCurve(store, size));
  const auto checkpoint = store.LatestCheckpoint();
  const json body = {
      {"version", info.version},
      {"serverId", info.server_id},
      {"origin", info.origin},
      {"verifierKey", info.verifier_key},
      {"relayPubkey", info.relay_pubkey_hex},
      {"treeSize", size},
      {"checkpointSize", checkpoint.has_value() ? checkpoint->tree_size : 0},
      {"peers", std::move(peers)},
      {"growth", std::move(growth)},
  };
  HttpResponse response = HttpResponse::Json(body.dump(-1, ' ', false, json::error_handler_t::replace));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace

absl::StatusOr<std::string> LogEntryToExplorerJson(v1::LogEntry entry) {
  ASSIGN_OR_RETURN(const json value, EntryJson(std::move(entry)));
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void RegisterExplorerEndpoints(HttpServer& server, const store::LogStore& store,
                               const federation::Federation& federation, ExplorerInfo info) {
  auto files = std::make_shared<const StaticFiles>();
  for (const char* page : {"/", "/explorer"}) {
    server.Handle("GET", page, [files](const HttpRequest& request) {
      return ServeFile(*files->Find(kIndexFile), request);
    });
  }
  server.HandlePrefix("GET", "/explorer/", [files](const HttpRequest& request) {
    return ServeExplorerPath(*files, request);
  });
  server.Handle("GET", "/v1/log/entries",
                [&store](const HttpRequest& request) { return ServeEntries(store, request); });
  server.Handle("GET", "/v1/log/summary",
                [&store, &federation, info = std::move(info)](const HttpRequest&) {
                  return ServeSummary(store, federation, info);
                });
}

}  // namespace fedrelay::relay
