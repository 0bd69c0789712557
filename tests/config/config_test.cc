#include "config/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fedrelay::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

namespace fs = std::filesystem;

constexpr char kAlphaKey[] = "8d28092eaff7c838d2f6da589dba8885800a9f526d50919af38c84849b3061ea";
constexpr char kBetaKey[] = "0e21118b3c9ab451c535e3ab4f5f7e8783e04f443d38078bfad60cebdb493321";

// Every key set, none to its default.
const std::string kFull = absl::StrCat(R"(relay:
  server_id: relay-1.example.org
  origin: relay-1.example.org/log
  key_file: /etc/fedrelay/relay.key
  data_dir: /var/lib/fedrelay
listen:
  grpc: "[::1]:9443"
  http: 0.0.0.0:0
federation:
  max_clock_skew_ms: 120000
peers:
  - server_id: alpha.example
    pubkey: )", kAlphaKey, R"(
    may_ban: ["*"]
  - server_id: beta.example:8443
    pubkey: )", kBetaKey, R"(
    may_ban: [g1, "g2"]
  - server_id: gamma.example
    pubkey: )", kBetaKey, R"(
rate_limits:
  max_upload_size: 2097152
  message_rate_limit: 1
  max_message_length: 2
  register_rate_limit: 3
  login_rate_limit: 4
  invite_rate_limit: 5
  discovery_rate_limit: 6
  sync_mailbox_rate_limit: 7
  ping_rate_limit: 4294967295
log:
  checkpoint_interval_ms: 250
integration:
  access_request_timeout_ms: 30000
member:
  session_ttl_ms: 7200000
)");

// Only the required keys.
constexpr char kMinimal[] = R"(relay:
  server_id: relay.test
  origin: relay.test/log
  key_file: keys/relay.key
  data_dir: ./data/../db
listen:
  grpc: 127.0.0.1:0
  http: localhost:0
)";

std::string Message(const absl::StatusOr<Config>& config) {
  return std::string(config.status().message());
}

// 1-based line of the first line of `text` containing `needle`.
int LineOf(absl::string_view text, absl::string_view needle) {
  int line = 1;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(l, needle)) return line;
    ++line;
  }
  ADD_FAILURE() << "no line contains " << needle;
  return -1;
}

std::string Replace(absl::string_view text, absl::string_view from, absl::string_view to) {
  EXPECT_TRUE(absl::StrContains(text, from)) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::path(::testing::TempDir()) /
            absl::StrCat("config_test_", getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }

  std::string Write(const std::string& relative, absl::string_view text) const {
    const fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file.string();
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(FEDRELAY_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in) << relative;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Key names as DescribeKeys() prints them (first column).
std::vector<std::string> DescribedKeyNames() {
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(DescribeKeys(), '\n', absl::SkipEmpty())) {
    names.emplace_back(line.substr(0, line.find(' ')));
  }
  return names;
}

TEST(ConfigTest, FullConfigLoadsEveryField) {
  TempDir dir;
  const std::string path = dir.Write("fedrelay.yaml", kFull);
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path);
  EXPECT_EQ(config->server_id, "relay-1.example.org");
  EXPECT_EQ(config->origin, "relay-1.example.org/log");
  EXPECT_EQ(config->key_file, "/etc/fedrelay/relay.key");
  EXPECT_EQ(config->data_dir, "/var/lib/fedrelay");
  EXPECT_EQ(config->grpc_listen, "[::1]:9443");
  EXPECT_EQ(config->http_listen, "0.0.0.0:0");
  EXPECT_EQ(config->max_clock_skew_ms, 120000u);
  ASSERT_EQ(config->peers.size(), 3u);
  EXPECT_EQ(config->peers[0].server_id, "alpha.example");
  EXPECT_EQ(config->peers[0].pubkey, kAlphaKey);
  EXPECT_THAT(config->peers[0].may_ban, ElementsAre("*"));
  EXPECT_EQ(config->peers[1].server_id, "beta.example:8443");
  EXPECT_EQ(config->peers[1].pubkey, kBetaKey);
  EXPECT_THAT(config->peers[1].may_ban, ElementsAre("g1", "g2"));
  EXPECT_EQ(config->peers[2].server_id, "gamma.example");
  EXPECT_TRUE(config->peers[2].may_ban.empty());  // may not ban
  const RateLimits& limits = config->rate_limits;
  EXPECT_EQ(limits.max_upload_size, 2097152u);
  EXPECT_EQ(limits.message_rate_limit, 1u);
  EXPECT_EQ(limits.max_message_length, 2u);
  EXPECT_EQ(limits.register_rate_limit, 3u);
  EXPECT_EQ(limits.login_rate_limit, 4u);
  EXPECT_EQ(limits.invite_rate_limit, 5u);
  EXPECT_EQ(limits.discovery_rate_limit, 6u);
  EXPECT_EQ(limits.sync_mailbox_rate_limit, 7u);
  EXPECT_EQ(limits.ping_rate_limit, 4294967295u);
  EXPECT_EQ(config->checkpoint_interval_ms, 250u);
  EXPECT_EQ(config->access_request_timeout_ms, 30000u);
  EXPECT_EQ(config->member_session_ttl_ms, 7200000u);
}

