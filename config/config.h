// The relay's configuration: one YAML file, described key by key in one table
// (config.cc, kKeys) that the loader, `fedrelayd --help-config` and
// docs/configuration.md all follow.
//
// The loader rejects unknown keys, wrong types and bad values with an
// INVALID_ARGUMENT naming the file, line and key, e.g.
//   "fedrelay.yaml:12: federation.max_clock_skew_ms: must be a whole number of milliseconds >= 1000"
// Nothing here throws. All functions are thread-safe (no shared mutable state).
#ifndef FEDRELAY_CONFIG_CONFIG_H_
#define FEDRELAY_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::config {

struct PeerConfig {
  std::string server_id;
  std::string pubkey;                // lowercase hex Ed25519 key
  std::vector<std::string> may_ban;  // "*" or guild ids; empty = may not ban
};

// Per-origin limits, named after chat.proto's ServerSettings. Rates are
// requests per minute per caller (see each key's description in config.cc);
// 0 disables a limit.
struct RateLimits {
  uint32_t max_upload_size = 1 << 20;     // bytes: largest accepted request
  uint32_t message_rate_limit = 6000;     // Federate, PropagateBan, UpdateFederatedProfile, UpdateHomeServer
  uint32_t max_message_length = 4096;     // bytes: longest display name, reason, bio, url, ...
  uint32_t register_rate_limit = 60;      // POST /member/channel/device/register
  uint32_t login_rate_limit = 60;         // POST /member/session
  uint32_t invite_rate_limit = 600;       // ReceiveDMInvite, AcceptDMInvite, RejectDMInvite
  uint32_t discovery_rate_limit = 600;    // GetServerInfo
  uint32_t sync_mailbox_rate_limit = 600; // GET /member/channel/events
  uint32_t ping_rate_limit = 600;         // Ping
};

struct Config {
  // relay
  std::string server_id;  // this relay's id (destination of peer Call signatures)
  std::string origin;     // checkpoint origin line and note signer name
  std::string key_file;   // the relay's Ed25519 key (0600); created on first start if missing
  std::string data_dir;   // RocksDB lives here
  // listen
  std::string grpc_listen;  // host:port, port 0 = ephemeral
  std::string http_listen;  // host:port, port 0 = ephemeral
  // federation
  uint64_t max_clock_skew_ms = 300000;
  std::vector<PeerConfig> peers;
  RateLimits rate_limits;
  // log
  uint64_t checkpoint_interval_ms = 1000;
  uint64_t min_free_bytes = 67108864;  // below it, writes are refused (relay/disk_space.h)
  // integration (WebSocket access requests)
  uint64_t access_request_timeout_ms = 600000;
  uint64_t access_request_cooldown_ms = 30000;
  uint64_t integration_max_frame_bytes = 65536;
  uint64_t integration_hello_timeout_ms = 10000;
  uint64_t integration_idle_timeout_ms = 300000;
  uint64_t integration_max_sockets_per_address = 16;
  // member channel
  uint64_t member_session_ttl_ms = 3600000;
  // messaging bridge (docs/bridge.md)
  uint64_t bridge_retry_base_delay_ms = 1000;
  uint64_t bridge_retry_max_delay_ms = 300000;
  uint64_t bridge_max_attempts = 8;
  uint64_t bridge_resend_after_ms = 60000;
  // scale-out bus (docs/scale-out.md); empty nats_url = no bus
  std::string bus_nats_url;
  std::string bus_stream = "FEDRELAY_LOG";
  std::string bus_subject_prefix = "fedrelay";
  // connection limits (docs/security.md, floods)
  uint64_t http_max_connections = 10000;
  uint64_t http_header_timeout_ms = 10000;
  uint64_t http_idle_timeout_ms = 60000;
  uint64_t grpc_max_concurrent_streams = 1000;
  uint64_t grpc_handshake_timeout_ms = 10000;

  // Where this configuration came from (a path, or "<embedded default>").
  std::string source;
  // Paths in the file are relative to the file's directory; the embedded
  // default's are relative to the working directory.
};

// The embedded default (RocksDB under ./var, generated keys, loopback ports,
// example peers); what `fedrelayd` runs with when given no --config.
absl::string_view EmbeddedDefaultYaml();

absl::StatusOr<Config> LoadConfigFile(const std::string& path);
// `source_name` prefixes error messages (file name or "<embedded default>").
absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name);

// One line per key: name, type, default and description, for --help-config.
std::string DescribeKeys();

}  // namespace fedrelay::config

#endif  // FEDRELAY_CONFIG_CONFIG_H_
