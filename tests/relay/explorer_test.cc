// The log explorer (docs/explorer.md) against the real fedrelayd with a
// populated log: the page and its headers, the JSON endpoints that feed it,
// and, in a real headless Chromium, the in-browser verification of the
// checkpoint and of an entry's inclusion.
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/headless_browser_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "store/note.h"

namespace fedrelay::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

// Enough joins that the log spans two entry bundles and a level-1 hash tile.
constexpr int kJoins = 270;
constexpr char kInviteToken[] = "explorer-secret-invite-token";
constexpr char kOrigin[] = "relay.example/log";  // the fixture's relay.origin

std::string PercentEncode(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppend(&out, "%", absl::AsciiStrToUpper(HexEncode(std::string(1, static_cast<char>(c)))));
    }
  }
  return out;
}

std::string RelayVerifierKey() { return store::FormatVerifierKey(kOrigin, TestKey("relay").PublicKey()); }

json ParseJson(const std::string& body) { return json::parse(body, nullptr, /*allow_exceptions=*/false); }

class ExplorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    auto relay = RelayProcess::Start();
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = std::move(*relay);
    ASSERT_NO_FATAL_FAILURE(Populate());
    ASSERT_NO_FATAL_FAILURE(WaitForCheckpointOfWholeLog());
  }

  void Populate() {
    auto stub = v1::FederationRelay::NewStub(relay_->Channel());
    const uint64_t now = NowMs();
    // Alice and Bob first, so that the invite and its kin have members to name.
    for (const char* user : {"alice", "bob"}) {
      const auto joined = SendUnary(*stub, SignedJoin("alpha", user, "g1", now));
      ASSERT_TRUE(joined.status.ok()) << joined.status.error_message();
      if (std::string(user) == "alice") alice_join_event_id_ = joined.receipt.event_id();
    }
    const auto invite = SendUnary(*stub, SignedInvite("explorer-invite-1", "alice", "bob", now, kInviteToken));
    ASSERT_TRUE(invite.status.ok()) << invite.status.error_message();
    invite_event_id_ = invite.receipt.event_id();
    const auto ban = SendUnary(*stub, SignedBan("beta", "bob", "g1", now));
    ASSERT_TRUE(ban.status.ok()) << ban.status.error_message();
    ban_event_id_ = ban.receipt.event_id();

    // The bulk through one Submit stream: one durable batch after another.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    auto stream = stub->Submit(&context);
    for (int i = 0; i < kJoins; ++i) {
      ASSERT_TRUE(stream->Write(AsSubmission(absl::StrCat("join-", i),
                                             SignedJoin(i % 2 == 0 ? "alpha" : "beta", absl::StrCat("explorer-u", i),
                                                        i % 3 == 0 ? "g2" : "g1", now))));
    }
    ASSERT_TRUE(stream->WritesDone());
    v1::SubmissionResult result;
    int accepted = 0;
    while (stream->Read(&result)) {
      EXPECT_TRUE(result.has_receipt()) << result.error().message();
      accepted += result.has_receipt() ? 1 : 0;
    }
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(accepted, kJoins);

    const auto migration = SendUnary(*stub, SignedMigration("alice", "beta.example", now));
    ASSERT_TRUE(migration.status.ok()) << migration.status.error_message();
    entries_ = LogEntries(relay_->Channel());
    ASSERT_GT(entries_.size(), 256u);  // two entry bundles
  }

  void WaitForCheckpointOfWholeLog() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      HttpResult checkpoint = HttpRequest(relay_->http_port(), "GET", "/checkpoint");
      const std::vector<std::string> lines = absl::StrSplit(checkpoint.body, '\n');
      uint64_t size = 0;
      if (checkpoint.status == 200 && lines.size() > 2 && absl::SimpleAtoi(lines[1], &size) &&
          size == entries_.size()) {
        return;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no checkpoint of the whole log: " << checkpoint.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  json GetJson(const std::string& target, int want_status = 200) {
    HttpResult result = HttpRequest(relay_->http_port(), "GET", target);
    EXPECT_EQ(result.status, want_status) << target << ": " << result.body;
    EXPECT_THAT(result.headers["content-type"], HasSubstr("application/json")) << target;
    return ParseJson(result.body);
  }

  std::string PageUrl(const std::string& path, const std::string& vkey) const {
    return absl::StrCat("http://127.0.0.1:", relay_->http_port(), path, "#key=", PercentEncode(vkey));
  }

  std::unique_ptr<RelayProcess> relay_;
  std::vector<v1::LogEntry> entries_;
  uint64_t invite_event_id_ = 0;
  uint64_t alice_join_event_id_ = 0;
  uint64_t ban_event_id_ = 0;
};