TEST(ConfigTest, DefaultsApplyAndMatchTheHeader) {
  absl::StatusOr<Config> config = ParseConfig(kMinimal, "minimal.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  const Config defaults;
  EXPECT_EQ(config->max_clock_skew_ms, 300000u);
  EXPECT_EQ(config->checkpoint_interval_ms, 1000u);
  EXPECT_EQ(config->access_request_timeout_ms, 600000u);
  EXPECT_EQ(config->member_session_ttl_ms, 3600000u);
  EXPECT_TRUE(config->peers.empty());
  // The table's defaults and config.h's initializers must agree.
  EXPECT_EQ(config->max_clock_skew_ms, defaults.max_clock_skew_ms);
  EXPECT_EQ(config->checkpoint_interval_ms, defaults.checkpoint_interval_ms);
  EXPECT_EQ(config->access_request_timeout_ms, defaults.access_request_timeout_ms);
  EXPECT_EQ(config->member_session_ttl_ms, defaults.member_session_ttl_ms);
  const RateLimits& got = config->rate_limits;
  const RateLimits& want = defaults.rate_limits;
  EXPECT_EQ(got.max_upload_size, want.max_upload_size);
  EXPECT_EQ(got.message_rate_limit, want.message_rate_limit);
  EXPECT_EQ(got.max_message_length, want.max_message_length);
  EXPECT_EQ(got.register_rate_limit, want.register_rate_limit);
  EXPECT_EQ(got.login_rate_limit, want.login_rate_limit);
  EXPECT_EQ(got.invite_rate_limit, want.invite_rate_limit);
  EXPECT_EQ(got.discovery_rate_limit, want.discovery_rate_limit);
  EXPECT_EQ(got.sync_mailbox_rate_limit, want.sync_mailbox_rate_limit);
  EXPECT_EQ(got.ping_rate_limit, want.ping_rate_limit);
  // ParseConfig has no file directory: relative paths stay as written.
  EXPECT_EQ(config->key_file, "keys/relay.key");
  EXPECT_EQ(config->data_dir, "./data/../db");
  EXPECT_EQ(config->source, "minimal.yaml");
}

TEST(ConfigTest, EmptySectionsAndListsMeanDefaults) {
  const std::string text = absl::StrCat(kMinimal, "log:\npeers:\nrate_limits: {}\n");
  absl::StatusOr<Config> config = ParseConfig(text, "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->checkpoint_interval_ms, 1000u);
  EXPECT_TRUE(config->peers.empty());
}

TEST(ConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  TempDir dir;
  const std::string path = dir.Write("etc/fedrelay.yaml", kMinimal);
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  const fs::path etc = fs::absolute(dir.path() / "etc");
  EXPECT_EQ(config->key_file, (etc / "keys/relay.key").string());
  EXPECT_EQ(config->data_dir, (etc / "db").string());

  // Absolute paths are left alone.
  const std::string absolute = dir.Write(
      "abs.yaml", Replace(kMinimal, "key_file: keys/relay.key", "key_file: /srv/k/relay.key"));
  config = LoadConfigFile(absolute);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->key_file, "/srv/k/relay.key");
}

TEST(ConfigTest, EmbeddedDefaultParses) {
  absl::StatusOr<Config> config = ParseConfig(EmbeddedDefaultYaml(), "<embedded default>");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "<embedded default>");
  EXPECT_EQ(config->server_id, "relay.example");
  EXPECT_EQ(config->origin, "relay.example/log");
  EXPECT_EQ(config->key_file, "var/relay.key");  // relative to the working directory
  EXPECT_EQ(config->data_dir, "var/data");
  EXPECT_EQ(config->grpc_listen, "127.0.0.1:7443");
  EXPECT_EQ(config->http_listen, "127.0.0.1:7480");
  ASSERT_EQ(config->peers.size(), 2u);
  EXPECT_EQ(config->peers[0].server_id, "alpha.example");
  EXPECT_EQ(config->peers[0].pubkey, kAlphaKey);
  EXPECT_THAT(config->peers[0].may_ban, ElementsAre("*"));
  EXPECT_EQ(config->peers[1].server_id, "beta.example");
  EXPECT_EQ(config->peers[1].pubkey, kBetaKey);
  EXPECT_THAT(config->peers[1].may_ban, ElementsAre("g1"));
  EXPECT_EQ(config->max_clock_skew_ms, 300000u);
}

