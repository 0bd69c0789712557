// fedrelay-ctl's views of a running relay (issue 14): tail, subscribers, bans,
// user, rejections and checkpoint, and --json on every ctl command. The built
// fedrelay-ctl against the real fedrelayd; requests sent over gRPC as peers
// and users send them. JSON output is parsed with a real JSON parser.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
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
using ::testing::StartsWith;
using testing::BinaryPath;
using testing::NowMs;
using testing::ReadFile;
using testing::RelayProcess;
using testing::SendUnary;
using testing::ToolResult;
using testing::UserId;
using json = nlohmann::json;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A tool left running in the background (tail --follow, a subscriber); its
// stdout and stderr go to one file. Ended with SIGTERM by Stop().
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::string& output_path)
      : output_path_(output_path) {
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(out, 2);
      std::vector<char*> raw;
      for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
      raw.push_back(nullptr);
      execv(raw[0], raw.data());
      _exit(127);
    }
  }
  ~Background() { Stop(); }
  // SIGTERM, then the exit status (-1 when it did not exit normally).
  int Stop() {
    if (pid_ <= 0) return exit_code_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return exit_code_;
  }
  std::string output() const { return ReadFile(output_path_); }
  // Waits up to 20 s for the output to satisfy `done`.
  bool WaitFor(const std::function<bool(const std::string&)>& done) const {
    for (int i = 0; i < 400; ++i) {
      if (done(output())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  std::string output_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

class CtlViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  }

  std::vector<std::string> CtlArgv(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir",
                                     relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  ToolResult Ctl(const std::vector<std::string>& args) {
    return testing::RunTool(CtlArgv(args), relay_->dir());
  }
  // A ctl command with --json that must succeed and print one JSON document.
  json CtlJson(std::vector<std::string> args) {
    args.push_back("--json");
    ToolResult result = Ctl(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(Lines(result.out).size(), 1u) << "one document on one line: " << result.out;
    return json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  }

  // The log's size now (a new relay's log starts with its config peers, logged as operator actions).
  uint64_t LogSize() {
    uint64_t size = 0;
    EXPECT_TRUE(absl::SimpleAtoi(CtlJson({"status"})["log_size"].get<std::string>(), &size));
    return size;
  }

  // Accepted, with its event id.
  template <typename Message>
  uint64_t Accept(const Message& message) {
    auto outcome = SendUnary(*stub_, message);
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    return outcome.receipt.event_id();
  }

  std::unique_ptr<RelayProcess> relay_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
};

TEST_F(CtlViewsTest, BansAndUserShowWhatTheLogSays) {
  const uint64_t now = NowMs();
  const uint64_t ban_bob = Accept(testing::SignedBan("alpha", "bob", "g1", now));
  const uint64_t ban_carol = Accept(testing::SignedBan("alpha", "carol", "g2", now + 1));
  Accept(testing::SignedMigration("bob", "https://beta.example", now));
  const uint64_t profile = Accept(testing::SignedProfile("bob", "Bobby", now));
  Accept(testing::SignedInvite("inv-pending", "alice", "bob", now));
  Accept(testing::SignedInvite("inv-accepted", "alice", "bob", now + 1));
  Accept(testing::SignedAccept("inv-accepted", "bob", now + 2));

  // Every ban, by user then guild; filtered by guild and by user.
  json all = CtlJson({"bans"});
  ASSERT_TRUE(all.is_object()) << all;
  std::set<std::string> seen;
  for (const json& ban : all["bans"]) {
    seen.insert(ban["guild_id"].get<std::string>() + "/" + ban["user_id"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"g1/" + UserId("bob"), "g2/" + UserId("carol")}));
  json g2 = CtlJson({"bans", "--guild", "g2"});
  ASSERT_EQ(g2["bans"].size(), 1u) << g2;
  EXPECT_EQ(g2["bans"][0]["user_id"], UserId("carol"));
  EXPECT_EQ(g2["bans"][0]["event_id"], std::to_string(ban_carol));
  json of_bob = CtlJson({"bans", "--user", UserId("bob")});
  ASSERT_EQ(of_bob["bans"].size(), 1u) << of_bob;
  EXPECT_EQ(of_bob["bans"][0]["guild_id"], "g1");
  EXPECT_EQ(of_bob["bans"][0]["event_id"], std::to_string(ban_bob));
  EXPECT_EQ(CtlJson({"bans", "--guild", "g9"})["bans"].size(), 0u);
  ToolResult human = Ctl({"bans", "--guild", "g1"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out, absl::StrCat("guild g1  user ", UserId("bob"), "  event ", ban_bob, "\n"));
  EXPECT_EQ(Ctl({"bans", "--guild", "g9"}).out, "no bans\n");

  // One user: homeserver, latest profile, bans, pending invites (never a token).
  json bob = CtlJson({"user", UserId("bob")});
  EXPECT_EQ(bob["homeserver"], "https://beta.example");
  EXPECT_EQ(bob["display_name"], "Bobby");
  EXPECT_EQ(bob["profile_event_id"], std::to_string(profile));
  ASSERT_EQ(bob["bans"].size(), 1u);
  EXPECT_EQ(bob["bans"][0]["guild_id"], "g1");
  ASSERT_EQ(bob["pending_invites"].size(), 1u) << bob;
  EXPECT_EQ(bob["pending_invites"][0]["invite_id"], "inv-pending");
  EXPECT_EQ(bob["pending_invites"][0]["inviter_id"], UserId("alice"));
  ToolResult user = Ctl({"user", UserId("bob")});
  EXPECT_EQ(user.exit_code, 0) << user.err;
  EXPECT_THAT(user.out, HasSubstr("homeserver:   https://beta.example\n"));
  EXPECT_THAT(user.out, HasSubstr("display name: Bobby\n"));
  EXPECT_THAT(user.out, HasSubstr("pending invites: 1\n  invite inv-pending"));
  EXPECT_THAT(user.out, Not(HasSubstr("token-for-")));
  // A user the log never saw has nothing; a malformed id is refused.
  json nobody = CtlJson({"user", UserId("nobody")});
  EXPECT_EQ(nobody["homeserver"], "");
  EXPECT_EQ(nobody["profile_event_id"], "0");
  ToolResult bad = Ctl({"user", "not-hex"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("malformed: "));
  EXPECT_EQ(Ctl({"user"}).exit_code, 2);
  EXPECT_EQ(Ctl({"bans", "extra"}).exit_code, 2);
}

TEST_F(CtlViewsTest, TailPrintsTheLogDecodedAndFollowsIt) {
  const uint64_t now = NowMs();
  Accept(testing::SignedJoin("alpha", "alice", "g1", now));
  const uint64_t ban = Accept(testing::SignedBan("alpha", "bob", "g1", now));
  const uint64_t last = Accept(testing::SignedMigration("bob", "https://beta.example", now));

  ToolResult two = Ctl({"tail", "-n", "2"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  std::vector<std::string> lines = Lines(two.out);
  ASSERT_EQ(lines.size(), 2u) << two.out;
  EXPECT_THAT(lines[0], StartsWith(absl::StrCat("event ", ban, "  at ")));
  EXPECT_THAT(lines[0], HasSubstr("  ban  alpha.example bans " + UserId("bob") + " from guild g1"));
  EXPECT_THAT(lines[1], StartsWith(absl::StrCat("event ", last, "  at ")));

  ToolResult bans = Ctl({"tail", "--kind", "ban", "--json"});
  ASSERT_EQ(bans.exit_code, 0) << bans.err;
  lines = Lines(bans.out);
  ASSERT_EQ(lines.size(), 1u) << bans.out;
  json entry = json::parse(lines[0]);
  EXPECT_EQ(entry["event_id"], std::to_string(ban));
  EXPECT_EQ(entry["kind"], "ban");
  EXPECT_EQ(entry["ban"]["banned_user_pubkey"], UserId("bob"));

  // --follow: the last entry first (so the test knows the follower has read the
  // log), then each new entry as one JSON line, until SIGTERM.
  Background follow(CtlArgv({"tail", "--follow", "-n", "1", "--json", "--interval-ms", "50"}),
                    relay_->dir() + "/follow.out");
  ASSERT_TRUE(follow.WaitFor([&](const std::string& out) {
    return absl::StrContains(out, absl::StrCat("\"event_id\":\"", last, "\""));
  })) << follow.output();
  const uint64_t next = Accept(testing::SignedProfile("bob", "Bobby", now));
  ASSERT_TRUE(follow.WaitFor([&](const std::string& out) {
    return absl::StrContains(out, absl::StrCat("\"event_id\":\"", next, "\""));
  })) << follow.output();
  EXPECT_EQ(follow.Stop(), 0) << "SIGTERM ends --follow cleanly";
  lines = Lines(follow.output());
  ASSERT_EQ(lines.size(), 2u) << follow.output();
  EXPECT_EQ(json::parse(lines[0])["kind"], "migration");
  EXPECT_EQ(json::parse(lines[1])["kind"], "profile");

  EXPECT_EQ(Ctl({"tail", "-n", "257"}).exit_code, 2);
  EXPECT_EQ(Ctl({"tail", "extra"}).exit_code, 2);
}

TEST_F(CtlViewsTest, RejectionsNameCodeAndSenderAndKeepTheLast256) {
  const uint64_t now = NowMs();
  // beta may ban in g1 only; a join ten minutes old is stale.
  auto refused = SendUnary(*stub_, testing::SignedBan("beta", "bob", "g2", now));
  ASSERT_FALSE(refused.status.ok());
  auto stale = SendUnary(*stub_, testing::SignedJoin("alpha", "alice", "g1", now - 600000));
  ASSERT_FALSE(stale.status.ok());

  json recent = CtlJson({"rejections"});
  ASSERT_EQ(recent["rejections"].size(), 2u) << recent;
  EXPECT_EQ(recent["capacity"], "256");
  EXPECT_EQ(recent["total"], "2");
  EXPECT_EQ(recent["rejections"][0]["code"], "not_authorized");
  EXPECT_EQ(recent["rejections"][0]["peer"], "server:beta.example");
  EXPECT_EQ(recent["rejections"][0]["kind"], "ban");
  EXPECT_EQ(recent["rejections"][1]["code"], "stale_timestamp");
  EXPECT_EQ(recent["rejections"][1]["peer"], "server:alpha.example");
  ToolResult human = Ctl({"rejections"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_THAT(human.out, StartsWith("2 refused since start; the last 2 (at most 256):\n"));
  EXPECT_THAT(human.out, HasSubstr("  not_authorized  server:beta.example  ban  not_authorized: "));

  // The ring keeps the last 256: 300 more stale joins push the first two out.
  for (int i = 0; i < 300; ++i) {
    SendUnary(*stub_, testing::SignedJoin("alpha", absl::StrCat("u", i), "g1", now - 600000));
  }
  json full = CtlJson({"rejections"});
  ASSERT_EQ(full["rejections"].size(), 256u);
  EXPECT_EQ(full["total"], "302");
  for (const json& r : full["rejections"]) EXPECT_NE(r["code"], "not_authorized") << r;
}

TEST_F(CtlViewsTest, SubscribersShowOpenStreamsWithFiltersAndLag) {
  const std::string keys = relay_->dir() + "/keys";
  std::filesystem::create_directories(keys);
  ASSERT_TRUE(WriteKeyFile(keys + "/beta.key", testing::TestKey("server-beta")).ok());
  EXPECT_EQ(Ctl({"subscribers"}).out, "no open subscriber streams\n");
  const uint64_t before = NowMs();
  Background subscriber(
      {BinaryPath("tools/fedrelay-client"), "--relay", absl::StrCat("127.0.0.1:", relay_->grpc_port()),
       "subscribe", "--server-id", "beta.example", "--server-key", keys + "/beta.key", "--resume",
       "0", "--guild", "g1", "--kind", "member_joined"},
      relay_->dir() + "/subscriber.out");
  const std::string joined = std::to_string(Accept(testing::SignedJoin("alpha", "alice", "g1", NowMs())));
  json open;
  for (int i = 0; i < 200; ++i) {
    open = CtlJson({"subscribers"});
    if (open["subscribers"].size() == 1 && open["subscribers"][0]["sent_through"] == joined) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(open["subscribers"].size(), 1u) << open << subscriber.output();
  const json& s = open["subscribers"][0];
  EXPECT_EQ(s["identity"], "peer:beta.example");
  EXPECT_EQ(s["transport"], "grpc");
  EXPECT_EQ(s["guild_ids"], json::array({"g1"}));
  EXPECT_EQ(s["kinds"], json::array({"member_joined"}));
  EXPECT_EQ(s["sent_through"], joined);
  EXPECT_EQ(s["lag_events"], "0");
  EXPECT_EQ(s["acked_event_id"], "0");
  uint64_t since = 0;
  ASSERT_TRUE(absl::SimpleAtoi(s["connected_since"].get<std::string>(), &since));
  EXPECT_GE(since, before);
  EXPECT_LE(since, NowMs());
  ToolResult human = Ctl({"subscribers"});
  EXPECT_THAT(human.out, StartsWith("peer:beta.example  grpc  guilds=[g1]  kinds=[member_joined]  acked=0  sent_through=" + joined + "  lag=0 events/0s  connected_since="));
  subscriber.Stop();
  for (int i = 0; i < 200 && CtlJson({"subscribers"})["subscribers"].size() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(CtlJson({"subscribers"})["subscribers"].size(), 0u) << "a closed stream leaves the view";
}

TEST_F(CtlViewsTest, CheckpointPrintsTheServedNoteAndItsVerifierKey) {
  const uint64_t size = Accept(testing::SignedJoin("alpha", "alice", "g1", NowMs()));
  // Wait until the checkpoint covers the log, so /checkpoint and ctl agree.
  json checkpoint;
  for (int i = 0; i < 200; ++i) {
    checkpoint = CtlJson({"checkpoint"});
    if (checkpoint["tree_size"] == size) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(checkpoint["tree_size"], size) << checkpoint;
  const std::string served = testing::HttpRequest(relay_->http_port(), "GET", "/checkpoint").body;
  EXPECT_EQ(checkpoint["note"], served);
  json status = CtlJson({"status"});
  EXPECT_EQ(checkpoint["verifier_key"], status["verifier_key"]);
  EXPECT_EQ(status["log_size"], std::to_string(size));
  ToolResult human = Ctl({"checkpoint"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out, served + "verifier key: " + status["verifier_key"].get<std::string>() + "\n");
}

TEST_F(CtlViewsTest, EveryCommandPrintsOneJsonDocumentWithJson) {
  const uint64_t size = LogSize();
  json peers = CtlJson({"peer", "list"});
  ASSERT_EQ(peers["peers"].size(), 2u) << peers;
  EXPECT_EQ(peers["peers"][0]["server_id"], "alpha.example");
  json added = CtlJson({"peer", "add", "gamma.example", "--pubkey",
                        testing::TestKey("server-gamma").PublicKeyHex()});
  EXPECT_EQ(added["event_id"], std::to_string(size + 1)) << "the receipt of the logged action";
  EXPECT_EQ(CtlJson({"equivocations"})["equivocations"].size(), 0u);
  json key = CtlJson({"apikey", "create", "--name", "ops"});
  EXPECT_THAT(key["api_key"].get<std::string>(), StartsWith("fr_"));
  const std::string key_id = key["key"]["key_id"];
  EXPECT_EQ(CtlJson({"apikey", "list"})["keys"][0]["key_id"], key_id);
  EXPECT_EQ(CtlJson({"apikey", "revoke", key_id})["revoked"], true);
  EXPECT_EQ(CtlJson({"ticket", "list"})["tickets"].size(), 0u);
  EXPECT_EQ(CtlJson({"access", "list"})["requests"].size(), 0u);
  EXPECT_TRUE(CtlJson({"bridge", "list"}).contains("bindings"));
  json keygen = CtlJson({"keygen", "--out", relay_->dir() + "/new.key", "--name", "x.example/log"});
  EXPECT_EQ(keygen["public_key"].get<std::string>().size(), 64u);
  EXPECT_THAT(keygen["verifier_key"].get<std::string>(), StartsWith("x.example/log+"));
  EXPECT_EQ(CtlJson({"vkey", "--key", relay_->dir() + "/new.key", "--name", "x.example/log"})
                ["verifier_key"],
            keygen["verifier_key"]);
  // An error is still text on stderr, with nothing on stdout.
  ToolResult missing = Ctl({"ticket", "show", "st_nope", "--json"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_THAT(missing.err, HasSubstr("not_found"));
}

}  // namespace
}  // namespace fedrelay
