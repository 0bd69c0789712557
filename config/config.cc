#include "config/config.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/peer_values.h"
#include "base/status_macros.h"
#include "config/value_checks.h"
#include "config/yaml_guard.h"
#include "yaml-cpp/yaml.h"

namespace fedrelay::config {
namespace {

// What a key holds; decides how its YAML value is parsed and checked.
enum class Kind {
  kServerId,   // DNS-ish relay/peer name, see CheckServerId
  kNoteName,   // C2SP note signer name
  kPath,       // file system path, resolved against the config file's directory
  kHostPort,   // listen address
  kUint32,     // rate limit or size, [min, max]
  kMillis,     // duration in milliseconds, [min, max]
  kPubkey,     // Ed25519 public key, lowercase hex
  kGuildList,  // ["*"] or guild ids
  kPeerList,   // list of maps described by the "peers[]." keys
  kNatsUrl,    // nats://host:port, or "" (off)
  kNatsName,   // JetStream stream name or subject token: [A-Za-z0-9_-]
};

// Where a parsed value goes. kPeerList keys have no target: the loader fills
// Config::peers from the "peers[]." keys.
using Target = std::variant<std::monostate, std::string Config::*, uint64_t Config::*,
                            uint32_t RateLimits::*, std::string PeerConfig::*,
                            std::vector<std::string> PeerConfig::*>;

struct Key {
  absl::string_view name;          // dotted; "peers[]." keys describe one peer entry
  Kind kind;
  absl::string_view default_yaml;  // empty = required
  absl::string_view description;
  Target target;
  uint64_t min = 0;
  uint64_t max = 0;
};

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();
// Durations are added to Unix-millisecond timestamps; 100 years keeps that far
// from overflowing and is more than any sane setting.
constexpr uint64_t kMaxMillis = 100ull * 365 * 24 * 60 * 60 * 1000;
// gRPC takes its message size limit as an int.
constexpr uint64_t kMaxUploadSize = std::numeric_limits<int32_t>::max();
// gRPC takes its channel arguments as ints.
constexpr uint64_t kGrpcIntMax = std::numeric_limits<int32_t>::max();
constexpr absl::string_view kPeerPrefix = "peers[].";

// The single description of every configuration key: the loader, DescribeKeys()
// and docs/configuration.md all follow this table. Defaults must match the
// member initializers in config.h (a test checks).
const Key kKeys[] = {
    {"relay.server_id", Kind::kServerId, "",
     "This relay's id: the destination_server_id peers sign into Call signatures.",
     &Config::server_id},
    {"relay.origin", Kind::kNoteName, "",
     "Checkpoint origin line and note signer name (no spaces, no '+').", &Config::origin},
    {"relay.key_file", Kind::kPath, "",
     "The relay's Ed25519 key file (mode 0600); created if missing only for a new, empty store "
     "(the store remembers its key and refuses another).",
     &Config::key_file},
    {"relay.data_dir", Kind::kPath, "", "Directory holding the relay's RocksDB store (made 0700 at start).",
     &Config::data_dir},
    {"listen.grpc", Kind::kHostPort, "", "gRPC listen address, host:port (port 0 = ephemeral).",
     &Config::grpc_listen},
    {"listen.http", Kind::kHostPort, "",
     "HTTP listen address (checkpoint, tiles, health, metrics), host:port (port 0 = ephemeral).",
     &Config::http_listen},
    {"federation.max_clock_skew_ms", Kind::kMillis, "300000",
     "Largest accepted |now - timestamp| of a signed request (stale_timestamp beyond).",
     &Config::max_clock_skew_ms, 1000, kMaxMillis},
    {"peers", Kind::kPeerList, "[]", "Federation peers whose server keys are pinned.",
     std::monostate{}},
    {"peers[].server_id", Kind::kServerId, "",
     "The peer's server id (origin_server_id of its requests); unique among peers.",
     &PeerConfig::server_id},
    {"peers[].pubkey", Kind::kPubkey, "",
     "The peer's Ed25519 server key, 64 lowercase hex characters.", &PeerConfig::pubkey},
    {"peers[].may_ban", Kind::kGuildList, "[]",
     "Guilds the peer may ban in: [\"*\"] = every guild, [] = none.", &PeerConfig::may_ban},
    {"rate_limits.max_upload_size", Kind::kUint32, "1048576",
     "Largest accepted request in bytes (0 = no limit).", &RateLimits::max_upload_size, 0,
     kMaxUploadSize},
    {"rate_limits.message_rate_limit", Kind::kUint32, "6000",
     "Federate, PropagateBan, UpdateFederatedProfile, UpdateHomeServer per minute per origin server "
     "(per signing user for user-signed kinds) (0 = no limit).",
     &RateLimits::message_rate_limit, 0, kU32Max},
    {"rate_limits.max_message_length", Kind::kUint32, "4096",
     "Longest free text in bytes: display names, ban reason, bio, avatar/host/homeserver urls, "
     "invite token and guild name (0 = no limit). Identifiers (server, guild, invite, device "
     "ids) are bounded by max_upload_size only; a refusal does not count against "
     "message_rate_limit.",
     &RateLimits::max_message_length, 0, kU32Max},
    {"rate_limits.register_rate_limit", Kind::kUint32, "60",
     "POST /member/channel/device/register per minute per user (0 = no limit).",
     &RateLimits::register_rate_limit, 0, kU32Max},
    {"rate_limits.login_rate_limit", Kind::kUint32, "60",
     "POST /member/session per minute per user_id and per client IP address (0 = no limit).",
     &RateLimits::login_rate_limit, 0, kU32Max},
    {"rate_limits.invite_rate_limit", Kind::kUint32, "600",
     "ReceiveDMInvite, AcceptDMInvite, RejectDMInvite per minute per signing user (inviter) or device "
     "(accept/reject) (0 = no limit).",
     &RateLimits::invite_rate_limit, 0, kU32Max},
    {"rate_limits.discovery_rate_limit", Kind::kUint32, "600",
     "GetServerInfo per minute per client connection (0 = no limit).",
     &RateLimits::discovery_rate_limit, 0, kU32Max},
    {"rate_limits.sync_mailbox_rate_limit", Kind::kUint32, "600",
     "GET /member/channel/events per minute per user and device (0 = no limit).",
     &RateLimits::sync_mailbox_rate_limit, 0, kU32Max},
    {"rate_limits.ping_rate_limit", Kind::kUint32, "600",
     "Ping per minute per client connection (0 = no limit).",
     &RateLimits::ping_rate_limit, 0, kU32Max},
    {"log.checkpoint_interval_ms", Kind::kMillis, "1000",
     "Longest time between checkpoints while the log grows.", &Config::checkpoint_interval_ms, 10,
     kMaxMillis},
    {"log.min_free_bytes", Kind::kUint32, "67108864",
     "Free space the data directory's file system must keep: below it new submissions are "
     "refused with unavailable and /readyz answers 503, so the store never writes into a full "
     "disk; writes resume by themselves once space returns (0 = no check).",
     &Config::min_free_bytes, 0, kU32Max},
    {"integration.access_request_timeout_ms", Kind::kMillis, "600000",
     "How long a /v1/ws access request waits for an operator before access_denied timeout.",
     &Config::access_request_timeout_ms, 1000, kMaxMillis},
    {"integration.access_request_cooldown_ms", Kind::kMillis, "30000",
     "After a clientId's access request ends (granted, denied, timed out, abandoned), a new one "
     "from it inside this time is refused with rate_limited (0 = no cooldown).",
     &Config::access_request_cooldown_ms, 0, kMaxMillis},
    {"integration.max_frame_bytes", Kind::kUint32, "65536",
     "Largest /v1/ws frame a client may send (256..1048576); a larger one gets an error frame "
     "bad_request (over 1048576 bytes the socket is closed with code 1009).",
     &Config::integration_max_frame_bytes, 256, 1048576},
    {"integration.hello_timeout_ms", Kind::kMillis, "10000",
     "Time a /v1/ws socket has after the upgrade to send a valid hello before it is closed.",
     &Config::integration_hello_timeout_ms, 100, kMaxMillis},
    {"integration.idle_timeout_ms", Kind::kMillis, "300000",
     "A /v1/ws socket that sends no frame for this long is closed, unless it is subscribed or "
     "waiting for an access decision.",
     &Config::integration_idle_timeout_ms, 100, kMaxMillis},
    {"integration.max_sockets_per_address", Kind::kUint32, "16",
     "Open /v1/ws sockets per client IP address (1..100000); the upgrade beyond is refused with "
     "429 rate_limited.",
     &Config::integration_max_sockets_per_address, 1, 100000},
    {"member.session_ttl_ms", Kind::kMillis, "3600000",
     "Lifetime of a member channel session token (never past its device cert's expiry).",
     &Config::member_session_ttl_ms, 1000,
     kMaxMillis},
    {"bridge.retry_base_delay_ms", Kind::kMillis, "1000",
     "First retry delay of a bridge notification after NO_CONNECTIVITY or GENERIC_FAILURE; each"
     " further failure doubles it (up to bridge.retry_max_delay_ms), jittered down by up to half.",
     &Config::bridge_retry_base_delay_ms, 1, kMaxMillis},
    {"bridge.retry_max_delay_ms", Kind::kMillis, "300000",
     "Longest retry delay of a bridge notification.", &Config::bridge_retry_max_delay_ms, 1,
     kMaxMillis},
    {"bridge.max_attempts", Kind::kUint32, "8",
     "Failures (NO_CONNECTIVITY or GENERIC_FAILURE) after which a bridge notification fails for"
     " good.",
     &Config::bridge_max_attempts, 1, 1000},
    {"bridge.resend_after_ms", Kind::kMillis, "60000",
     "A SendMessage the bridge has not answered after this long is sent again with the same token.",
     &Config::bridge_resend_after_ms, 10, kMaxMillis},
    {"bus.nats_url", Kind::kNatsUrl, "\"\"",
     "NATS server (nats://host:port) whose JetStream gets a copy of every durable entry for "
     "fedrelay-fanout nodes (docs/scale-out.md); \"\" = no bus.",
     &Config::bus_nats_url},
    {"bus.stream", Kind::kNatsName, "FEDRELAY_LOG",
     "JetStream stream holding the log (stream sequence = event_id); its cursors live in the "
     "key-value bucket <stream>_CURSORS.",
     &Config::bus_stream},
    {"bus.subject_prefix", Kind::kNatsName, "fedrelay",
     "Subjects used on the bus: <prefix>.log (entries), <prefix>.tokens (DM invite tokens, for "
     "fan-out nodes only), <prefix>.checkpoint.",
     &Config::bus_subject_prefix},
    {"http.max_connections", Kind::kUint32, "10000",
     "Open HTTP and WebSocket connections served at once (1..1000000); a connection beyond is "
     "answered 503 unavailable at once and closed.",
     &Config::http_max_connections, 1, 1000000},
    {"http.header_timeout_ms", Kind::kMillis, "10000",
     "Time an HTTP request head may take: from the accept for a connection's first request, from "
     "its first byte for later ones; the connection is closed after it (slowloris).",
     &Config::http_header_timeout_ms, 100, kMaxMillis},
    {"http.idle_timeout_ms", Kind::kMillis, "60000",
     "Time a kept-alive HTTP connection may wait before it starts its next request; also the "
     "time a request body and a response may take.",
     &Config::http_idle_timeout_ms, 100, kMaxMillis},
    {"grpc.max_concurrent_streams", Kind::kUint32, "1000",
     "Concurrent gRPC calls (streams) per client connection (1..2147483647); a client's further "
     "calls wait until one ends.",
     &Config::grpc_max_concurrent_streams, 1, kGrpcIntMax},
    {"grpc.handshake_timeout_ms", Kind::kMillis, "10000",
     "Time a new gRPC connection has to open HTTP/2 (its preface and SETTINGS) before it is "
     "closed.",
     &Config::grpc_handshake_timeout_ms, 100, kGrpcIntMax},
};

constexpr absl::string_view kEmbeddedDefault = R"yaml(# fedrelay's embedded default: what `fedrelayd` runs with when given no --config.
# Paths are relative to the working directory. The peers use the well-known
# test keys from tests/vectors (demo only: anyone can sign as them).
relay:
  server_id: relay.example
  origin: relay.example/log
  key_file: var/relay.key
  data_dir: var/data
listen:
  grpc: 127.0.0.1:7443
  http: 127.0.0.1:7480
peers:
  - server_id: alpha.example
    pubkey: 8d28092eaff7c838d2f6da589dba8885800a9f526d50919af38c84849b3061ea
    may_ban: ["*"]
  - server_id: beta.example
    pubkey: 0e21118b3c9ab451c535e3ab4f5f7e8783e04f443d38078bfad60cebdb493321
    may_ban: ["g1"]
)yaml";

bool IsRequired(const Key& key) { return key.default_yaml.empty(); }
bool IsPeerKey(const Key& key) { return absl::StartsWith(key.name, kPeerPrefix); }

const Key* FindKey(absl::string_view name) {
  for (const Key& key : kKeys) {
    if (key.name == name) return &key;
  }
  return nullptr;
}

bool IsSection(absl::string_view name) {
  for (const Key& key : kKeys) {
    if (key.name.size() > name.size() && absl::StartsWith(key.name, name) &&
        key.name[name.size()] == '.') {
      return true;
    }
  }
  return false;
}

// The names allowed directly under `prefix` ("" = top level, "relay.", "peers[]."),
// for the hint on an unknown key.
std::vector<std::string> ChildNames(absl::string_view prefix) {
  std::vector<std::string> names;
  for (const Key& key : kKeys) {
    if (!absl::StartsWith(key.name, prefix)) continue;
    absl::string_view rest = key.name.substr(prefix.size());
    std::string child(rest.substr(0, rest.find('.')));
    if (absl::StrContains(child, '[')) continue;
    if (std::find(names.begin(), names.end(), child) == names.end()) names.push_back(child);
  }
  return names;
}

absl::string_view Parent(absl::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == absl::string_view::npos ? absl::string_view() : name.substr(0, dot);
}

std::string TypeLabel(const Key& key) {
  switch (key.kind) {
    case Kind::kServerId: return "server id";
    case Kind::kNoteName: return "note name";
    case Kind::kPath: return "path";
    case Kind::kHostPort: return "host:port";
    case Kind::kUint32:
      return key.max == kU32Max ? "uint32" : absl::StrCat("uint32 <= ", key.max);
    case Kind::kMillis: return absl::StrCat("ms >= ", key.min);
    case Kind::kPubkey: return "hex key";
    case Kind::kGuildList: return "list of guild ids";
    case Kind::kPeerList: return "list of peers";
    case Kind::kNatsUrl: return "nats url";
    case Kind::kNatsName: return "nats name";
  }
  return "?";
}

// The result of parsing one value; `kind` decides which member is meaningful.
struct Value {
  std::string text;
  uint64_t number = 0;
  std::vector<std::string> list;
  std::vector<PeerConfig> peers;
};

// Turns a dotted key and a problem into the one error format of this file.
class Context {
 public:
  Context(std::string source, std::filesystem::path base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  absl::Status Error(const YAML::Mark& mark, absl::string_view key, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", LineOf(mark), ": ",
                                                   key.empty() ? "" : absl::StrCat(key, ": "),
                                                   what));
  }