TEST(ConfigTest, EmbeddedDefaultErrorsNameItsSource) {
  absl::StatusOr<Config> config =
      ParseConfig("relay: {server_id: x}\nbogus: 1\n", "<embedded default>");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(Message(config), StartsWith("<embedded default>:2: bogus: "));
}

TEST(ConfigTest, ExampleFileLoadsAndDocumentsEveryKey) {
  const std::string example_path = std::string(FEDRELAY_SOURCE_DIR) + "/config/fedrelay.example.yaml";
  absl::StatusOr<Config> config = LoadConfigFile(example_path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->peers.empty());
  // Optional keys show their defaults, so the example doubles as the reference.
  const Config defaults;
  EXPECT_EQ(config->max_clock_skew_ms, defaults.max_clock_skew_ms);
  EXPECT_EQ(config->checkpoint_interval_ms, defaults.checkpoint_interval_ms);
  EXPECT_EQ(config->access_request_timeout_ms, defaults.access_request_timeout_ms);
  EXPECT_EQ(config->member_session_ttl_ms, defaults.member_session_ttl_ms);
  EXPECT_EQ(config->rate_limits.max_upload_size, defaults.rate_limits.max_upload_size);
  EXPECT_EQ(config->rate_limits.ping_rate_limit, defaults.rate_limits.ping_rate_limit);

  // Every key appears, set (not commented out), with a comment line above it.
  const std::string text = ReadSourceFile("config/fedrelay.example.yaml");
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (const std::string& name : DescribedKeyNames()) {
    const std::string leaf = name.substr(name.find_last_of(".]") + 1);
    bool documented = false;
    for (size_t i = 1; i < lines.size() && !documented; ++i) {
      absl::string_view line = absl::StripLeadingAsciiWhitespace(lines[i]);
      absl::ConsumePrefix(&line, "- ");
      if (absl::StartsWith(line, leaf + ":") &&
          absl::StartsWith(absl::StripLeadingAsciiWhitespace(lines[i - 1]), "#")) {
        documented = true;
      }
    }
    EXPECT_TRUE(documented) << name << " is not set with a comment above it in the example";
  }
}

