// What an operator is told is what happens (issue 17): start-up, keys, ports,
// signals, files and the admin tool behave as docs/operator-guide.md and
// docs/configuration.md say. Every test runs the built binaries.
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "common/temp_dir.h"
#include "federation/signing.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::BinaryPath;
using testing::RelayProcess;
using testing::RunCommand;
using testing::RunTool;
using testing::TestKey;
using testing::ToolResult;

// The pid fedrelayd wrote into the fixture's ready file.
pid_t RelayPid(const RelayProcess& relay) {
  auto json = nlohmann::json::parse(testing::ReadFile(relay.dir() + "/ready.json"), nullptr,
                                    /*allow_exceptions=*/false);
  return json.is_discarded() ? -1 : json.value("pid", -1);
}

// Polls `condition` for up to 10 s.
bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    usleep(20000);
  }
  return condition();
}

int Mode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

// A scratch directory holding a config, a key file and a data dir for a
// fedrelayd started by hand.
class OpsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // A minimal config with its own key file and data dir in dir_.
  std::string WriteConfig(const std::string& grpc_listen = "127.0.0.1:0",
                          const std::string& http_listen = "127.0.0.1:0",
                          const std::string& extra = "") {
    return Write("fedrelay.yaml", absl::StrCat("relay:\n"
                                               "  server_id: relay.example\n"
                                               "  origin: relay.example/log\n"
                                               "  key_file: relay.key\n"
                                               "  data_dir: data\n"
                                               "listen:\n"
                                               "  grpc: ",
                                               grpc_listen, "\n  http: ", http_listen, "\n", extra));
  }

  // Runs fedrelayd with `args`; `timeout 30` turns a relay that wrongly keeps
  // running into exit status 124 instead of a hung test.
  testing::CommandResult Fedrelayd(const std::string& args) {
    return RunCommand(absl::StrCat("timeout 30 ", BinaryPath("relay/fedrelayd"), " ", args));
  }

  // fedrelayd --config `config` --ready-file dir_/ready.json in the
  // background; its pid once the ready file is there, or -1.
  pid_t StartByHand(const std::string& config) {
    const std::string ready = dir_ + "/ready.json";
    const pid_t pid = fork();
    if (pid == 0) {
      execl(BinaryPath("relay/fedrelayd").c_str(), "fedrelayd", "--config", config.c_str(),
            "--ready-file", ready.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    if (WaitFor([&] { return std::filesystem::exists(ready); })) return pid;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return -1;
  }

  // SIGTERM and wait: the exit status, or -1.
  static int StopByHand(pid_t pid) {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::TempDir scratch_{"fedrelay-ops-"};
  const std::string dir_ = scratch_.path();
};

// ---- 1. a taken gRPC port ----

TEST_F(OpsTest, ASecondRelayOnATakenGrpcPortExitsOne) {
  auto first = RelayProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(WriteKeyFile(dir_ + "/relay.key", Ed25519PrivateKey::Generate()).ok());
  const std::string config = WriteConfig(absl::StrCat("127.0.0.1:", (*first)->grpc_port()));
  auto second = Fedrelayd("--config " + config);
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_THAT(second.output, HasSubstr("cannot listen for gRPC on 127.0.0.1:"));
  // The first relay still answers alone on its port.
  auto stub = v1::FederationRelay::NewStub((*first)->Channel());
  for (int i = 0; i < 4; ++i) {
    grpc::ClientContext context;
    v1::ServerInfoResponse info;
    ASSERT_TRUE(stub->GetServerInfo(&context, {}, &info).ok());
    EXPECT_EQ(info.relay_pubkey(), TestKey("relay").PublicKeyHex());
  }
}

// ---- 2. the store remembers its relay key ----

TEST_F(OpsTest, AnExistingStoreRefusesAMissingOrDifferentKeyFile) {
  auto relay = RelayProcess::Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  const std::string key_file = (*relay)->dir() + "/relay.key";
  const std::string original = testing::ReadFile(key_file);
  ASSERT_EQ((*relay)->Stop(), 0);

  std::filesystem::remove(key_file);
  auto missing = (*relay)->Restart();
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.message()), HasSubstr("does not exist, but this store already holds a log signed by relay key " + TestKey("relay").PublicKeyHex()));
  EXPECT_FALSE(std::filesystem::exists(key_file)) << "no new key for an existing store";

  ASSERT_TRUE(WriteKeyFile(key_file, Ed25519PrivateKey::Generate()).ok());
  auto different = (*relay)->Restart();
  EXPECT_FALSE(different.ok());
  EXPECT_THAT(std::string(different.message()), HasSubstr("but this store's log is signed by relay key"));

  std::filesystem::remove(key_file);
  std::ofstream(key_file) << original;
  chmod(key_file.c_str(), 0600);
  ASSERT_TRUE((*relay)->Restart().ok()) << (*relay)->log_text();
}