  static int LineOf(const YAML::Mark& mark) { return mark.line >= 0 ? mark.line + 1 : 1; }

  const std::filesystem::path& base_dir() const { return base_dir_; }

 private:
  std::string source_;
  std::filesystem::path base_dir_;  // empty = leave relative paths alone
};

const char* NodeTypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a single value";
    case YAML::NodeType::Null: return "no value";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "something else";
}

std::string Quote(absl::string_view text) { return QuoteValue(text); }

// ---- value checks: config/value_checks.h; server ids, pubkeys and guild
// lists: base/peer_values.h, shared with the federation core so that
// fedrelay-ctl is held to the same rules ----

// ---- the loader ----

// One key/value pair found in the document.
struct Found {
  YAML::Node value;
  std::string display;  // the dotted key as shown in errors, e.g. "peers[2].pubkey"
  YAML::Mark key_mark;  // a missing value has no useful mark of its own
};

class Loader {
 public:
  explicit Loader(const Context& ctx) : ctx_(ctx) {}

  absl::Status LoadRoot(const YAML::Node& root, Config& config) {
    std::map<std::string, Found> found;
    std::map<std::string, YAML::Mark> sections;
    RETURN_IF_ERROR(WalkMap(root, "", "", found, sections));
    const YAML::Mark fallback = root.IsNull() ? YAML::Mark::null_mark() : root.Mark();
    return ApplyKeys(/*peer_keys=*/false, found, sections, fallback, "", &config, nullptr);
  }

