// fedrelayd as an operator runs it: start, answer Ping and /healthz, publish a
// verifiable checkpoint, refuse bad configuration and unsafe key files, shut
// down cleanly on SIGTERM. Every test starts the real binary.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "common/temp_dir.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"
#include "store/note.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::BinaryPath;
using testing::HttpRequest;
using testing::RelayProcess;
using testing::RunCommand;
using testing::TestKey;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }
  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(DaemonTest, AnswersPingAndServerInfoOverGrpc) {
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  grpc::ClientContext context;
  v1::PingRequest ping;
  ping.set_timestamp(1);
  v1::PongResponse pong;
  const uint64_t before = SystemClock().NowMs();
  ASSERT_TRUE(stub->Ping(&context, ping, &pong).ok());
  EXPECT_GE(pong.timestamp(), before);
  EXPECT_LE(pong.timestamp(), SystemClock().NowMs());

  grpc::ClientContext info_context;
  v1::ServerInfoResponse info;
  ASSERT_TRUE(stub->GetServerInfo(&info_context, {}, &info).ok());
  EXPECT_EQ(info.server_id(), "relay.example");
  EXPECT_EQ(info.relay_pubkey(), TestKey("relay").PublicKeyHex());
  EXPECT_EQ(info.log_origin(), "relay.example/log");
  EXPECT_EQ(info.verifier_key(),
            store::FormatVerifierKey("relay.example/log", TestKey("relay").PublicKey()));
  EXPECT_EQ(info.max_clock_skew_ms(), 300000u);
}

// docs/benchmarks.md ("The allocator"): the Release daemon runs on jemalloc;
// the sanitizer build keeps ASan's allocator.
TEST_F(DaemonTest, RunsOnJemallocOutsideTheSanitizers) {
  std::ifstream maps(absl::StrCat("/proc/", relay_->pid(), "/maps"));
  ASSERT_TRUE(maps.good());
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
#ifdef __SANITIZE_ADDRESS__
  EXPECT_THAT(text, Not(HasSubstr("libjemalloc")));
#else
  EXPECT_THAT(text, HasSubstr("libjemalloc"));
#endif
}

TEST_F(DaemonTest, AnswersHealthzOverHttp) {
  auto health = HttpRequest(relay_->http_port(), "GET", "/healthz");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(nlohmann::json::parse(health.body).value("status", ""), "ok");
  auto unknown = HttpRequest(relay_->http_port(), "GET", "/no/such/path");
  EXPECT_EQ(unknown.status, 404);
  auto error = nlohmann::json::parse(unknown.body);
  EXPECT_EQ(error.value("code", ""), "not_found");
  EXPECT_THAT(error.value("correlation_id", ""), ::testing::StartsWith("req_"));
  // Operators alert on counters they can see before the first event.
  auto metrics = HttpRequest(relay_->http_port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, ::testing::HasSubstr("\nfedrelay_equivocations_total 0\n"));
}

TEST_F(DaemonTest, PublishesACheckpointThatVerifiesWithTheAnnouncedKey) {
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  grpc::ClientContext info_context;
  v1::ServerInfoResponse info;
  ASSERT_TRUE(stub->GetServerInfo(&info_context, {}, &info).ok());
  auto verifier = store::ParseVerifierKey(info.verifier_key());
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  auto http_note = HttpRequest(relay_->http_port(), "GET", "/checkpoint");
  ASSERT_EQ(http_note.status, 200) << http_note.body;
  auto body = store::OpenNote(http_note.body, *verifier);
  ASSERT_TRUE(body.ok()) << body.status() << "\n" << http_note.body;
  auto checkpoint = store::ParseCheckpointBody(*body);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->origin, "relay.example/log");

  auto audit = v1::AuditLog::NewStub(relay_->Channel());
  grpc::ClientContext context;
  v1::Checkpoint grpc_checkpoint;
  ASSERT_TRUE(audit->GetCheckpoint(&context, {}, &grpc_checkpoint).ok());
  EXPECT_TRUE(store::OpenNote(grpc_checkpoint.note(), *verifier).ok());
  EXPECT_GE(grpc_checkpoint.tree_size(), checkpoint->tree_size);
}

TEST_F(DaemonTest, LogsOneLinePerListenerAndShutsDownCleanlyOnSigterm) {
  EXPECT_EQ(relay_->Stop(), 0);
  const std::string log = relay_->log_text();
  EXPECT_THAT(log, HasSubstr(absl::StrCat("gRPC listening on 127.0.0.1:0 (port ", relay_->grpc_port())));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("HTTP listening on 127.0.0.1:0 (port ", relay_->http_port())));
  EXPECT_THAT(log, HasSubstr("shutdown complete"));
  // The relay's private key never reaches the log.
  EXPECT_THAT(log, Not(HasSubstr(HexEncode(TestKey("relay").Seed()))));
}

