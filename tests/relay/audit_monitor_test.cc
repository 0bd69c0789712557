// fedrelay-audit as a monitor (issue 14): --state keeps what was verified so
// the next run checks only the new entries plus consistency with the saved
// log, a rewritten or rolled-back log is refused, --follow audits as the log
// grows until SIGTERM. The built fedrelay-audit against real fedrelayd
// processes (all signing with the test relay key, so a second relay is what
// a relay showing another history looks like to an auditor).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "store/note.h"

namespace fedrelay {
namespace {

using ::testing::HasSubstr;
using testing::BinaryPath;
using testing::NowMs;
using testing::ReadFile;
using testing::RelayProcess;
using testing::SendUnary;
using testing::TestKey;
using testing::ToolResult;
using json = nlohmann::json;

class AuditMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    relay_ = StartRelay();
    ASSERT_NE(relay_, nullptr);
    state_ = relay_->dir() + "/audit-state";
  }
  static std::unique_ptr<RelayProcess> StartRelay() {
    auto relay = RelayProcess::Start();
    EXPECT_TRUE(relay.ok()) << relay.status();
    return relay.ok() ? *std::move(relay) : nullptr;
  }
  static std::string Vkey() {
    return store::FormatVerifierKey("relay.example/log", TestKey("relay").PublicKey());
  }
  std::vector<std::string> AuditArgv(const RelayProcess& relay, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-audit"), "--relay",
                                     absl::StrCat("127.0.0.1:", relay.grpc_port()), "--vkey", Vkey(),
                                     "--state", state_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  ToolResult Audit(const RelayProcess& relay, const std::vector<std::string>& extra = {"--json"}) {
    return testing::RunTool(AuditArgv(relay, extra), relay_->dir());
  }
  // `n` accepted joins of fresh users; returns the log size after them, once a checkpoint covers it.
  uint64_t Grow(RelayProcess& relay, int n) {
    auto stub = v1::FederationRelay::NewStub(relay.Channel());
    uint64_t last = 0;
    for (int i = 0; i < n; ++i) {
      auto outcome = SendUnary(*stub, testing::SignedJoin("alpha", absl::StrCat("user", serial_++), "g1", NowMs()));
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
      last = outcome.receipt.event_id();
    }
    auto audit = v1::AuditLog::NewStub(relay.Channel());
    for (int i = 0; i < 400; ++i) {
      grpc::ClientContext context;
      v1::Checkpoint checkpoint;
      if (audit->GetCheckpoint(&context, {}, &checkpoint).ok() && checkpoint.tree_size() >= last) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return last;
  }

  std::unique_ptr<RelayProcess> relay_;
  std::string state_;
  int serial_ = 0;
};

TEST_F(AuditMonitorTest, IncrementalRunVerifiesOnlyTheNewEntries) {
  const uint64_t first = Grow(*relay_, 5);
  ToolResult run = Audit(*relay_);
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  json report = json::parse(run.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["entries"], first);
  EXPECT_EQ(report["new_entries"], first);
  EXPECT_EQ(report["derived_state"]["peers"], 2);

  const uint64_t second = Grow(*relay_, 3);
  run = Audit(*relay_);
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  report = json::parse(run.out);
  EXPECT_EQ(report["entries"], second);
  EXPECT_EQ(report["new_entries"], second - first) << "only the new entries are re-derived";
  EXPECT_EQ(report["derived_state"]["peers"], 2) << "the saved state carried over";

  // Nothing new: nothing re-derived; the human output says so too.
  run = Audit(*relay_, {});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat("OK: ", second, " entries verified (0 new)")));
  EXPECT_EQ(Audit(*relay_, {"--data-dir", relay_->data_dir()}).exit_code, 2) << "one source only";
}

TEST_F(AuditMonitorTest, ARewrittenOrRolledBackLogIsRefusedAndTheStateKept) {
  const uint64_t verified = Grow(*relay_, 5);
  ASSERT_EQ(Audit(*relay_).exit_code, 0);

  // Another history under the same key: longer (rewritten) and shorter (rolled back).
  std::unique_ptr<RelayProcess> longer = StartRelay();
  ASSERT_NE(longer, nullptr);
  Grow(*longer, 8);
  ToolResult rewritten = Audit(*longer);
  EXPECT_EQ(rewritten.exit_code, 1) << rewritten.out;
  EXPECT_THAT(rewritten.err, HasSubstr(absl::StrCat(
                                 "the log was rewritten: the relay's checkpoint at size ", verified + 3,
                                 " is not an extension of the log verified up to size ", verified)));
  EXPECT_EQ(json::parse(rewritten.out)["ok"], false);

  std::unique_ptr<RelayProcess> shorter = StartRelay();
  ASSERT_NE(shorter, nullptr);
  Grow(*shorter, 1);
  ToolResult rolled_back = Audit(*shorter);
  EXPECT_EQ(rolled_back.exit_code, 1);
  EXPECT_THAT(rolled_back.err, HasSubstr("the log was rolled back"));

  // The state is as it was: the real relay still verifies, incrementally.
  const uint64_t grown = Grow(*relay_, 2);
  ToolResult again = Audit(*relay_);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["new_entries"], grown - verified);
}

TEST_F(AuditMonitorTest, FollowAuditsAsTheLogGrowsUntilSigterm) {
  Grow(*relay_, 2);
  const std::string out_path = relay_->dir() + "/follow.out";
  const std::vector<std::string> argv = AuditArgv(*relay_, {"--follow", "--interval-ms", "100", "--json"});
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    std::vector<char*> raw;
    for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
    raw.push_back(nullptr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  const uint64_t size = Grow(*relay_, 3);
  bool seen = false;
  for (int i = 0; i < 400 && !seen; ++i) {
    for (absl::string_view line : absl::StrSplit(ReadFile(out_path), '\n', absl::SkipEmpty())) {
      const json round = json::parse(line, nullptr, false);
      if (round.is_object() && round["ok"] == true && round["entries"] == size) seen = true;
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(seen) << ReadFile(out_path);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM stops --follow cleanly";
}

}  // namespace
}  // namespace fedrelay
