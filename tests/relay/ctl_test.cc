// The peer registry as an operator changes it (issue 4): the built fedrelay-ctl
// against the real fedrelayd, requests sent with the built fedrelay-client.
// Every change must take effect at once, be exactly one relay-signed entry in
// the log, survive a restart as the config and ctl intend, and replay: the log
// alone reproduces who was trusted when. Equivocations reach the operator as a
// metric, a log line and a ctl listing.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/relay_fixture_util.h"

namespace fedrelay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using testing::BinaryPath;
using testing::HttpRequest;
using testing::OutputField;
using testing::ReadFile;
using testing::RelayProcess;
using testing::TestKey;
using testing::ToolResult;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::string Hex(const std::string& test_key_name) { return TestKey(test_key_name).PublicKeyHex(); }

// Does the action verify under the relay's key, and only as logged?
void ExpectSignedByRelay(const v1::OperatorAction& action) {
  const std::string relay_key = TestKey("relay").PublicKey();
  EXPECT_TRUE(Ed25519Verify(relay_key, federation::OperatorActionSigningBytes(action),
                            action.signature()))
      << action.DebugString();
  v1::OperatorAction tampered = action;
  tampered.set_server_id(action.server_id() + ".evil");
  EXPECT_FALSE(Ed25519Verify(relay_key, federation::OperatorActionSigningBytes(tampered),
                             tampered.signature()));
  // Not signed by a peer's key either.
  EXPECT_FALSE(Ed25519Verify(TestKey("server-alpha").PublicKey(),
                             federation::OperatorActionSigningBytes(action), action.signature()));
}

class CtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    keys_dir_ = relay_->dir() + "/keys";
    std::filesystem::create_directories(keys_dir_);
    for (const char* name : {"server-alpha", "server-beta"}) {
      ASSERT_TRUE(WriteKeyFile(KeyPath(name), TestKey(name)).ok());
    }
  }

  std::string KeyPath(const std::string& name) const { return keys_dir_ + "/" + name + ".key"; }

  ToolResult Run(const std::vector<std::string>& argv) {
    return testing::RunTool(argv, relay_->dir());
  }

  // fedrelay-ctl against the test relay's admin socket, as its operator runs it.
  ToolResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir",
                                     relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv);
  }

  ToolResult Client(const std::vector<std::string>& args) {
    return testing::RunClient(*relay_, args);
  }

  // `fedrelay-ctl keygen`: a fresh key file; returns its public key as printed.
  std::string Keygen(const std::string& name) {
    ToolResult result = Ctl({"keygen", "--out", KeyPath(name)});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const std::string pubkey = OutputField(result.out, "public key");
    EXPECT_EQ(pubkey.size(), 64u) << result.out;
    return pubkey;
  }

  std::vector<std::string> PeerList() {
    ToolResult result = Ctl({"peer", "list"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return Lines(result.out);
  }

  uint64_t LogSize() {
    ToolResult result = Ctl({"status"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    uint64_t size = 0;
    EXPECT_TRUE(absl::SimpleAtoi(OutputField(result.out, "log size"), &size)) << result.out;
    return size;
  }

  v1::LogEntry Entry(uint64_t event_id) {
    auto audit = v1::AuditLog::NewStub(relay_->Channel());
    v1::GetEntriesRequest request;
    request.set_start(event_id - 1);
    request.set_end(event_id);
    grpc::ClientContext context;
    auto reader = audit->GetEntries(&context, request);
    v1::LogEntry entry;
    EXPECT_TRUE(reader->Read(&entry)) << "event " << event_id;
    return entry;
  }

  // The operator action logged as `event_id`, checked to be relay-signed.
  v1::OperatorAction LoggedAction(uint64_t event_id) {
    v1::LogEntry entry = Entry(event_id);
    EXPECT_EQ(entry.event_id(), event_id);
    EXPECT_EQ(entry.kind(), "operator_action");
    EXPECT_TRUE(entry.has_operator_action()) << entry.DebugString();
    ExpectSignedByRelay(entry.operator_action());
    return entry.operator_action();
  }

  // Runs a ctl peer change that must succeed: it prints its event id, and the
  // log grows by exactly that one relay-signed entry.
  v1::OperatorAction PeerChange(const std::vector<std::string>& args) {
    const uint64_t size_before = LogSize();
    std::vector<std::string> argv = {"peer"};
    argv.insert(argv.end(), args.begin(), args.end());
    ToolResult result = Ctl(argv);
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    EXPECT_THAT(result.out, StartsWith("logged as event "));
    uint64_t event_id = 0;
    EXPECT_TRUE(absl::SimpleAtoi(
        absl::StripAsciiWhitespace(absl::string_view(result.out).substr(16)), &event_id))
        << result.out;
    EXPECT_EQ(LogSize(), size_before + 1) << "one ctl change, one log entry";
    EXPECT_EQ(event_id, size_before + 1);
    return LoggedAction(event_id);
  }

  ToolResult Federate(const std::string& server_id, const std::string& key_name,
                      const std::string& guild = "g1") {
    return Client({"federate", "--server-id", server_id, "--server-key", KeyPath(key_name),
                   "--user", Hex("user-alice-id"), "--display-name", "Alice", "--guild", guild});
  }

  ToolResult Ban(const std::string& server_id, const std::string& key_name,
                 const std::string& guild, const std::string& user = Hex("user-bob-id")) {
    return Client({"ban", "--server-id", server_id, "--server-key", KeyPath(key_name), "--user",
                   user, "--guild", guild, "--reason", "spam", "--evidence-hash",
                   "sha256:" + HexEncode(Sha256("evidence"))});
  }

  static void ExpectAccepted(const ToolResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    EXPECT_THAT(result.out, StartsWith("accepted\n"));
  }

  static void ExpectRefused(const ToolResult& result, const std::string& code) {
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_THAT(result.err, StartsWith("refused: " + code + ": ")) << result.err;
  }

  // Drops the beta.example entry from the config file the fixture wrote.
  void RemoveBetaFromConfig() {
    std::vector<std::string> lines = absl::StrSplit(ReadFile(relay_->config_path()), '\n');
    std::ofstream config(relay_->config_path(), std::ios::trunc);
    bool in_beta = false;
    for (const std::string& line : lines) {
      if (absl::StartsWith(line, "  - ")) in_beta = line == "  - server_id: beta.example";
      if (!absl::StartsWith(line, "    ") && !absl::StartsWith(line, "  - ")) in_beta = false;
      if (!in_beta) config << line << "\n";
    }
  }

  std::string Vkey() {
    ToolResult result =
        Ctl({"vkey", "--key", relay_->dir() + "/relay.key", "--name", "relay.example/log"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return std::string(absl::StripAsciiWhitespace(result.out));
  }

  std::unique_ptr<RelayProcess> relay_;
  std::string keys_dir_;
};

TEST_F(CtlTest, PeerChangesTakeEffectAtOnceAndEachIsOneRelaySignedEntry) {
  EXPECT_THAT(PeerList(),
              ElementsAre("alpha.example  " + Hex("server-alpha") + "  may_ban=[*]",
                          "beta.example  " + Hex("server-beta") + "  may_ban=[g1]"));
  const std::string gamma = Keygen("gamma");
  ExpectRefused(Federate("gamma.example", "gamma"), "unknown_peer");

  v1::OperatorAction added =
      PeerChange({"add", "gamma.example", "--pubkey", gamma, "--may-ban", "g9"});
  EXPECT_EQ(added.action(), "peer_add");
  EXPECT_EQ(added.server_id(), "gamma.example");
  EXPECT_EQ(added.pubkey(), gamma);
  EXPECT_THAT(added.may_ban(), ElementsAre("g9"));
  EXPECT_THAT(PeerList(), ::testing::Contains("gamma.example  " + gamma + "  may_ban=[g9]"));

  ExpectAccepted(Federate("gamma.example", "gamma"));
  ExpectAccepted(Ban("gamma.example", "gamma", "g9"));
  ExpectRefused(Ban("gamma.example", "gamma", "g1"), "not_authorized");

  v1::OperatorAction may_ban = PeerChange({"may-ban", "gamma.example", "--may-ban", "*"});
  EXPECT_EQ(may_ban.action(), "peer_may_ban");
  EXPECT_EQ(may_ban.server_id(), "gamma.example");
  EXPECT_THAT(may_ban.may_ban(), ElementsAre("*"));
  ExpectAccepted(Ban("gamma.example", "gamma", "g1"));

  const std::string gamma2 = Keygen("gamma2");
  v1::OperatorAction rotated = PeerChange({"rotate", "gamma.example", "--pubkey", gamma2});
  EXPECT_EQ(rotated.action(), "peer_rotate");
  EXPECT_EQ(rotated.server_id(), "gamma.example");
  EXPECT_EQ(rotated.pubkey(), gamma2);
  ExpectRefused(Federate("gamma.example", "gamma", "g2"), "key_mismatch");
  ExpectAccepted(Federate("gamma.example", "gamma2", "g2"));
  // Rotation keeps what the peer may ban.
  ExpectAccepted(Ban("gamma.example", "gamma2", "g3"));

  // A change that changes nothing, or names no peer, is refused and logs nothing.
  const uint64_t size = LogSize();
  ToolResult same = Ctl({"peer", "may-ban", "gamma.example", "--may-ban", "*"});
  EXPECT_EQ(same.exit_code, 1);
  EXPECT_THAT(same.err, HasSubstr("already has that may_ban list"));
  ToolResult nobody = Ctl({"peer", "remove", "nobody.example"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("no peer 'nobody.example'"));
  ToolResult again = Ctl({"peer", "add", "gamma.example", "--pubkey", gamma});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  EXPECT_EQ(LogSize(), size);

  v1::OperatorAction removed = PeerChange({"remove", "gamma.example"});
  EXPECT_EQ(removed.action(), "peer_remove");
  EXPECT_EQ(removed.server_id(), "gamma.example");
  ExpectRefused(Federate("gamma.example", "gamma2", "g4"), "unknown_peer");
  ExpectRefused(Ban("gamma.example", "gamma2", "g4"), "unknown_peer");
  EXPECT_EQ(PeerList().size(), 2u);

  EXPECT_THAT(relay_->log_text(), HasSubstr("operator action peer_remove gamma.example"));
}

TEST_F(CtlTest, RestartKeepsCtlPeersAndRemovesPeersDroppedFromTheConfig) {
  const std::string gamma = Keygen("gamma");
  PeerChange({"add", "gamma.example", "--pubkey", gamma, "--may-ban", "g9"});
  // A ctl change to a config peer lasts until the next start: the config owns it.
  PeerChange({"may-ban", "alpha.example", "--may-ban", "g1"});
  ExpectAccepted(Ban("beta.example", "server-beta", "g1"));

  RemoveBetaFromConfig();
  const uint64_t size_before = LogSize();
  ASSERT_TRUE(relay_->Restart().ok());

  EXPECT_THAT(PeerList(),
              ElementsAre("alpha.example  " + Hex("server-alpha") + "  may_ban=[*]",
                          "gamma.example  " + gamma + "  may_ban=[g9]"));
  ASSERT_EQ(LogSize(), size_before + 2) << relay_->log_text();
  std::set<std::string> at_start;
  for (uint64_t event_id = size_before + 1; event_id <= size_before + 2; ++event_id) {
    const v1::OperatorAction action = LoggedAction(event_id);
    at_start.insert(action.action() + " " + action.server_id());
    if (action.action() == "peer_may_ban") {
      EXPECT_THAT(action.may_ban(), ElementsAre("*"));
    }
  }
  EXPECT_THAT(at_start, ElementsAre("peer_may_ban alpha.example", "peer_remove beta.example"));

  ExpectAccepted(Federate("gamma.example", "gamma"));
  ExpectAccepted(Ban("gamma.example", "gamma", "g9"));
  ExpectRefused(Federate("beta.example", "server-beta"), "unknown_peer");

  // A restart with nothing changed logs nothing.
  const uint64_t settled = LogSize();
  ASSERT_TRUE(relay_->Restart().ok());
  EXPECT_EQ(LogSize(), settled);
  EXPECT_EQ(PeerList().size(), 2u);
}

TEST_F(CtlTest, RederivingTheLogReproducesWhoWasTrustedWhen) {
  // Entries that were acceptable only under the peer table of their time.
  const std::string gamma = Keygen("gamma");
  PeerChange({"add", "gamma.example", "--pubkey", gamma, "--may-ban", "g9"});
  ExpectAccepted(Federate("gamma.example", "gamma"));
  ExpectAccepted(Ban("gamma.example", "gamma", "g9"));
  const std::string gamma2 = Keygen("gamma2");
  PeerChange({"rotate", "gamma.example", "--pubkey", gamma2});
  ExpectAccepted(Federate("gamma.example", "gamma2", "g2"));
  ExpectAccepted(Ban("beta.example", "server-beta", "g1"));
  const std::string delta = Keygen("delta");
  PeerChange({"add", "delta.example", "--pubkey", delta});
  ExpectAccepted(Federate("delta.example", "delta"));
  PeerChange({"remove", "delta.example"});
  RemoveBetaFromConfig();
  ASSERT_TRUE(relay_->Restart().ok());
  const uint64_t size = LogSize();
  const std::string vkey = Vkey();
  ASSERT_THAT(vkey, StartsWith("relay.example/log+"));

  // Offline, from the data directory (the relay must be stopped).
  ASSERT_EQ(relay_->Stop(), 0);
  ToolResult offline = Run({BinaryPath("tools/fedrelay-audit"), "--data-dir", relay_->data_dir(),
                            "--vkey", vkey, "--quiet"});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_THAT(offline.out, HasSubstr(absl::StrCat("OK: ", size, " entries verified")));
  // alpha and gamma; delta came and went, beta left the config. Two bans.
  EXPECT_THAT(offline.out, HasSubstr("derived state: 2 peers, 2 bans,")) << offline.out;

  // Online, over the public AuditLog service.
  ASSERT_TRUE(relay_->Restart().ok());
  ToolResult online =
      Run({BinaryPath("tools/fedrelay-audit"), "--relay",
           absl::StrCat("127.0.0.1:", relay_->grpc_port()), "--vkey", vkey, "--quiet"});
  EXPECT_EQ(online.exit_code, 0) << online.out << online.err;
  EXPECT_THAT(online.out, HasSubstr("derived state: 2 peers, 2 bans,")) << online.out;

  // The same log under another key proves nothing.
  ToolResult alpha_vkey =
      Ctl({"vkey", "--key", KeyPath("server-alpha"), "--name", "relay.example/log"});
  ASSERT_EQ(alpha_vkey.exit_code, 0) << alpha_vkey.err;
  ToolResult wrong_key = Run({BinaryPath("tools/fedrelay-audit"), "--relay",
                              absl::StrCat("127.0.0.1:", relay_->grpc_port()), "--vkey",
                              std::string(absl::StripAsciiWhitespace(alpha_vkey.out)), "--quiet"});
  EXPECT_EQ(wrong_key.exit_code, 1) << wrong_key.out << wrong_key.err;
}

TEST_F(CtlTest, EquivocationIsRefusedAndSurfacedToOperators) {
  ToolResult none = Ctl({"equivocations"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "no equivocations seen\n");

  const std::string user = Keygen("user");
  const std::string timestamp = absl::StrCat(SystemClock().NowMs());
  ExpectAccepted(Client({"migrate", "--user-key", KeyPath("user"), "--to", "https://beta.example",
                         "--timestamp", timestamp}));
  ExpectRefused(Client({"migrate", "--user-key", KeyPath("user"), "--to", "https://evil.example",
                        "--timestamp", timestamp}),
                "equivocation");

  ToolResult listed = Ctl({"equivocations"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_EQ(Lines(listed.out).size(), 1u) << listed.out;
  EXPECT_THAT(listed.out, StartsWith("user " + user + " at " + timestamp +
                                     ": logged https://beta.example, refused https://evil.example"));
  EXPECT_EQ(OutputField(Ctl({"status"}).out, "equivocations"), "1");

  std::string warning;
  for (const std::string& line : Lines(relay_->log_text())) {
    if (line.find("equivocation: user " + user) != std::string::npos) warning = line;
  }
  EXPECT_THAT(warning, HasSubstr("[warning]")) << relay_->log_text();
  EXPECT_THAT(warning, HasSubstr(timestamp));
  EXPECT_THAT(warning, HasSubstr("https://beta.example"));
  EXPECT_THAT(warning, HasSubstr("https://evil.example"));

  const auto metrics = HttpRequest(relay_->http_port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("\nfedrelay_equivocations_total 1\n"));

  // The refused migration changed nothing, and the record survives a restart.
  ExpectRefused(Client({"migrate", "--user-key", KeyPath("user"), "--to", "https://evil.example",
                        "--timestamp", timestamp}),
                "equivocation");
  ASSERT_TRUE(relay_->Restart().ok());
  ToolResult after_restart = Ctl({"equivocations"});
  EXPECT_EQ(after_restart.out, listed.out);
}

TEST_F(CtlTest, UsageErrorsBadKeysAndAnUnreachableRelay) {
  ToolResult help = Ctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("Usage: fedrelay-ctl"));
  EXPECT_THAT(help.out, HasSubstr("peer add SERVER_ID --pubkey HEX"));

  ToolResult unknown = Ctl({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frobnicate'"));
  ToolResult bare_peer = Ctl({"peer"});
  EXPECT_EQ(bare_peer.exit_code, 2);
  EXPECT_THAT(bare_peer.err, HasSubstr("peer needs list, add, remove, rotate or may-ban"));
  ToolResult unknown_verb = Ctl({"peer", "frobnicate", "gamma.example"});
  EXPECT_EQ(unknown_verb.exit_code, 2);
  EXPECT_THAT(unknown_verb.err, HasSubstr("unknown peer command 'frobnicate'"));
  ToolResult no_id = Ctl({"peer", "add"});
  EXPECT_EQ(no_id.exit_code, 2);
  EXPECT_THAT(no_id.err, HasSubstr("peer add needs SERVER_ID"));
  EXPECT_EQ(Ctl({"peer", "add", "gamma.example"}).exit_code, 2) << "--pubkey is required";
  EXPECT_EQ(Ctl({"peer", "list", "--bogus"}).exit_code, 2);
  // A flag the command would ignore is an error, not a silent no-op.
  ToolResult rotate_may_ban =
      Ctl({"peer", "rotate", "beta.example", "--pubkey", Hex("server-alpha"), "--may-ban", "*"});
  EXPECT_EQ(rotate_may_ban.exit_code, 2);
  EXPECT_THAT(rotate_may_ban.err, HasSubstr("peer rotate takes no --may-ban"));
  EXPECT_EQ(Ctl({"peer", "may-ban", "beta.example", "--pubkey", Hex("server-alpha")}).exit_code, 2);
  EXPECT_EQ(Ctl({"peer", "remove", "beta.example", "--may-ban", "*"}).exit_code, 2);

  // Keys that could never verify a signature are refused before anything is logged.
  const uint64_t size = LogSize();
  std::string upper = Keygen("gamma");
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  for (const std::string& bad : {std::string("abc123"), upper, "0x" + Keygen("gamma2"),
                                 std::string(64, 'z')}) {
    ToolResult refused = Ctl({"peer", "add", "gamma.example", "--pubkey", bad});
    EXPECT_EQ(refused.exit_code, 1) << bad;
    EXPECT_THAT(refused.err, StartsWith("fedrelay-ctl: malformed: peer pubkey ")) << bad;
    EXPECT_THAT(refused.out, IsEmpty());
  }
  // Well-formed hex but no usable key: the identity point and a point of order 4
  // (small order: nothing verifies under them).
  for (const std::string& bad : {"01" + std::string(62, '0'), std::string(64, '0')}) {
    ToolResult refused = Ctl({"peer", "add", "gamma.example", "--pubkey", bad});
    EXPECT_EQ(refused.exit_code, 1) << bad;
    EXPECT_THAT(refused.err, HasSubstr("is not a valid Ed25519 public key")) << bad;
  }
  ToolResult bad_rotate =
      Ctl({"peer", "rotate", "alpha.example", "--pubkey", std::string(64, '0')});
  EXPECT_EQ(bad_rotate.exit_code, 1);
  EXPECT_THAT(bad_rotate.err, HasSubstr("is not a valid Ed25519 public key"));
  EXPECT_EQ(LogSize(), size);
  EXPECT_EQ(PeerList().size(), 2u);

  // A socket that accepts connections but never answers: a deadline, not a hang.
  const std::string silent_path = relay_->dir() + "/silent.sock";
  const int silent = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(silent_path.size(), sizeof(address.sun_path));
  std::strncpy(address.sun_path, silent_path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(listen(silent, 8), 0);
  ToolResult hung = Ctl({"--socket", silent_path, "--timeout-ms", "300", "status"});
  close(silent);
  EXPECT_EQ(hung.exit_code, 1);
  EXPECT_THAT(hung.err, HasSubstr("did not answer within 300 ms"));
  EXPECT_EQ(Ctl({"--timeout-ms", "0", "status"}).exit_code, 2);
  EXPECT_EQ(Ctl({"--timeout-ms", "soon", "status"}).exit_code, 2);

  ASSERT_EQ(relay_->Stop(), 0);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"peer", "list"}, std::vector<std::string>{"status"},
        std::vector<std::string>{"peer", "remove", "beta.example"}}) {
    ToolResult unreachable = Ctl(command);
    EXPECT_EQ(unreachable.exit_code, 1) << command[0];
    EXPECT_THAT(unreachable.err,
                HasSubstr("cannot reach fedrelayd at " + relay_->data_dir() + "/admin.sock"));
  }
}

}  // namespace
}  // namespace fedrelay