TEST_F(OpsTest, AKeyIsGeneratedOnlyForANewStore) {
  auto first = Fedrelayd("check-config --config " + WriteConfig());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // Start once with no key file: the key and the store are created together.
  const std::string config = WriteConfig();
  const pid_t pid = StartByHand(config);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(StopByHand(pid), 0);
  auto key = ReadKeyFile(dir_ + "/relay.key");
  ASSERT_TRUE(key.ok()) << key.status();
  // Losing it now is refused, and nothing new is generated.
  std::filesystem::remove(dir_ + "/relay.key");
  auto again = Fedrelayd("--config " + config);
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_THAT(again.output, HasSubstr(key->PublicKeyHex()));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/relay.key"));
}

// fedrelay-ctl against a running test relay, as its operator runs it.
class CtlOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }
  ToolResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir",
                                     relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunTool(argv, relay_->dir());
  }
  uint64_t LogSize() {
    ToolResult result = Ctl({"status"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    uint64_t size = 0;
    EXPECT_TRUE(absl::SimpleAtoi(testing::OutputField(result.out, "log size"), &size));
    return size;
  }
  std::unique_ptr<RelayProcess> relay_;
};

// ---- 3. one set of value rules for the config and the admin socket ----

TEST_F(CtlOpsTest, PeerAddAppliesTheConfigValueRules) {
  const std::string key = TestKey("server-gamma").PublicKeyHex();
  const uint64_t size = LogSize();
  const std::vector<std::vector<std::string>> refused = {
      {"peer", "add", "Delta.Example", "--pubkey", key},
      {"peer", "add", "bad..id", "--pubkey", key},
      {"peer", "add", "x_y", "--pubkey", key},
      {"peer", "add", "-x", "--pubkey", key},
      {"peer", "add", "gamma.example", "--pubkey", key, "--may-ban", "*", "--may-ban", "g1"},
      {"peer", "add", "gamma.example", "--pubkey", key, "--may-ban", "g1", "--may-ban", "g1"},
      {"peer", "add", "gamma.example", "--pubkey", key, "--may-ban", "g 1"},
      {"peer", "may-ban", "alpha.example", "--may-ban", "g1", "--may-ban", "g1"},
  };
  for (const auto& args : refused) {
    ToolResult result = Ctl(args);
    EXPECT_EQ(result.exit_code, 1) << args[2] << ": " << result.out << result.err;
    EXPECT_THAT(result.err, HasSubstr("malformed: ")) << args[2];
  }
  EXPECT_EQ(LogSize(), size) << "nothing refused is logged";
  ToolResult list = Ctl({"peer", "list"});
  EXPECT_THAT(list.out, Not(HasSubstr("Delta.Example")));
  EXPECT_THAT(list.out, Not(HasSubstr("gamma.example")));
  // A valid one still goes through.
  ToolResult ok = Ctl({"peer", "add", "gamma.example", "--pubkey", key, "--may-ban", "g2"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(LogSize(), size + 1);
}

// ---- 4. SIGHUP ----

TEST_F(OpsTest, SighupIsLoggedAndIgnored) {
  auto relay = RelayProcess::Start();
  ASSERT_TRUE(relay.ok()) << relay.status();
  const pid_t pid = RelayPid(**relay);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains((*relay)->log_text(), "received SIGHUP: ignored"); }))
      << (*relay)->log_text();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  grpc::ClientContext context;
  v1::ServerInfoResponse info;
  EXPECT_TRUE(stub->GetServerInfo(&context, {}, &info).ok()) << "still serving after SIGHUP";
  EXPECT_EQ((*relay)->Stop(), 0);
  EXPECT_THAT((*relay)->log_text(), HasSubstr("shutdown complete"));
  EXPECT_FALSE(std::filesystem::exists((*relay)->data_dir() + "/admin.sock"));
}