// ---------------------------------------------------------------------------
// The page.

TEST_F(ExplorerTest, PageIsServedWithAStrictPolicyAndRevalidation) {
  HttpResult page = HttpRequest(relay_->http_port(), "GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  // The checks first (verify.js), then the page's script that uses them (app.js).
  const size_t verify_at = page.body.find("<script src=\"/explorer/verify.js\"");
  const size_t app_at = page.body.find("<script src=\"/explorer/app.js\"");
  ASSERT_NE(verify_at, std::string::npos);
  ASSERT_NE(app_at, std::string::npos);
  EXPECT_LT(verify_at, app_at);
  const std::string policy = page.headers["content-security-policy"];
  EXPECT_THAT(policy, HasSubstr("default-src 'none'"));
  EXPECT_THAT(policy, HasSubstr("script-src 'self'"));
  EXPECT_THAT(policy, HasSubstr("connect-src 'self'"));
  EXPECT_THAT(policy, HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(policy, Not(HasSubstr("unsafe")));
  EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(page.headers["cache-control"], "no-cache");
  const std::string etag = page.headers["etag"];
  ASSERT_FALSE(etag.empty());

  HttpResult again = HttpRequest(relay_->http_port(), "GET", "/", "", {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.body, "");
  EXPECT_EQ(again.headers["etag"], etag);
  HttpResult other = HttpRequest(relay_->http_port(), "GET", "/", "", {{"If-None-Match", "\"stale\""}});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, page.body);

  HttpResult script = HttpRequest(relay_->http_port(), "GET", "/explorer/verify.js");
  ASSERT_EQ(script.status, 200);
  EXPECT_EQ(script.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_THAT(script.body, HasSubstr("crypto.subtle.verify"));
  EXPECT_NE(script.headers["etag"], etag);
  EXPECT_EQ(script.headers["cache-control"], "no-cache");
  HttpResult app = HttpRequest(relay_->http_port(), "GET", "/explorer/app.js");
  ASSERT_EQ(app.status, 200);
  EXPECT_EQ(app.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_THAT(app.body, HasSubstr("verifyCheckpoint("));
  HttpResult style = HttpRequest(relay_->http_port(), "GET", "/explorer/app.css");
  ASSERT_EQ(style.status, 200);
  EXPECT_EQ(style.headers["content-type"], "text/css; charset=utf-8");

  // The app's own routes are the page; a missing file is not.
  for (const char* route : {"/explorer", "/explorer/", "/explorer/entry/3", "/explorer/user/abc"}) {
    HttpResult routed = HttpRequest(relay_->http_port(), "GET", route);
    EXPECT_EQ(routed.status, 200) << route;
    EXPECT_EQ(routed.body, page.body) << route;
  }
  HttpResult missing = HttpRequest(relay_->http_port(), "GET", "/explorer/missing.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ParseJson(missing.body).value("code", ""), "not_found") << missing.body;
}

// ---------------------------------------------------------------------------
// GET /v1/log/entries

TEST_F(ExplorerTest, EntriesAreTheLogsEntriesInProto3Json) {
  const json page = GetJson("/v1/log/entries?start=0&end=8");
  ASSERT_TRUE(page.is_object());
  EXPECT_EQ(page["treeSize"], entries_.size());
  EXPECT_EQ(page["start"], 0);
  EXPECT_EQ(page["end"], 8);
  ASSERT_EQ(page["entries"].size(), 8u);
  bool saw_join = false;
  for (size_t i = 0; i < 8; ++i) {
    const json& entry = page["entries"][i];
    const v1::LogEntry& logged = entries_[i];
    EXPECT_EQ(entry.value("eventId", ""), std::to_string(i + 1));  // 64-bit integers are strings
    EXPECT_EQ(entry.value("receivedAt", ""), std::to_string(logged.received_at()));
    EXPECT_EQ(entry.value("kind", ""), logged.kind());
    if (logged.has_federation_request()) {
      saw_join = true;
      const json& request = entry["federationRequest"];
      EXPECT_EQ(request.value("originServerId", ""), logged.federation_request().origin_server_id());
      EXPECT_EQ(request.value("userPubkey", ""), logged.federation_request().user_pubkey());
      EXPECT_EQ(request.value("guildId", ""), logged.federation_request().guild_id());
      // bytes are lowercase hex, as every signature in the relay's JSON.
      EXPECT_EQ(request.value("signature", ""), HexEncode(logged.federation_request().signature()));
      EXPECT_EQ(request.value("signature", "").size(), 128u);
      ASSERT_FALSE(entry["events"].empty());
      EXPECT_EQ(entry["events"][0]["memberJoined"].value("guildId", ""), logged.federation_request().guild_id());
    }
    if (logged.has_operator_action()) {
      EXPECT_EQ(entry["operatorAction"].value("signature", ""), HexEncode(logged.operator_action().signature()));
    }
  }
  EXPECT_TRUE(saw_join);

  // Any window, e.g. the last two entries.
  const uint64_t size = entries_.size();
  const json tail = GetJson(absl::StrCat("/v1/log/entries?start=", size - 2, "&end=", size));
  ASSERT_EQ(tail["entries"].size(), 2u);
  EXPECT_EQ(tail["entries"][1].value("eventId", ""), std::to_string(size));
  EXPECT_EQ(tail["entries"][1].value("kind", ""), "migration");
}

TEST_F(ExplorerTest, EntriesNeverShowAnInviteToken) {
  const json page = GetJson(absl::StrCat("/v1/log/entries?start=", invite_event_id_ - 1, "&end=", invite_event_id_));
  ASSERT_EQ(page["entries"].size(), 1u);
  const json& entry = page["entries"][0];
  EXPECT_EQ(entry.value("kind", ""), "dm_invite");
  const json& invite = entry["dmInvite"];
  EXPECT_EQ(invite.value("inviteId", ""), "explorer-invite-1");
  EXPECT_FALSE(invite.contains("token"));
  EXPECT_EQ(invite.value("tokenSha256", ""), HexEncode(Sha256(kInviteToken)));
  HttpResult raw = HttpRequest(relay_->http_port(), "GET", "/v1/log/entries?start=0&end=100");
  EXPECT_THAT(raw.body, Not(HasSubstr(kInviteToken)));
}

TEST_F(ExplorerTest, EntriesComeInBoundedRanges) {
  const uint64_t size = entries_.size();
  // At most 100 per request: `end` says where the reply stopped.
  const json wide = GetJson("/v1/log/entries?start=10&end=1000");
  EXPECT_EQ(wide["start"], 10);
  EXPECT_EQ(wide["end"], 110);
  EXPECT_EQ(wide["entries"].size(), 100u);
  EXPECT_EQ(wide["entries"][99].value("eventId", ""), "110");
  // `end` beyond the log is cut at the log's size.
  const json beyond = GetJson(absl::StrCat("/v1/log/entries?start=", size - 3, "&end=", size + 50));
  EXPECT_EQ(beyond["end"], size);
  EXPECT_EQ(beyond["entries"].size(), 3u);

  for (const char* bad : {"/v1/log/entries", "/v1/log/entries?start=0", "/v1/log/entries?end=5",
                                "/v1/log/entries?start=-1&end=5", "/v1/log/entries?start=a&end=5",
                                "/v1/log/entries?start=5&end=5", "/v1/log/entries?start=6&end=5",
                                "/v1/log/entries?start=%2B1&end=5"}) {
    const json error = GetJson(bad, 400);
    EXPECT_EQ(error.value("code", ""), "malformed") << bad;
    EXPECT_THAT(error.value("correlation_id", ""), ::testing::StartsWith("req_")) << bad;
  }
  const json past = GetJson(absl::StrCat("/v1/log/entries?start=", size, "&end=", size + 1), 404);
  EXPECT_EQ(past.value("code", ""), "not_found");
}

// ---------------------------------------------------------------------------
// GET /v1/log/summary

TEST_F(ExplorerTest, SummaryNamesPeersWhatTheyMayBanTheKeyAndTheGrowth) {
  const json summary = GetJson("/v1/log/summary");
  ASSERT_TRUE(summary.is_object());
  EXPECT_EQ(summary.value("serverId", ""), "relay.example");
  EXPECT_EQ(summary.value("origin", ""), kOrigin);
  EXPECT_EQ(summary.value("verifierKey", ""), RelayVerifierKey());
  EXPECT_EQ(summary.value("relayPubkey", ""), TestKey("relay").PublicKeyHex());
  EXPECT_EQ(summary["treeSize"], entries_.size());
  EXPECT_EQ(summary["checkpointSize"], entries_.size());

  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  grpc::ClientContext context;
  v1::ServerInfoResponse info;
  ASSERT_TRUE(stub->GetServerInfo(&context, {}, &info).ok());
  EXPECT_EQ(summary.value("version", ""), info.version());

  ASSERT_EQ(summary["peers"].size(), 2u);
  EXPECT_EQ(summary["peers"][0].value("serverId", ""), "alpha.example");
  EXPECT_EQ(summary["peers"][0].value("pubkey", ""), TestKey("server-alpha").PublicKeyHex());
  EXPECT_EQ(summary["peers"][0]["mayBan"], json::array({"*"}));
  EXPECT_EQ(summary["peers"][1].value("serverId", ""), "beta.example");
  EXPECT_EQ(summary["peers"][1]["mayBan"], json::array({"g1"}));

  const json& growth = summary["growth"];
  ASSERT_FALSE(growth.empty());
  EXPECT_LE(growth.size(), 24u);
  uint64_t previous_size = 0;
  for (const json& point : growth) {
    const uint64_t size = point["treeSize"];
    const uint64_t time = point["time"];
    EXPECT_GT(size, previous_size);
    // The point's time is that entry's received_at, which may step back a few milliseconds
    // between neighbours (requests are validated concurrently; docs/protocol-notes.md).
    EXPECT_EQ(time, entries_[size - 1].received_at());
    previous_size = size;
  }
  EXPECT_EQ(previous_size, entries_.size());
}

// ---------------------------------------------------------------------------
// In a real browser.

// The verdicts the page writes into the DOM, as {checkpoint, checkpointText, inclusion, inclusionText}.
constexpr char kVerdicts[] = R"JS((() => {
  const c = document.getElementById('checkpoint-verdict');
  const i = document.getElementById('inclusion-verdict');
  if (!c || !i) return null;
  return {checkpoint: c.dataset.state, checkpointText: c.textContent,
          inclusion: i.dataset.state, inclusionText: i.textContent};
})())JS";

bool Settled(const json& verdicts) {
  if (!verdicts.is_object()) return false;
  const auto final_state = [](const std::string& s) { return s == "verified" || s == "failed"; };
  return final_state(verdicts.value("checkpoint", "")) && final_state(verdicts.value("inclusion", ""));
}

// chromium is installed by tools/scripts/deps.sh; only outside CI may its absence skip.
std::unique_ptr<HeadlessBrowser> LaunchBrowserOrSkip(bool* skipped) {
  *skipped = false;
  const std::optional<std::string> binary = HeadlessBrowser::Find();
  if (!binary.has_value()) {
    const char* ci = std::getenv("CI");
    EXPECT_TRUE(ci == nullptr || *ci == '\0')
        << "chromium is not installed, and CI must run the browser test (tools/scripts/deps.sh installs it)";
    *skipped = true;
    return nullptr;
  }
  auto browser = HeadlessBrowser::Launch(*binary, 1100, 900);
  EXPECT_TRUE(browser.ok()) << browser.status();
  return browser.ok() ? std::move(*browser) : nullptr;
}

std::string ScreenshotPath() {
  if (const char* path = std::getenv("FEDRELAY_EXPLORER_SCREENSHOT"); path != nullptr && *path != '\0') return path;
  return std::string(FEDRELAY_BINARY_DIR) + "/explorer-screenshot.png";
}

TEST_F(ExplorerTest, BrowserVerifiesTheCheckpointAndAnEntrysInclusion) {
  bool skipped = false;
  auto browser = LaunchBrowserOrSkip(&skipped);
  if (skipped) GTEST_SKIP() << "chromium is not installed (tools/scripts/deps.sh installs it)";
  ASSERT_NE(browser, nullptr);

  // An entry in the second entry bundle: its path crosses tiles of two levels.
  const uint64_t event_id = entries_.size() - 5;
  ASSERT_GT(event_id, 256u);
  ASSERT_TRUE(browser->Navigate(PageUrl(absl::StrCat("/explorer/entry/", event_id), RelayVerifierKey())).ok());
  auto verdicts = browser->WaitFor(kVerdicts, Settled, std::chrono::seconds(60));
  ASSERT_TRUE(verdicts.ok()) << verdicts.status() << "\n" << browser->log_text();
  EXPECT_EQ(verdicts->value("checkpoint", ""), "verified") << verdicts->dump();
  EXPECT_THAT(verdicts->value("checkpointText", ""),
              HasSubstr(absl::StrCat("checkpoint verified: signed by ", kOrigin, ", tree size ", entries_.size())));
  EXPECT_EQ(verdicts->value("inclusion", ""), "verified") << verdicts->dump();
  EXPECT_THAT(verdicts->value("inclusionText", ""), HasSubstr(absl::StrCat("inclusion verified: entry ", event_id)));

  // The first entries' paths stay in the first tiles; the invite is shown without its token.
  for (const uint64_t id : {uint64_t{1}, invite_event_id_}) {
    auto checked = browser->Evaluate(absl::StrCat(
        "selectEntry(", id, ", true).then(() => document.getElementById('inclusion-verdict').textContent)"));
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_THAT(checked->get<std::string>(), HasSubstr(absl::StrCat("inclusion verified: entry ", id, " ")));
  }
  auto text = browser->Evaluate("document.body.innerText");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(text->get<std::string>(), HasSubstr("explorer-invite-1"));
  EXPECT_THAT(text->get<std::string>(), Not(HasSubstr(kInviteToken)));
  EXPECT_THAT(text->get<std::string>(), HasSubstr("alpha.example"));
  EXPECT_THAT(text->get<std::string>(), HasSubstr("every guild"));

  // Search by user key lists the entries that name the key: Alice's join, her invite, her migration.
  auto found = browser->Evaluate(absl::StrCat("searchUser('", UserId("alice"), R"JS(').then(() => ({
      status: document.getElementById('entries-status').textContent,
      ids: Array.from(document.querySelectorAll('#entries-body tr')).map((r) => r.dataset.eventId)})))JS"));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(found->value("status", ""), HasSubstr("3 entries mention"));
  EXPECT_EQ((*found)["ids"], json::array({std::to_string(entries_.size()), std::to_string(invite_event_id_),
                                          std::to_string(alice_join_event_id_)}))
      << found->dump();
  // Search by event id opens that entry.
  ASSERT_TRUE(browser->Evaluate(R"JS((() => { document.getElementById('search').value = '7';
      document.getElementById('search-form').requestSubmit(); return true; })())JS").ok());
  auto opened = browser->WaitFor(
      "document.getElementById('entry-title').textContent",
      [](const json& title) { return title.is_string() && absl::StartsWith(title.get<std::string>(), "event 7 "); },
      std::chrono::seconds(30));
  EXPECT_TRUE(opened.ok()) << opened.status();

  // The page's own checks refuse a note changed after signing.
  auto tampered = browser->Evaluate(absl::StrCat(R"JS((async () => {
      const verifier = await parseVerifierKey(')JS", RelayVerifierKey(), R"JS(');
      const note = await (await fetch('/checkpoint')).text();
      const forged = note.replace(/\n(\d+)\n/, (m, n) => '\n' + (Number(n) + 1) + '\n');
      if (forged === note) return 'not tampered';
      try { await verifyCheckpoint(forged, verifier); return 'accepted'; }
      catch (e) { return 'rejected: ' + e.message; } })())JS"));
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  EXPECT_THAT(tampered->get<std::string>(), HasSubstr("rejected: the signature does not verify"));

  // The screenshot for docs/explorer.md: the state after verifying the invite.
  auto png = browser->ScreenshotPng();
  ASSERT_TRUE(png.ok()) << png.status();
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::ofstream(ScreenshotPath(), std::ios::binary) << *png;
}