TEST(ConfigTest, DescribeKeysListsEveryKeyWithTypeAndDefault) {
  const std::string described = DescribeKeys();
  const std::vector<std::string> names = DescribedKeyNames();
  for (absl::string_view key :
       {"relay.server_id", "relay.origin", "relay.key_file", "relay.data_dir", "listen.grpc",
        "listen.http", "federation.max_clock_skew_ms", "peers", "peers[].server_id",
        "peers[].pubkey", "peers[].may_ban", "rate_limits.max_upload_size",
        "rate_limits.message_rate_limit", "rate_limits.max_message_length",
        "rate_limits.register_rate_limit", "rate_limits.login_rate_limit",
        "rate_limits.invite_rate_limit", "rate_limits.discovery_rate_limit",
        "rate_limits.sync_mailbox_rate_limit", "rate_limits.ping_rate_limit",
        "log.checkpoint_interval_ms", "log.min_free_bytes", "integration.access_request_timeout_ms",
        "integration.access_request_cooldown_ms", "integration.max_frame_bytes",
        "integration.hello_timeout_ms", "integration.idle_timeout_ms",
        "integration.max_sockets_per_address", "member.session_ttl_ms", "bridge.retry_base_delay_ms",
        "bridge.retry_max_delay_ms", "bridge.max_attempts", "bridge.resend_after_ms", "bus.nats_url",
        "bus.stream", "bus.subject_prefix", "http.max_connections", "http.header_timeout_ms",
        "http.idle_timeout_ms", "grpc.max_concurrent_streams", "grpc.handshake_timeout_ms"}) {
    EXPECT_THAT(names, ::testing::Contains(std::string(key)));
  }
  EXPECT_EQ(names.size(), 41u);
  const std::vector<std::string> lines = absl::StrSplit(described, '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "federation.max_clock_skew_ms")) {
      EXPECT_THAT(line, HasSubstr("300000"));
      EXPECT_THAT(line, HasSubstr("ms >= 1000"));
    }
    if (absl::StartsWith(line, "relay.server_id")) {
      EXPECT_THAT(line, HasSubstr("required"));
    }
  }
}

TEST(ConfigTest, DocsListEveryKey) {
  const std::string docs = ReadSourceFile("docs/configuration.md");
  for (const std::string& name : DescribedKeyNames()) {
    EXPECT_THAT(docs, HasSubstr(absl::StrCat("`", name, "`"))) << "docs/configuration.md";
  }
}

TEST(ConfigTest, ErrorsNameTheFileLineAndKey) {
  TempDir dir;
  const std::string text = Replace(kFull, "checkpoint_interval_ms: 250", "checkpoint_interval_ms: 5");
  const std::string path = dir.Write("bad.yaml", text);
  absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config),
              StartsWith(absl::StrCat(path, ":", LineOf(text, "checkpoint_interval_ms"),
                                      ": log.checkpoint_interval_ms: ")));
  EXPECT_THAT(Message(config), HasSubstr(">= 10"));
}

TEST(ConfigTest, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = (dir.path() / "nope.yaml").string();
  absl::StatusOr<Config> config = LoadConfigFile(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(config), HasSubstr(path));

  config = LoadConfigFile(dir.path().string());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(config), HasSubstr("is a directory"));
}

struct BadCase {
  const char* name;
  std::string text;
  const char* line_marker;  // the reported line is the first line containing this
  const char* key;          // dotted key the message must name ("" = none)
  const char* what;         // a substring of the explanation
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, IsInvalidArgumentNamingFileLineAndKey) {
  const BadCase& c = GetParam();
  absl::StatusOr<Config> config = ParseConfig(c.text, "cfg.yaml");
  ASSERT_FALSE(config.ok()) << c.text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const int line = c.line_marker[0] == '\0' ? 1 : LineOf(c.text, c.line_marker);
  const std::string prefix = c.key[0] == '\0' ? absl::StrCat("cfg.yaml:", line, ": ")
                                              : absl::StrCat("cfg.yaml:", line, ": ", c.key, ": ");
  EXPECT_THAT(Message(config), StartsWith(prefix));
  EXPECT_THAT(Message(config), HasSubstr(c.what));
}