// ---- 5. subscriber metrics after a restart ----

TEST_F(CtlOpsTest, AckedCursorAndLagSurviveARestartOnMetrics) {
  const std::string key_file = relay_->dir() + "/beta.key";
  ASSERT_TRUE(WriteKeyFile(key_file, TestKey("server-beta")).ok());
  const uint64_t size = LogSize();
  ASSERT_GE(size, 2u);
  ToolResult ack = testing::RunClient(
      *relay_, {"ack", "--server-id", "beta.example", "--server-key", key_file, "1"});
  ASSERT_EQ(ack.exit_code, 0) << ack.out << ack.err;
  ASSERT_TRUE(relay_->Restart().ok());
  const std::string who = "{subscriber=\"peer:beta.example\"}";
  EXPECT_EQ(testing::MetricValue(relay_->http_port(), "fedrelay_subscriber_acked_event_id" + who, -1), 1);
  EXPECT_EQ(testing::MetricValue(relay_->http_port(), "fedrelay_subscriber_lag_events" + who, -1),
            static_cast<double>(LogSize() - 1));
}

// ---- 6. /readyz right after a restart ----

TEST_F(OpsTest, ReadyRightAfterARestartAndTheFirstWrite) {
  RelayProcess::Options options;
  options.checkpoint_interval_ms = 5000;
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  ASSERT_TRUE((*relay)->Restart().ok());
  ToolResult add = RunTool({BinaryPath("tools/fedrelay-ctl"), "--data-dir", (*relay)->data_dir(),
                            "peer", "add", "gamma.example", "--pubkey",
                            TestKey("server-gamma").PublicKeyHex()},
                           (*relay)->dir());
  ASSERT_EQ(add.exit_code, 0) << add.err;
  // The new entry waits for the next checkpoint (up to 5 s): not stale yet.
  auto ready = testing::HttpRequest((*relay)->http_port(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
}

// ---- 7. a ctl peer stays ctl-owned ----

TEST_F(CtlOpsTest, ACtlPeerListedInTheConfigAndTakenOutAgainStays) {
  const std::string gamma = TestKey("server-gamma").PublicKeyHex();
  ASSERT_EQ(Ctl({"peer", "add", "gamma.example", "--pubkey", gamma, "--may-ban", "g2"}).exit_code, 0);
  const std::string original = testing::ReadFile(relay_->config_path());
  std::string with_gamma = original;
  const std::string peers = "peers:\n";
  with_gamma.replace(with_gamma.find(peers), peers.size(),
                     absl::StrCat(peers, "  - server_id: gamma.example\n    pubkey: ", gamma,
                                  "\n    may_ban: [\"g3\"]\n"));
  std::ofstream(relay_->config_path(), std::ios::trunc) << with_gamma;
  ASSERT_TRUE(relay_->Restart().ok()) << relay_->log_text();
  EXPECT_THAT(Ctl({"peer", "list"}).out, HasSubstr("gamma.example  " + gamma + "  may_ban=[g3]"))
      << "while listed, the config's values apply";
  std::ofstream(relay_->config_path(), std::ios::trunc) << original;
  ASSERT_TRUE(relay_->Restart().ok()) << relay_->log_text();
  EXPECT_THAT(Ctl({"peer", "list"}).out, HasSubstr("gamma.example  " + gamma))
      << "taken out of the config, a ctl peer stays until fedrelay-ctl removes it";
}

// ---- 11. private files ----

TEST_F(OpsTest, TheStoreAndAGeneratedKeyArePrivateAndTheReadyFileGoes) {
  const std::string config = Write("fedrelay.yaml", "relay:\n"
                                                    "  server_id: relay.example\n"
                                                    "  origin: relay.example/log\n"
                                                    "  key_file: keys/relay.key\n"
                                                    "  data_dir: data\n"
                                                    "listen:\n"
                                                    "  grpc: 127.0.0.1:0\n"
                                                    "  http: 127.0.0.1:0\n");
  const pid_t pid = StartByHand(config);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(Mode(dir_ + "/keys"), 0700);
  EXPECT_EQ(Mode(dir_ + "/keys/relay.key"), 0600);
  EXPECT_EQ(Mode(dir_ + "/data"), 0700);
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir_ + "/data")) {
    EXPECT_EQ(Mode(file.path().string()) & 077, 0) << file.path();
  }
  EXPECT_EQ(StopByHand(pid), 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/ready.json"))
      << "the ready file is removed at shutdown";
}

// ---- 9. max_message_length bounds text, not identifiers; refusals cost no quota ----

TEST_F(OpsTest, MaxMessageLengthBoundsTextNotIdsAndItsRefusalsCostNoQuota) {
  RelayProcess::Options options;
  options.rate_limits_yaml = "  max_message_length: 4\n  message_rate_limit: 2\n";
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  const uint64_t now = testing::NowMs();
  // Too long a display name: refused, three times, without using the quota of 2.
  for (int i = 0; i < 3; ++i) {
    auto join = testing::SignedJoin("alpha", absl::StrCat("long-", i), "g1", now);
    join.set_user_display_name("Alexandra");
    federation::SignFederationRequest(&join, TestKey("server-alpha"));
    auto outcome = testing::SendUnary(*stub, join);
    EXPECT_THAT(outcome.status.error_message(), ::testing::StartsWith("payload_too_large: "));
  }
  // Server and guild ids longer than 4 bytes federate: the quota is still whole.
  for (int i = 0; i < 2; ++i) {
    auto join = testing::SignedJoin("alpha", absl::StrCat("short-", i), "guild-long-id", now);
    join.set_user_display_name("Al");
    federation::SignFederationRequest(&join, TestKey("server-alpha"));
    auto outcome = testing::SendUnary(*stub, join);
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  }
}

// ---- 8. max_upload_size: payload_too_large, counted; 0 = no limit ----

TEST_F(OpsTest, ARequestOverMaxUploadSizeIsPayloadTooLargeAndCounted) {
  RelayProcess::Options options;
  options.rate_limits_yaml = "  max_upload_size: 1024\n  max_message_length: 0\n";
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  auto join = testing::SignedJoin("alpha", "big", "g1", testing::NowMs());
  join.set_user_display_name(std::string(1500, 'x'));
  federation::SignFederationRequest(&join, TestKey("server-alpha"));
  auto outcome = testing::SendUnary(*stub, join);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(), ::testing::StartsWith("payload_too_large: "));
  EXPECT_EQ(testing::MetricValue((*relay)->http_port(),
                                 "fedrelay_rejections_total{code=\"payload_too_large\"}", -1),
            1);
  auto body = testing::HttpRequest((*relay)->http_port(), "POST", "/healthz", std::string(2000, 'x'));
  EXPECT_EQ(body.status, 413) << body.body;
}