 private:
  // Records every leaf under `map` into `found`, rejecting unknown and
  // duplicate keys and malformed sections. `table_prefix` is where we are in
  // kKeys ("relay.", "peers[]."), `display_prefix` the same for errors.
  absl::Status WalkMap(const YAML::Node& map, const std::string& table_prefix,
                       const std::string& display_prefix, std::map<std::string, Found>& found,
                       std::map<std::string, YAML::Mark>& sections) {
    if (map.IsNull()) return absl::OkStatus();  // an empty section, e.g. "log:"
    if (!map.IsMap()) {
      absl::string_view section = display_prefix;
      absl::ConsumeSuffix(&section, ".");
      return ctx_.Error(map.Mark(), section,
                        absl::StrCat("expected a map of keys, got ", NodeTypeName(map)));
    }
    std::set<std::string> seen;
    for (const auto& entry : map) {
      const YAML::Node& key_node = entry.first;
      if (!key_node.IsScalar()) {
        return ctx_.Error(key_node.Mark(), display_prefix,
                          "keys must be plain names, not lists or maps");
      }
      const std::string& name = key_node.Scalar();
      const std::string display = display_prefix + name;
      if (!seen.insert(name).second) {
        return ctx_.Error(key_node.Mark(), display, "duplicate key");
      }
      const std::string table_name = table_prefix + name;
      // Dotted or bracketed YAML keys would alias table names ("relay.origin:" at top level).
      const bool plain = name.find_first_of(".[]") == std::string::npos && !name.empty();
      if (plain && FindKey(table_name) != nullptr) {
        found[table_name] = Found{entry.second, display, key_node.Mark()};
      } else if (plain && IsSection(table_name)) {
        sections[table_name] = key_node.Mark();
        RETURN_IF_ERROR(WalkMap(entry.second, table_name + ".", display + ".", found, sections));
      } else {
        return ctx_.Error(key_node.Mark(), display,
                          absl::StrCat("unknown key (expected one of: ",
                                       absl::StrJoin(ChildNames(table_prefix), ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  // Parses every key of the table (top-level keys, or the "peers[]." keys of
  // one peer) from `found`, or applies its default, or reports it missing.
  absl::Status ApplyKeys(bool peer_keys, const std::map<std::string, Found>& found,
                         const std::map<std::string, YAML::Mark>& sections,
                         const YAML::Mark& fallback, const std::string& display_prefix,
                         Config* config, PeerConfig* peer) {
    for (const Key& key : kKeys) {
      if (IsPeerKey(key) != peer_keys) continue;
      Value value;
      auto it = found.find(std::string(key.name));
      if (it != found.end()) {
        ASSIGN_OR_RETURN(value, Parse(key, it->second.value, it->second.display, it->second.key_mark));
      } else if (IsRequired(key)) {
        // Point at the section that lacks the key, or at the entry/document.
        YAML::Mark where = fallback;
        auto section = sections.find(std::string(Parent(key.name)));
        if (section != sections.end()) where = section->second;
        const absl::string_view leaf =
            peer_keys ? key.name.substr(kPeerPrefix.size()) : key.name;
        return ctx_.Error(where, absl::StrCat(display_prefix, leaf), "required key is missing");
      } else {
        ASSIGN_OR_RETURN(value, Parse(key, YAML::Load(std::string(key.default_yaml)),
                                      absl::StrCat(key.name, " (default)"), YAML::Mark()));
      }
      Store(key, std::move(value), config, peer);
    }
    return absl::OkStatus();
  }

  static void Store(const Key& key, Value value, Config* config, PeerConfig* peer) {
    if (auto* f = std::get_if<std::string Config::*>(&key.target)) {
      config->**f = std::move(value.text);
    } else if (auto* f = std::get_if<uint64_t Config::*>(&key.target)) {
      config->**f = value.number;
    } else if (auto* f = std::get_if<uint32_t RateLimits::*>(&key.target)) {
      config->rate_limits.**f = static_cast<uint32_t>(value.number);
    } else if (auto* f = std::get_if<std::string PeerConfig::*>(&key.target)) {
      peer->**f = std::move(value.text);
    } else if (auto* f = std::get_if<std::vector<std::string> PeerConfig::*>(&key.target)) {
      peer->**f = std::move(value.list);
    } else if (key.kind == Kind::kPeerList) {
      config->peers = std::move(value.peers);
    }
  }

  absl::StatusOr<Value> Parse(const Key& key, const YAML::Node& node, const std::string& display,
                              const YAML::Mark& key_mark) {
    Value value;
    switch (key.kind) {
      case Kind::kPeerList:
        return ParsePeers(node, display);
      case Kind::kGuildList:
        return ParseGuildList(node, display);
      default:
        break;
    }
    if (!node.IsScalar()) {
      const char* expected = key.kind == Kind::kUint32 || key.kind == Kind::kMillis
                                 ? "expected a whole number"
                                 : "expected a single value";
      if (node.IsNull()) {
        return ctx_.Error(key_mark, display,
                          absl::StrCat(expected, ", got no value (delete the line to use the "
                                                 "default)"));
      }
      return ctx_.Error(node.Mark(), display, absl::StrCat(expected, ", got ", NodeTypeName(node)));
    }
    const std::string& text = node.Scalar();
    absl::Status check;
    switch (key.kind) {
      case Kind::kServerId: check = CheckServerId(text); break;
      case Kind::kNoteName: check = CheckNoteName(text); break;
      case Kind::kHostPort: check = CheckHostPort(text); break;
      case Kind::kPubkey: check = CheckPeerPubkey(text); break;
      case Kind::kNatsUrl: check = CheckNatsUrl(text); break;
      case Kind::kNatsName: check = CheckNatsName(text); break;
      case Kind::kPath:
        if (text.empty() || text.find('\0') != std::string::npos) {
          check = absl::InvalidArgumentError("must be a non-empty path");
        }
        break;
      case Kind::kUint32:
      case Kind::kMillis: {
        ASSIGN_OR_RETURN(value.number, ParseNumber(key, node, display));
        return value;
      }
      default:
        break;
    }
    if (!check.ok()) return ctx_.Error(node.Mark(), display, check.message());
    value.text = text;
    if (key.kind == Kind::kPath && !ctx_.base_dir().empty()) {
      std::filesystem::path path(text);
      if (path.is_relative()) value.text = (ctx_.base_dir() / path).lexically_normal().string();
    }
    return value;
  }

  absl::StatusOr<uint64_t> ParseNumber(const Key& key, const YAML::Node& node,
                                       const std::string& display) {
    const std::string& text = node.Scalar();
    const std::string unit = key.kind == Kind::kMillis ? " of milliseconds" : "";
    auto digits = [](absl::string_view s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
    };
    if (absl::StartsWith(text, "-") && digits(absl::string_view(text).substr(1))) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat("must not be negative, got ", text));
    }
    if (!digits(text)) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat("expected a whole number", unit, ", got ", Quote(text)));
    }
    uint64_t number = 0;
    if (!absl::SimpleAtoi(text, &number) || number > key.max) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat(text.size() > 30 ? text.substr(0, 30) + "..." : text,
                                     " is out of range: must be at most ", key.max));
    }
    if (number < key.min) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat("must be a whole number", unit, " >= ", key.min, ", got ",
                                     text));
    }
    return number;
  }

  absl::StatusOr<Value> ParseGuildList(const YAML::Node& node, const std::string& display) {
    Value value;
    if (node.IsNull()) return value;
    if (!node.IsSequence()) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat("expected a list such as [\"*\"] or [guild-1, guild-2], got ",
                                     NodeTypeName(node)));
    }
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& item = node[i];
      const std::string item_display = absl::StrCat(display, "[", i, "]");
      if (!item.IsScalar()) {
        return ctx_.Error(item.Mark(), item_display,
                          absl::StrCat("expected a guild id, got ", NodeTypeName(item)));
      }
      const std::string& guild = item.Scalar();
      if (absl::Status check = CheckGuildId(guild); !check.ok()) {
        return ctx_.Error(item.Mark(), item_display, check.message());
      }
      if (std::find(value.list.begin(), value.list.end(), guild) != value.list.end()) {
        return ctx_.Error(item.Mark(), item_display,
                          absl::StrCat("duplicate guild id ", Quote(guild)));
      }
      value.list.push_back(guild);
    }
    // The rest of the rule (e.g. "*" alone), as the federation core applies it.
    if (absl::Status check = CheckGuildList(value.list); !check.ok()) {
      return ctx_.Error(node.Mark(), display, check.message());
    }
    return value;
  }

  absl::StatusOr<Value> ParsePeers(const YAML::Node& node, const std::string& display) {
    Value value;
    if (node.IsNull()) return value;
    if (!node.IsSequence()) {
      return ctx_.Error(node.Mark(), display,
                        absl::StrCat("expected a list of peers (\"- server_id: ...\"), got ",
                                     NodeTypeName(node)));
    }
    std::map<std::string, std::pair<size_t, YAML::Mark>> ids;  // server_id -> first entry
    for (size_t i = 0; i < node.size(); ++i) {
      const YAML::Node& item = node[i];
      const std::string item_display = absl::StrCat(display, "[", i, "]");
      if (!item.IsMap()) {
        return ctx_.Error(item.Mark(), item_display,
                          absl::StrCat("expected a map with server_id, pubkey and may_ban, got ",
                                       NodeTypeName(item)));
      }
      std::map<std::string, Found> found;
      std::map<std::string, YAML::Mark> sections;
      RETURN_IF_ERROR(
          WalkMap(item, std::string(kPeerPrefix), item_display + ".", found, sections));
      PeerConfig peer;
      RETURN_IF_ERROR(ApplyKeys(/*peer_keys=*/true, found, sections, item.Mark(),
                                item_display + ".", nullptr, &peer));
      const YAML::Mark id_mark = found.at("peers[].server_id").value.Mark();
      auto [first, inserted] = ids.emplace(peer.server_id, std::make_pair(i, id_mark));
      if (!inserted) {
        return ctx_.Error(
            id_mark, item_display + ".server_id",
            absl::StrCat("duplicate peer ", Quote(peer.server_id), " (already at ", display, "[",
                         first->second.first, "], line ", Context::LineOf(first->second.second),
                         ")"));
      }
      value.peers.push_back(std::move(peer));
    }
    return value;
  }

  const Context& ctx_;
};