std::vector<BadCase> BadCases() {
  const std::string full = kFull;
  const std::string minimal = kMinimal;
  auto with = [&](absl::string_view from, absl::string_view to) { return Replace(full, from, to); };
  return {
      // Unknown keys at every level.
      {"UnknownTopLevel", absl::StrCat(minimal, "relays:\n  x: 1\n"), "relays:", "relays",
       "unknown key"},
      {"UnknownInSection", with("  origin:", "  orign: x\n  origin:"), "orign", "relay.orign",
       "expected one of: server_id, origin, key_file, data_dir"},
      {"UnknownInPeer", with("    may_ban: [g1, \"g2\"]", "    may_ban: [g1]\n    maybe: 1"),
       "maybe", "peers[1].maybe", "unknown key"},
      {"DottedKeyAtTopLevel", absl::StrCat(minimal, "log.checkpoint_interval_ms: 10\n"),
       "log.checkpoint", "log.checkpoint_interval_ms", "unknown key"},
      {"DuplicateKey", with("  data_dir: /var/lib/fedrelay", "  data_dir: /a\n  data_dir: /b"),
       "data_dir: /b", "relay.data_dir", "duplicate key"},
      // Wrong types.
      {"MapForScalar", with("  server_id: relay-1.example.org", "  server_id: {a: b}"),
       "server_id: {a", "relay.server_id", "got a map"},
      {"ListForNumber", with("max_clock_skew_ms: 120000", "max_clock_skew_ms: [1]"),
       "max_clock_skew_ms", "federation.max_clock_skew_ms", "got a list"},
      {"ScalarForSection", with("log:\n  checkpoint_interval_ms: 250", "log: 250"), "log: 250",
       "log", "expected a map"},
      {"ScalarForPeers", absl::StrCat(minimal, "peers: alpha\n"), "peers: alpha", "peers",
       "expected a list"},
      {"NoValue", with("  login_rate_limit: 4", "  login_rate_limit:"), "login_rate_limit",
       "rate_limits.login_rate_limit", "no value"},
      {"TextForNumber", with("invite_rate_limit: 5", "invite_rate_limit: abc"), "invite_rate",
       "rate_limits.invite_rate_limit", "expected a whole number, got \"abc\""},
      {"FractionForNumber", with("invite_rate_limit: 5", "invite_rate_limit: 1.5"),
       "invite_rate", "rate_limits.invite_rate_limit", "expected a whole number"},
      {"NegativeNumber", with("ping_rate_limit: 4294967295", "ping_rate_limit: -1"),
       "ping_rate_limit", "rate_limits.ping_rate_limit", "must not be negative"},
      {"Uint32Overflow", with("ping_rate_limit: 4294967295", "ping_rate_limit: 4294967296"),
       "ping_rate_limit", "rate_limits.ping_rate_limit", "out of range"},
      {"Uint64Overflow", with("session_ttl_ms: 7200000", "session_ttl_ms: 99999999999999999999999"),
       "session_ttl_ms", "member.session_ttl_ms", "out of range"},
      {"UploadSizeAboveInt", with("max_upload_size: 2097152", "max_upload_size: 2147483648"),
       "max_upload_size", "rate_limits.max_upload_size", "out of range"},
      {"SkewBelowMinimum", with("max_clock_skew_ms: 120000", "max_clock_skew_ms: 999"),
       "max_clock_skew_ms", "federation.max_clock_skew_ms",
       "must be a whole number of milliseconds >= 1000, got 999"},
      {"GuildIdNotScalar", with("may_ban: [g1, \"g2\"]", "may_ban: [g1, [g2]]"), "may_ban: [g1",
       "peers[1].may_ban[1]", "expected a guild id"},
      // Bad values.
      {"ServerIdUppercase", with("server_id: relay-1.example.org", "server_id: Relay.example"),
       "Relay.example", "relay.server_id", "must be a server id"},
      {"ServerIdWithSpace", with("server_id: relay-1.example.org", "server_id: \"relay 1\""),
       "relay 1", "relay.server_id", "must be a server id"},
      {"PeerServerIdBad", with("server_id: gamma.example", "server_id: -gamma"), "-gamma",
       "peers[2].server_id", "must be a server id"},
      {"OriginWithSpace", with("origin: relay-1.example.org/log", "origin: relay log"),
       "relay log", "relay.origin", "no spaces"},
      {"OriginWithPlus", with("origin: relay-1.example.org/log", "origin: relay+log"), "relay+log",
       "relay.origin", "'+'"},
      {"ListenWithoutPort", with("http: 0.0.0.0:0", "http: 0.0.0.0"), "http: 0.0.0.0",
       "listen.http", "missing ':port'"},
      {"ListenPortTooBig", with("http: 0.0.0.0:0", "http: 0.0.0.0:65536"), "65536", "listen.http",
       "0 to 65535"},
      {"ListenBadHost", with("http: 0.0.0.0:0", "http: \"bad host:80\""), "bad host",
       "listen.http", "invalid host name"},
      {"ListenBadIpv4", with("http: 0.0.0.0:0", "http: 300.1.1.1:80"), "300.1.1.1", "listen.http",
       "invalid IPv4"},
      {"ListenBareIpv6", with("grpc: \"[::1]:9443\"", "grpc: \"::1:9443\""), "::1:9443",
       "listen.grpc", "brackets"},
      {"PubkeyUppercase",
       with(absl::StrCat("pubkey: ", kAlphaKey),
            absl::StrCat("pubkey: ", absl::AsciiStrToUpper(kAlphaKey))),
       "pubkey: 8D28", "peers[0].pubkey", "must be an Ed25519 public key"},
      {"PubkeyShort", with(absl::StrCat("pubkey: ", kAlphaKey), "pubkey: abcd"), "pubkey: abcd",
       "peers[0].pubkey", "must be an Ed25519 public key"},
      // Well-formed hex, but the identity point: start-up would refuse to pin it.
      {"PubkeySmallOrder",
       with(absl::StrCat("pubkey: ", kAlphaKey), absl::StrCat("pubkey: 01", std::string(62, '0'))),
       "pubkey: 0100", "peers[0].pubkey", "prime-order subgroup"},
      {"GuildIdWithComma", with("may_ban: [g1, \"g2\"]", "may_ban: [g1, \"g2,g3\"]"), "may_ban: [g1",
       "peers[1].may_ban[1]", "without spaces or ','"},
      {"StarNotAlone", with("may_ban: [\"*\"]", "may_ban: [\"*\", g1]"), "may_ban: [\"*\"",
       "peers[0].may_ban", "only entry"},
      {"DuplicatePeer", with("server_id: gamma.example", "server_id: alpha.example  # again"),
       "# again", "peers[2].server_id", "duplicate peer \"alpha.example\" (already at peers[0]"},
      {"EmptyPath", with("key_file: /etc/fedrelay/relay.key", "key_file: \"\""), "key_file",
       "relay.key_file", "non-empty path"},
      // Missing required keys: the line of the section that lacks them.
      {"MissingKeyFile", with("  key_file: /etc/fedrelay/relay.key\n", ""), "relay:",
       "relay.key_file", "required key is missing"},
      {"MissingListenSection", with("listen:\n  grpc: \"[::1]:9443\"\n  http: 0.0.0.0:0\n", ""),
       "", "listen.grpc", "required key is missing"},
      {"MissingPeerPubkey",
       with(absl::StrCat("  - server_id: gamma.example\n    pubkey: ", kBetaKey, "\n"),
            "  - server_id: gamma.example\n"),
       "gamma.example", "peers[2].pubkey", "required key is missing"},
      {"EmptyDocument", "", "", "relay.server_id", "required key is missing"},
      // Not YAML, or not a map.
      {"SyntaxError", with("  data_dir: /var/lib/fedrelay", "  data_dir: [/var/lib"),
       "listen:", "", "YAML syntax error"},
      {"BadIndentation", with("  origin: relay-1", "    origin: relay-1"), "origin", "",
       "YAML syntax error"},
      {"TopLevelList", "- relay\n- listen\n", "", "", "expected a map of sections"},
      {"TwoDocuments", absl::StrCat(minimal, "---\nrelay: {}\n"), "relay: {}", "",
       "one YAML document"},
  };
}