TEST_F(ExplorerTest, BrowserRefusesACheckpointUnderAWrongPinnedKey) {
  bool skipped = false;
  auto browser = LaunchBrowserOrSkip(&skipped);
  if (skipped) GTEST_SKIP() << "chromium is not installed (tools/scripts/deps.sh installs it)";
  ASSERT_NE(browser, nullptr);

  // A well-formed key of the same name, but not the relay's; then one that is no key at all.
  const std::string impostor = store::FormatVerifierKey(kOrigin, TestKey("not-the-relay").PublicKey());
  for (const std::string& pinned : {impostor, std::string("relay.example/log+00000000+AAAA")}) {
    SCOPED_TRACE(pinned);
    ASSERT_TRUE(browser->Navigate("about:blank").ok());
    ASSERT_TRUE(browser->Navigate(PageUrl("/explorer/entry/3", pinned)).ok());
    auto verdicts = browser->WaitFor(kVerdicts, Settled, std::chrono::seconds(60));
    ASSERT_TRUE(verdicts.ok()) << verdicts.status() << "\n" << browser->log_text();
    EXPECT_EQ(verdicts->value("checkpoint", ""), "failed") << verdicts->dump();
    EXPECT_THAT(verdicts->value("checkpointText", ""), HasSubstr("checkpoint NOT verified"));
    EXPECT_EQ(verdicts->value("inclusion", ""), "failed") << verdicts->dump();
    EXPECT_THAT(verdicts->value("inclusionText", ""), HasSubstr("no verified checkpoint"));
    auto text = browser->Evaluate("document.body.innerText");
    ASSERT_TRUE(text.ok());
    EXPECT_THAT(text->get<std::string>(), Not(HasSubstr("checkpoint verified")));
    EXPECT_THAT(text->get<std::string>(), Not(HasSubstr("inclusion verified")));
  }
}

}  // namespace
}  // namespace fedrelay::testing