TEST_F(OpsTest, MaxUploadSizeZeroMeansNoLimitOnGrpcAndHttp) {
  RelayProcess::Options options;
  options.rate_limits_yaml = "  max_upload_size: 0\n  max_message_length: 0\n";
  auto relay = RelayProcess::Start(options);
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto stub = v1::FederationRelay::NewStub((*relay)->Channel());
  auto small = testing::SendUnary(*stub, testing::SignedJoin("alpha", "small", "g1", testing::NowMs()));
  EXPECT_TRUE(small.status.ok()) << small.status.error_message();
  // Above gRPC's default 4 MiB receive limit: the relay reads it and judges it
  // by its rules (a log entry holds at most 65535 bytes), not by its size.
  auto join = testing::SignedJoin("alpha", "huge", "g1", testing::NowMs());
  join.set_user_display_name(std::string(5 << 20, 'x'));
  federation::SignFederationRequest(&join, TestKey("server-alpha"));
  auto outcome = testing::SendUnary(*stub, join);
  EXPECT_NE(outcome.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << outcome.status.error_message();
  // Refused for the log entry it would make, never for its upload size.
  EXPECT_THAT(outcome.status.error_message(), Not(::testing::HasSubstr("max_upload_size")));
  EXPECT_THAT(outcome.status.error_message(),
              ::testing::StartsWith("payload_too_large: the log entry would be"));
  auto body = testing::HttpRequest((*relay)->http_port(), "POST", "/healthz", "x");
  EXPECT_NE(body.status, 413) << body.body;
  EXPECT_NE(body.status, 0);
}

// ---- 10. the smaller differences ----

TEST_F(CtlOpsTest, SameGuildsInAnotherOrderAndAnExistingPeerAreConflictsNotInternal) {
  ToolResult first = Ctl({"peer", "may-ban", "alpha.example", "--may-ban", "g1", "--may-ban", "g2"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const uint64_t size = LogSize();
  ToolResult reordered =
      Ctl({"peer", "may-ban", "alpha.example", "--may-ban", "g2", "--may-ban", "g1"});
  EXPECT_EQ(reordered.exit_code, 1) << reordered.out;
  EXPECT_THAT(reordered.err, HasSubstr("conflict: peer 'alpha.example' already has that may_ban"));
  ToolResult exists = Ctl({"peer", "add", "alpha.example", "--pubkey",
                           TestKey("server-gamma").PublicKeyHex()});
  EXPECT_EQ(exists.exit_code, 1);
  EXPECT_THAT(exists.err, HasSubstr("conflict: peer 'alpha.example' already exists"));
  ToolResult same_key = Ctl({"peer", "rotate", "alpha.example", "--pubkey",
                             TestKey("server-alpha").PublicKeyHex()});
  EXPECT_EQ(same_key.exit_code, 1);
  EXPECT_THAT(same_key.err, HasSubstr("conflict: "));
  EXPECT_EQ(LogSize(), size);
}

TEST_F(CtlOpsTest, CommandsWithoutArgumentsRefuseExtraOnes) {
  EXPECT_EQ(Ctl({"status", "extra"}).exit_code, 2);
  EXPECT_EQ(Ctl({"equivocations", "extra"}).exit_code, 2);
  EXPECT_EQ(Ctl({"status"}).exit_code, 0);
}

TEST_F(OpsTest, CheckConfigReadsTheKeyFileAsStartUpDoes) {
  const std::string config = WriteConfig();
  auto missing = Fedrelayd("check-config --config " + config);
  EXPECT_EQ(missing.exit_code, 0) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("created at the first start of a new, empty store"));

  const auto key = Ed25519PrivateKey::Generate();
  ASSERT_TRUE(WriteKeyFile(dir_ + "/relay.key", key).ok());
  auto good = Fedrelayd("check-config --config " + config);
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_THAT(good.output, HasSubstr(key.PublicKeyHex()));

  chmod((dir_ + "/relay.key").c_str(), 0644);
  auto readable = Fedrelayd("check-config --config " + config);
  EXPECT_EQ(readable.exit_code, 1) << readable.output;
  EXPECT_THAT(readable.output, HasSubstr("chmod 600"));

  // Two key lines: which one is meant is not guessed, at start-up either.
  std::ofstream(dir_ + "/relay.key", std::ios::app) << std::string(64, 'a') << "\n";
  chmod((dir_ + "/relay.key").c_str(), 0600);
  auto two = Fedrelayd("check-config --config " + config);
  EXPECT_EQ(two.exit_code, 1) << two.output;
  EXPECT_THAT(two.output, HasSubstr("more than one key line"));
  auto start = Fedrelayd("--config " + config);
  EXPECT_EQ(start.exit_code, 1) << start.output;
  EXPECT_THAT(start.output, HasSubstr("more than one key line"));
}

TEST_F(OpsTest, AStartThatFailsOnATakenHttpPortWritesNothing) {
  auto first = RelayProcess::Start();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string config =
      WriteConfig("127.0.0.1:0", absl::StrCat("127.0.0.1:", (*first)->http_port()));
  auto second = Fedrelayd("--config " + config);
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_THAT(second.output, HasSubstr("cannot listen for HTTP on 127.0.0.1:"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/relay.key")) << "no key generated";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data")) << "no store, no entries";
}

}  // namespace
}  // namespace fedrelay