INSTANTIATE_TEST_SUITE_P(AllErrorClasses, BadConfigTest, ::testing::ValuesIn(BadCases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(ConfigTest, GarbageNeverThrows) {
  for (absl::string_view text :
       {absl::string_view("\x01\x02\xff\xfe", 4), absl::string_view("{{{{{{{{{{"),
        absl::string_view("relay: &a [*a]"), absl::string_view("\t- a\n\tb: c"),
        absl::string_view("relay: !!binary ZZZ\n"), absl::string_view("? [a, b]\n: c\n")}) {
    absl::StatusOr<Config> config = ParseConfig(text, "garbage.yaml");
    EXPECT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(config), StartsWith("garbage.yaml:"));
  }
  // Deep nesting trips yaml-cpp's recursion guard instead of the stack.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  absl::StatusOr<Config> config = ParseConfig(deep, "deep.yaml");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
}

// yaml-cpp 0.7's YAML::LoadAll loops forever on these (config/yaml_guard.h):
// each must be a syntax error naming the file and a line, at once.
TEST(ConfigTest, ACommaWhereANodeBelongsIsASyntaxErrorNotAHang) {
  for (absl::string_view text : {
           ",", "  ,", "# a comment\n\n,x\n", "--- ,", "%YAML 1.2\n--- !t ,", "&a\n,", "&a,",
           "!t,", "\xEF\xBB\xBF,", "...\n,", "- a\n,", "  - a\n ,", "    a: 1\n  ,",
           "  a: 1\n,",
           // What tests/fuzz/config_fuzz found first.
           ",s\xfc" "erver_id: relay.example27.0.0.1:0\n=ate_limims:\n  m;xupload_size: 1\n"}) {
    absl::StatusOr<Config> config = ParseConfig(text, "comma.yaml");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(config), StartsWith("comma.yaml:")) << text;
    EXPECT_THAT(Message(config), HasSubstr("YAML syntax error")) << text;
  }
  absl::StatusOr<Config> config = ParseConfig(",", "comma.yaml");
  EXPECT_EQ(Message(config), "comma.yaml:1: YAML syntax error: unexpected ','");
  // A second document after a complete first one is still named as such.
  config = ParseConfig("relay: {}\n---\n,", "two.yaml");
  EXPECT_THAT(Message(config), HasSubstr("one YAML document"));
}

// log.min_free_bytes: default, 0 = no check, the uint32 edge.
TEST(DiskSpaceConfigTest, DefaultIs64MiBAndZeroAndTheUint32EdgeAreAccepted) {
  auto config = ParseConfig(kMinimal, "minimal.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->min_free_bytes, 67108864u);
  EXPECT_EQ(config->min_free_bytes, Config().min_free_bytes);
  for (const char* value : {"0", "4294967295"}) {
    auto edge = ParseConfig(std::string(kMinimal) + "log:\n  min_free_bytes: " + value + "\n",
                            "minimal.yaml");
    ASSERT_TRUE(edge.ok()) << value << ": " << edge.status();
    EXPECT_EQ(std::to_string(edge->min_free_bytes), value);
  }
  auto over = ParseConfig(std::string(kMinimal) + "log:\n  min_free_bytes: 4294967296\n", "minimal.yaml");
  EXPECT_FALSE(over.ok());
  auto negative = ParseConfig(std::string(kMinimal) + "log:\n  min_free_bytes: -1\n", "minimal.yaml");
  EXPECT_FALSE(negative.ok());
}

}  // namespace
}  // namespace fedrelay::config