TEST_F(DaemonTest, RestartKeepsTheLogAndItsCheckpoint) {
  auto audit = v1::AuditLog::NewStub(relay_->Channel());
  v1::Checkpoint before;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(audit->GetCheckpoint(&context, {}, &before).ok());
  }
  ASSERT_TRUE(relay_->Restart().ok());
  audit = v1::AuditLog::NewStub(relay_->Channel());
  v1::Checkpoint after;
  grpc::ClientContext context;
  ASSERT_TRUE(audit->GetCheckpoint(&context, {}, &after).ok());
  EXPECT_GE(after.tree_size(), before.tree_size());
}

class DaemonCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  testing::TempDir scratch_{"fedrelay-cmd-"};
  const std::string dir_ = scratch_.path();
};

TEST_F(DaemonCommandTest, RejectsUnknownConfigKeyNamingFileLineAndKey) {
  const std::string path = Write("bad.yaml",
                                 "relay:\n"
                                 "  server_id: relay.example\n"
                                 "  origin: relay.example/log\n"
                                 "  key_file: relay.key\n"
                                 "  data_dir: data\n"
                                 "  colour: blue\n"
                                 "listen:\n"
                                 "  grpc: 127.0.0.1:0\n"
                                 "  http: 127.0.0.1:0\n");
  auto result = RunCommand(BinaryPath("relay/fedrelayd") + " --config " + path);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("bad.yaml:6:"));
  EXPECT_THAT(result.output, HasSubstr("relay.colour"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data")) << "nothing is created for a bad config";
}

TEST_F(DaemonCommandTest, RejectsBadValueWithLineAndKey) {
  const std::string path = Write("skew.yaml",
                                 "relay:\n"
                                 "  server_id: relay.example\n"
                                 "  origin: relay.example/log\n"
                                 "  key_file: relay.key\n"
                                 "  data_dir: data\n"
                                 "listen:\n"
                                 "  grpc: 127.0.0.1:0\n"
                                 "  http: 127.0.0.1:0\n"
                                 "federation:\n"
                                 "  max_clock_skew_ms: soon\n");
  auto result = RunCommand(BinaryPath("relay/fedrelayd") + " check-config --config " + path);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("skew.yaml:10:"));
  EXPECT_THAT(result.output, HasSubstr("federation.max_clock_skew_ms"));
}

TEST_F(DaemonCommandTest, CheckConfigAcceptsTheShippedExampleAndTheEmbeddedDefault) {
  auto example = RunCommand(BinaryPath("relay/fedrelayd") + " check-config --config " +
                            FEDRELAY_SOURCE_DIR "/config/fedrelay.example.yaml");
  EXPECT_EQ(example.exit_code, 0) << example.output;
  auto embedded = RunCommand(BinaryPath("relay/fedrelayd") + " check-config");
  EXPECT_EQ(embedded.exit_code, 0) << embedded.output;
  EXPECT_THAT(embedded.output, HasSubstr("<embedded default>"));
}

TEST_F(DaemonCommandTest, KeygenWritesA0600KeyAndPrintsItsVerifierKey) {
  const std::string key_path = dir_ + "/relay.key";
  auto result = RunCommand(BinaryPath("relay/fedrelayd") + " keygen --out " + key_path +
                           " --name relay.example/log");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  struct stat st;
  ASSERT_EQ(stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto key = ReadKeyFile(key_path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_THAT(result.output, HasSubstr(key->PublicKeyHex()));
  EXPECT_THAT(result.output,
              HasSubstr(store::FormatVerifierKey("relay.example/log", key->PublicKey())));
  EXPECT_THAT(result.output, Not(HasSubstr(HexEncode(key->Seed()))));

  auto again = RunCommand(BinaryPath("relay/fedrelayd") + " keygen --out " + key_path);
  EXPECT_EQ(again.exit_code, 1) << "keygen must never overwrite a key";
  EXPECT_EQ(ReadKeyFile(key_path)->PublicKeyHex(), key->PublicKeyHex());
}

TEST_F(DaemonCommandTest, RefusesAKeyFileOthersCanRead) {
  const std::string key_path = dir_ + "/relay.key";
  ASSERT_TRUE(WriteKeyFile(key_path, Ed25519PrivateKey::Generate()).ok());
  chmod(key_path.c_str(), 0644);
  const std::string config = Write("fedrelay.yaml",
                                   "relay:\n"
                                   "  server_id: relay.example\n"
                                   "  origin: relay.example/log\n"
                                   "  key_file: relay.key\n"
                                   "  data_dir: data\n"
                                   "listen:\n"
                                   "  grpc: 127.0.0.1:0\n"
                                   "  http: 127.0.0.1:0\n");
  auto result = RunCommand(BinaryPath("relay/fedrelayd") + " --config " + config);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("chmod 600"));
}

TEST_F(DaemonCommandTest, HelpAndUsageErrors) {
  auto help = RunCommand(BinaryPath("relay/fedrelayd") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--ready-file"));
  auto bad = RunCommand(BinaryPath("relay/fedrelayd") + " --no-such-flag");
  EXPECT_EQ(bad.exit_code, 2);
  auto config_help = RunCommand(BinaryPath("relay/fedrelayd") + " --help-config");
  EXPECT_EQ(config_help.exit_code, 0);
  EXPECT_THAT(config_help.output, HasSubstr("log.checkpoint_interval_ms"));
}

}  // namespace
}  // namespace fedrelay