absl::StatusOr<Config> Parse(absl::string_view yaml_text, std::string source,
                             std::filesystem::path base_dir) {
  Context ctx(source, std::move(base_dir));
  try {
    const std::string text(yaml_text);
    const YamlDocuments documents = CountYamlDocuments(text);  // not YAML::LoadAll: see yaml_guard.h
    if (documents.stuck.has_value()) {
      const size_t at = static_cast<size_t>(documents.stuck->pos);
      return ctx.Error(*documents.stuck, "",
                       at < text.size() ? absl::StrCat("YAML syntax error: unexpected '",
                                                       absl::CEscape(text.substr(at, 1)), "'")
                                        : "YAML syntax error");
    }
    if (documents.count > 1) {
      return ctx.Error(documents.second_root, "",
                       "a config file holds one YAML document; found a second one");
    }
    YAML::Node root = documents.count == 0 ? YAML::Node(YAML::NodeType::Null) : YAML::Load(text);
    if (!root.IsNull() && !root.IsMap()) {
      return ctx.Error(root.Mark(), "",
                       absl::StrCat("expected a map of sections (relay:, listen:, ...) at the top "
                                    "level, got ",
                                    NodeTypeName(root)));
    }
    Config config;
    Loader loader(ctx);
    RETURN_IF_ERROR(loader.LoadRoot(root, config));
    config.source = std::move(source);
    return config;
  } catch (const YAML::Exception& e) {
    // ParserException and friends: e.msg is the message without yaml-cpp's own position prefix.
    return ctx.Error(e.mark, "", absl::StrCat("YAML syntax error: ", e.msg));
  } catch (const std::exception& e) {
    return ctx.Error(YAML::Mark::null_mark(), "", absl::StrCat("cannot parse: ", e.what()));
  }
}

}  // namespace

absl::string_view EmbeddedDefaultYaml() { return kEmbeddedDefault; }

absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name) {
  return Parse(yaml_text, std::string(source_name), /*base_dir=*/{});
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a config file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string why = absl::StrCat(path, ": cannot open config file: ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat(path, ": cannot read config file"));
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(path, ": cannot resolve the config file's directory: ", ec.message()));
  }
  return Parse(text.str(), path, absolute.parent_path());
}

std::string DescribeKeys() {
  size_t name_width = 0;
  size_t type_width = 0;
  size_t default_width = 0;
  for (const Key& key : kKeys) {
    name_width = std::max(name_width, key.name.size());
    type_width = std::max(type_width, TypeLabel(key).size());
    default_width = std::max(default_width, IsRequired(key) ? 8 : key.default_yaml.size());
  }
  std::string out;
  for (const Key& key : kKeys) {
    absl::StrAppendFormat(&out, "%-*s  %-*s  %-*s  %s\n", static_cast<int>(name_width),
                          std::string(key.name), static_cast<int>(type_width), TypeLabel(key),
                          static_cast<int>(default_width),
                          IsRequired(key) ? "required" : std::string(key.default_yaml),
                          std::string(key.description));
  }
  return out;
}

}  // namespace fedrelay::config
