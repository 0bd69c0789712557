// The member channel (SPEC section 6, docs/member-channel.md) end to end: the
// real fedrelayd, a real HTTP client, messages submitted over gRPC by peers,
// fedrelay-ctl for tickets, and restarts in between.

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
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
using ::testing::StartsWith;
using nlohmann::json;
using testing::BinaryPath;
using testing::HttpResult;
using testing::NowMs;
using testing::RelayProcess;
using testing::RunTool;
using testing::SignedBan;
using testing::SignedCert;
using testing::SignedInvite;
using testing::SignedMigration;
using testing::SignedProfile;
using testing::TestKey;
using testing::UserId;

std::string DeviceId(const std::string& user) { return user + "-phone"; }

std::string CertJson(const v1::DeviceCert& cert) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(cert, &out, options).ok());
  return out;
}

// A MemberSession login body for test user `user` (K_dev "user-<user>-dev").
json LoginBody(const std::string& user, uint64_t timestamp, const v1::DeviceCert& cert) {
  return {{"user_id", UserId(user)},
          {"device_cert", json::parse(CertJson(cert))},
          {"timestamp", timestamp},
          {"signature", federation::MakeMemberSessionSignatureHex(
                            UserId(user), cert.device_id(), timestamp,
                            TestKey("user-" + user + "-dev"))}};
}

json Body(const HttpResult& result) {
  json body = json::parse(result.body, nullptr, false);
  EXPECT_FALSE(body.is_discarded()) << result.body;
  return body;
}

// Every error is {error, code, correlation_id} with the given status and code.
void ExpectError(const HttpResult& result, int status, const std::string& code) {
  EXPECT_EQ(result.status, status) << result.body;
  const json body = Body(result);
  EXPECT_EQ(body.value("code", ""), code) << result.body;
  EXPECT_TRUE(body.contains("error")) << result.body;
  EXPECT_THAT(body.value("correlation_id", ""), StartsWith("req_")) << result.body;
}

class MemberChannelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }

  void StartRelay(RelayProcess::Options options = {}) {
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  }

  HttpResult Post(const std::string& target, const std::string& body,
                  const std::string& session = "") {
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (!session.empty()) headers["Authorization"] = "Bearer " + session;
    return testing::HttpRequest(relay_->http_port(), "POST", target, body, headers);
  }
  HttpResult Get(const std::string& target, const std::string& session) {
    return testing::HttpRequest(relay_->http_port(), "GET", target, "",
                                {{"Authorization", "Bearer " + session}});
  }

  HttpResult LoginResult(const std::string& user) {
    const uint64_t now = NowMs();
    return Post("/member/session", LoginBody(user, now, SignedCert(user, now - 60000, now + 3600000)).dump());
  }
  // A session token for `user`'s phone.
  std::string Login(const std::string& user) {
    const HttpResult result = LoginResult(user);
    EXPECT_EQ(result.status, 200) << result.body;
    return Body(result).value("session_token", "");
  }

  HttpResult Events(const std::string& session, const std::string& user, const std::string& extra = "") {
    return Get(absl::StrCat("/member/channel/events?device_id=", DeviceId(user), extra), session);
  }
  json EventsOk(const std::string& session, const std::string& user, const std::string& extra = "") {
    const HttpResult result = Events(session, user, extra);
    EXPECT_EQ(result.status, 200) << result.body;
    return Body(result);
  }
  HttpResult Ack(const std::string& session, const std::string& user, const std::string& event_id,
                 uint64_t acknowledged_at) {
    return Post(absl::StrCat("/member/channel/events/", event_id, "/ack"),
                json{{"device_id", DeviceId(user)}, {"acknowledged_at", acknowledged_at}}.dump(),
                session);
  }

  uint64_t Send(const auto& message) {
    const auto outcome = testing::SendUnary(*stub_, message);
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    return outcome.receipt.event_id();
  }

  static std::vector<std::string> Classes(const json& page) {
    std::vector<std::string> classes;
    for (const auto& event : page["events"]) classes.push_back(event.value("class", ""));
    return classes;
  }

  testing::ToolResult Ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir", relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunTool(argv, relay_->dir());
  }

  std::unique_ptr<RelayProcess> relay_;
  std::unique_ptr<v1::FederationRelay::Stub> stub_;
};

TEST_F(MemberChannelTest, SessionRegisterPollRedeliverUntilAckAndIdempotentAck) {
  StartRelay();
  const HttpResult login = LoginResult("alice");
  ASSERT_EQ(login.status, 200) << login.body;
  const json session_body = Body(login);
  const std::string session = session_body.value("session_token", "");
  EXPECT_THAT(session, StartsWith("ms_"));
  EXPECT_GT(session_body.value("expires_at", uint64_t{0}), NowMs());

  const HttpResult registered = Post("/member/channel/device/register",
                                     json{{"device_id", DeviceId("alice")},
                                          {"platform", "desktop"},
                                          {"app_version", "0.1.0"},
                                          {"push_provider", "none"}}
                                         .dump(),
                                     session);
  ASSERT_EQ(registered.status, 200) << registered.body;
  const json binding = Body(registered);
  EXPECT_THAT(binding.value("channel_binding_id", ""), StartsWith("ch_"));
  EXPECT_EQ(binding.value("status", ""), "active");
  EXPECT_EQ(binding.value("poll_interval_seconds", 0), 30);
  EXPECT_TRUE(binding["server_time"].is_number_unsigned());
  // Registering again keeps the binding.
  const HttpResult again = Post("/member/channel/device/register",
                                json{{"device_id", DeviceId("alice")}}.dump(), session);
  EXPECT_EQ(Body(again).value("channel_binding_id", ""), binding.value("channel_binding_id", ""));

  // Nothing yet.
  json page = EventsOk(session, "alice");
  EXPECT_TRUE(page["events"].empty());
  EXPECT_EQ(page.value("next_cursor", ""), "evt_0");
  EXPECT_EQ(page.value("membership_status", ""), "active");
  EXPECT_EQ(page.value("user_id", ""), UserId("alice"));

  // An invite from bob to alice reaches alice's channel with its token.
  const uint64_t invite_event =
      Send(SignedInvite("inv-1", "bob", "alice", NowMs(), "secret-token-1"));
  const std::string evt = absl::StrCat("evt_", invite_event);
  page = EventsOk(session, "alice");
  ASSERT_EQ(page["events"].size(), 1u) << page.dump();
  const json event = page["events"][0];
  EXPECT_EQ(event.value("event_id", ""), evt);
  EXPECT_EQ(event.value("class", ""), "dm_invite");
  EXPECT_TRUE(event.value("requires_ack", false));
  EXPECT_EQ(event.value("dedupe_key", ""), "dm_invite:inv-1");
  EXPECT_EQ(event.value("visibility_scope", ""), "member");
  EXPECT_TRUE(event["created_at"].is_number_unsigned());
  EXPECT_EQ(event["payload"].value("token", ""), "secret-token-1");
  EXPECT_EQ(event["payload"].value("inviter_id", ""), UserId("bob"));
  EXPECT_EQ(page.value("next_cursor", ""), evt);

  // Not acked: it comes back, with the same id and dedupe key, also past the cursor.
  page = EventsOk(session, "alice", "&cursor=" + evt);
  ASSERT_EQ(page["events"].size(), 1u) << page.dump();
  EXPECT_EQ(page["events"][0].value("event_id", ""), evt);
  EXPECT_EQ(page["events"][0].value("dedupe_key", ""), "dm_invite:inv-1");

  const HttpResult ack = Ack(session, "alice", evt, 1771360000000);
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(Body(ack).value("status", ""), "acknowledged");
  EXPECT_EQ(Body(ack).value("event_id", ""), evt);
  EXPECT_EQ(Body(ack).value("acknowledged_at", uint64_t{0}), 1771360000000u);
  // Idempotent: the second ack answers the first one's time.
  const HttpResult ack_again = Ack(session, "alice", evt, 1771360999999);
  ASSERT_EQ(ack_again.status, 200) << ack_again.body;
  EXPECT_EQ(Body(ack_again).value("acknowledged_at", uint64_t{0}), 1771360000000u);

  page = EventsOk(session, "alice", "&cursor=" + evt);
  EXPECT_TRUE(page["events"].empty()) << page.dump();
  EXPECT_EQ(page.value("next_cursor", ""), evt);

  // Bob's channel does not get alice's invite.
  const std::string bob = Login("bob");
  EXPECT_TRUE(EventsOk(bob, "bob")["events"].empty());
  // Acking an event that is not yours is not_found.
  ExpectError(Ack(bob, "bob", evt, NowMs()), 404, "not_found");
}

TEST_F(MemberChannelTest, PagesFollowNextCursorInLogOrder) {
  StartRelay();
  const std::string session = Login("carol");
  const uint64_t base = NowMs();
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    expected.push_back(
        absl::StrCat("evt_", Send(SignedProfile("carol", absl::StrCat("Carol ", i), base + i))));
    Send(SignedProfile("dave", absl::StrCat("Dave ", i), base + i));  // someone else's
  }
  expected.push_back(absl::StrCat("evt_", Send(SignedMigration("carol", "https://beta.example", base + 10))));

  std::vector<std::string> seen;
  std::string cursor = "evt_0";
  for (int pages = 0; pages < 10; ++pages) {
    const json page = EventsOk(session, "carol", "&limit=2&cursor=" + cursor);
    EXPECT_LE(page["events"].size(), 2u);
    if (page["events"].empty()) {
      EXPECT_EQ(page.value("next_cursor", ""), cursor);
      break;
    }
    for (const auto& event : page["events"]) seen.push_back(event.value("event_id", ""));
    cursor = page.value("next_cursor", "");
    EXPECT_EQ(cursor, seen.back());
  }
  EXPECT_EQ(seen, expected);
  const json all = EventsOk(session, "carol");
  EXPECT_EQ(Classes(all), (std::vector<std::string>{"profile_update", "profile_update",
                                                     "profile_update", "profile_update",
                                                     "profile_update", "migration"}));
  EXPECT_EQ(all["events"][5]["payload"].value("new_homeserver", ""), "https://beta.example");
  EXPECT_FALSE(all["events"][0].value("requires_ack", true));
}

TEST_F(MemberChannelTest, CursorsAndLimitsAreChecked) {
  StartRelay();
  const std::string erin = Login("erin");
  const uint64_t erin_event = Send(SignedProfile("erin", "Erin", NowMs()));
  const uint64_t frank_event = Send(SignedProfile("frank", "Frank", NowMs()));
  EXPECT_EQ(EventsOk(erin, "erin", absl::StrCat("&cursor=evt_", erin_event))["events"].size(), 0u);
  // Another user's position, one ahead of the log, and garbage.
  ExpectError(Events(erin, "erin", absl::StrCat("&cursor=evt_", frank_event)), 400, "invalid_cursor");
  ExpectError(Events(erin, "erin", absl::StrCat("&cursor=evt_", frank_event + 1)), 400,
              "invalid_cursor");
  ExpectError(Events(erin, "erin", "&cursor=1"), 400, "invalid_cursor");
  ExpectError(Events(erin, "erin", "&limit=0"), 400, "malformed");
  ExpectError(Events(erin, "erin", "&limit=101"), 400, "malformed");
  EXPECT_EQ(EventsOk(erin, "erin", "&limit=100")["events"].size(), 1u);
  // The device must be the session's.
  ExpectError(Get("/member/channel/events?device_id=other-phone", erin), 403, "not_authorized");
  ExpectError(Get("/member/channel/events", erin), 400, "malformed");
  ExpectError(Get("/member/channel/events?device_id=erin-phone", "ms_nonsense"), 401,
              "unauthenticated");
}

TEST_F(MemberChannelTest, ExpiredCertsAndSessionsAreRefused) {
  RelayProcess::Options options;
  options.extra_yaml = "member:\n  session_ttl_ms: 1000\n";
  StartRelay(options);
  const uint64_t now = NowMs();
  ExpectError(Post("/member/session",
                   LoginBody("gina", now, SignedCert("gina", now - 7200000, now - 3600000)).dump()),
              401, "invalid_device_cert");
  // A cert signed by someone else's K_id does not chain to user_id.
  ExpectError(Post("/member/session", LoginBody("gina", now, SignedCert("hank", now - 60000, now + 60000))
                                          .dump()),
              401, "invalid_device_cert");

  const HttpResult login = LoginResult("gina");
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string session = Body(login).value("session_token", "");
  const uint64_t expires_at = Body(login).value("expires_at", uint64_t{0});
  EXPECT_LE(expires_at, NowMs() + 1000);
  // Wait for the session to expire (1 s ttl), then it is refused.
  HttpResult result;
  for (int i = 0; i < 100; ++i) {
    result = Events(session, "gina");
    if (result.status != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ExpectError(result, 401, "unauthenticated");
  EXPECT_GE(NowMs(), expires_at);
}

TEST_F(MemberChannelTest, SessionNeverOutlivesItsCert) {
  StartRelay();
  const uint64_t now = NowMs();
  const uint64_t cert_expiry = now + 5000;
  const HttpResult login =
      Post("/member/session", LoginBody("ivan", now, SignedCert("ivan", now - 60000, cert_expiry)).dump());
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_EQ(Body(login).value("expires_at", uint64_t{0}), cert_expiry);
}

TEST_F(MemberChannelTest, LoginsAreVerifiedFreshAndNotReplayable) {
  StartRelay();
  const uint64_t now = NowMs();
  const v1::DeviceCert cert = SignedCert("judy", now - 60000, now + 3600000);
  json body = LoginBody("judy", now, cert);
  ASSERT_EQ(Post("/member/session", body.dump()).status, 200);
  ExpectError(Post("/member/session", body.dump()), 409, "replayed");
  json stale = LoginBody("judy", now - 600000, cert);
  ExpectError(Post("/member/session", stale.dump()), 409, "stale_timestamp");
  json forged = LoginBody("judy", now + 1, cert);
  forged["signature"] = body["signature"];  // signs another timestamp
  ExpectError(Post("/member/session", forged.dump()), 401, "bad_signature");
  // Decimal-string timestamps and lowerCamelCase cert fields are accepted.
  json camel = LoginBody("judy", now + 2, cert);
  camel["timestamp"] = absl::StrCat(now + 2);
  camel["device_cert"]["deviceId"] = camel["device_cert"]["device_id"];
  camel["device_cert"].erase("device_id");
  EXPECT_EQ(Post("/member/session", camel.dump()).status, 200);
}

TEST_F(MemberChannelTest, MalformedBodiesGetTypedErrorsAndTheRelayKeepsServing) {
  StartRelay();
  const uint64_t now = NowMs();
  const json good = LoginBody("kim", now, SignedCert("kim", now - 60000, now + 3600000));
  std::vector<std::string> bad_bodies = {
      "",
      "not json",
      "[1,2]",
      json{{"user_id", 5}, {"device_cert", good["device_cert"]}, {"timestamp", now}, {"signature", good["signature"]}}.dump(),
      json{{"device_cert", good["device_cert"]}, {"timestamp", now}, {"signature", good["signature"]}}.dump(),
      json{{"user_id", good["user_id"]}, {"device_cert", "x"}, {"timestamp", now}, {"signature", good["signature"]}}.dump(),
      json{{"user_id", good["user_id"]}, {"device_cert", good["device_cert"]}, {"timestamp", -1}, {"signature", good["signature"]}}.dump(),
      json{{"user_id", good["user_id"]}, {"device_cert", good["device_cert"]}, {"timestamp", 1.5}, {"signature", good["signature"]}}.dump(),
      "{\"user_id\": \"\xff\xfe\"}",
      std::string(10000, '[') + std::string(10000, ']'),
      "{\"a\":" + std::string(17, '[') + std::string(17, ']') + "}",
  };
  std::vector<std::string> correlation_ids;
  for (const std::string& body : bad_bodies) {
    const HttpResult result = Post("/member/session", body);
    ExpectError(result, 400, "malformed");
    correlation_ids.push_back(Body(result).value("correlation_id", ""));
  }
  // Too large for the member channel.
  ExpectError(Post("/member/session", json{{"pad", std::string(70000, 'a')}}.dump()), 413,
              "payload_too_large");
  // Still serving.
  EXPECT_EQ(Post("/member/session", good.dump()).status, 200);
  // Each refusal's correlation id is in the relay's log.
  const std::string log = relay_->log_text();
  for (const std::string& id : correlation_ids) EXPECT_THAT(log, HasSubstr(id));
}

TEST_F(MemberChannelTest, LoginRateLimitApplies) {
  RelayProcess::Options options;
  options.rate_limits_yaml = "  login_rate_limit: 2\n";
  StartRelay(options);
  EXPECT_EQ(LoginResult("lena").status, 200);
  EXPECT_EQ(LoginResult("lena").status, 200);
  const HttpResult limited = LoginResult("lena");
  ExpectError(limited, 429, "rate_limited");
  EXPECT_TRUE(limited.headers.count("retry-after")) << limited.body;
}

TEST_F(MemberChannelTest, SyncMailboxAndRegisterRateLimitsApply) {
  RelayProcess::Options options;
  options.rate_limits_yaml = "  sync_mailbox_rate_limit: 2\n  register_rate_limit: 1\n";
  StartRelay(options);
  const std::string session = Login("mia");
  EXPECT_EQ(Events(session, "mia").status, 200);
  EXPECT_EQ(Events(session, "mia").status, 200);
  ExpectError(Events(session, "mia"), 429, "rate_limited");
  const std::string body = json{{"device_id", DeviceId("mia")}}.dump();
  EXPECT_EQ(Post("/member/channel/device/register", body, session).status, 200);
  ExpectError(Post("/member/channel/device/register", body, session), 429, "rate_limited");
}

TEST_F(MemberChannelTest, BanTurnsMembershipInactiveAndAnAppealReachesOperators) {
  StartRelay();
  const std::string session = Login("nora");
  const uint64_t ban_event = Send(SignedBan("alpha", "nora", "g1", NowMs()));
  const std::string evt = absl::StrCat("evt_", ban_event);
  json page = EventsOk(session, "nora");
  ASSERT_EQ(Classes(page), std::vector<std::string>{"ban"}) << page.dump();
  EXPECT_TRUE(page["events"][0].value("requires_ack", false));
  EXPECT_EQ(page["events"][0]["payload"].value("guild_id", ""), "g1");
  EXPECT_EQ(page.value("membership_status", ""), "banned");
  EXPECT_EQ(page["banned_guild_ids"], json::array({"g1"}));

  // Member calls about g1 are inactive; other guilds are not.
  ExpectError(Events(session, "nora", "&guild_id=g1"), 403, "membership_inactive");
  EXPECT_EQ(Events(session, "nora", "&guild_id=g2").status, 200);
  ExpectError(Post("/member/channel/support/ticket",
                   json{{"category", "support"}, {"summary", "why?"}, {"guild_id", "g1"}}.dump(),
                   session),
              403, "membership_inactive");
  // An appeal must name a ban of this user.
  ExpectError(Post("/member/channel/support/ticket",
                   json{{"category", "ban_appeal"}, {"summary", "not me"}}.dump(), session),
              400, "malformed");
  ExpectError(Post("/member/channel/support/ticket",
                   json{{"category", "ban_appeal"}, {"summary", "x"}, {"event_id", "evt_1"}}.dump(),
                   session),
              404, "not_found");
  const HttpResult appeal = Post(
      "/member/channel/support/ticket",
      json{{"category", "ban_appeal"}, {"summary", "I did not spam"}, {"event_id", evt}}.dump(),
      session);
  ASSERT_EQ(appeal.status, 200) << appeal.body;
  EXPECT_EQ(Body(appeal).value("status", ""), "accepted");
  const std::string ticket_id = Body(appeal).value("ticket_id", "");
  EXPECT_THAT(ticket_id, StartsWith("st_"));
  EXPECT_TRUE(Body(appeal)["created_at"].is_number_unsigned());

  // Operators see it through the built fedrelay-ctl, also after a restart.
  ASSERT_TRUE(relay_->Restart().ok());
  auto listed = Ctl({"ticket", "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(ticket_id));
  EXPECT_THAT(listed.out, HasSubstr("ban_appeal"));
  EXPECT_THAT(listed.out, HasSubstr("event=" + evt));
  auto shown = Ctl({"ticket", "show", ticket_id});
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("I did not spam"));
  auto closed = Ctl({"ticket", "close", ticket_id, "--note", "upheld"});
  EXPECT_EQ(closed.exit_code, 0) << closed.err;
  EXPECT_THAT(closed.out, HasSubstr("status:     closed"));
  EXPECT_THAT(Ctl({"ticket", "list"}).out, HasSubstr("no open tickets"));
  EXPECT_THAT(Ctl({"ticket", "list", "--all"}).out, HasSubstr(ticket_id));
  EXPECT_EQ(Ctl({"ticket", "show", "st_nope"}).exit_code, 1);
  EXPECT_EQ(Ctl({"ticket"}).exit_code, 2);
  // The ban is still there after the restart, and the session too.
  EXPECT_EQ(EventsOk(session, "nora").value("membership_status", ""), "banned");
}

TEST_F(MemberChannelTest, TicketsAreBoundedInSizeAndNumber) {
  StartRelay();
  const std::string session = Login("olga");
  ExpectError(Post("/member/channel/support/ticket",
                   json{{"category", "support"}, {"summary", std::string(2001, 'x')}}.dump(), session),
              400, "malformed");
  ExpectError(Post("/member/channel/support/ticket",
                   json{{"category", "Bad Category"}, {"summary", "x"}}.dump(), session),
              400, "malformed");
  auto file = [&](int i) {
    return Post("/member/channel/support/ticket",
                json{{"category", "support"}, {"summary", absl::StrCat("ticket ", i)}}.dump(), session);
  };
  // At most 3 open tickets per user: the 4th waits until an operator closes one.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    const HttpResult filed = file(i);
    ASSERT_EQ(filed.status, 200) << filed.body;
    ids.push_back(Body(filed).value("ticket_id", ""));
  }
  ExpectError(file(3), 429, "rate_limited");
  for (const std::string& id : ids) ASSERT_EQ(Ctl({"ticket", "close", id}).exit_code, 0);
  // 5 per minute per user (the refused 4th counted): 5th accepted, 6th refused.
  EXPECT_EQ(file(4).status, 200);
  const HttpResult limited = file(5);
  ExpectError(limited, 429, "rate_limited");
  EXPECT_TRUE(limited.headers.count("retry-after")) << limited.body;
  EXPECT_THAT(Body(limited).value("error", ""), HasSubstr("/min"));
}

TEST_F(MemberChannelTest, SessionsAcksAndTheIndexSurviveARestart) {
  StartRelay();
  const std::string session = Login("pia");
  const uint64_t first = Send(SignedInvite("inv-r1", "quinn", "pia", NowMs()));
  const uint64_t second = Send(SignedInvite("inv-r2", "quinn", "pia", NowMs()));
  ASSERT_EQ(EventsOk(session, "pia")["events"].size(), 2u);
  ASSERT_EQ(Ack(session, "pia", absl::StrCat("evt_", first), NowMs()).status, 200);

  ASSERT_TRUE(relay_->Restart().ok());
  // Same token; the acked invite is not re-delivered, the other one is.
  json page = EventsOk(session, "pia", absl::StrCat("&cursor=evt_", second));
  ASSERT_EQ(page["events"].size(), 1u) << page.dump();
  EXPECT_EQ(page["events"][0].value("event_id", ""), absl::StrCat("evt_", second));
  // Events after the restart are indexed too; a decision shows as dm_invite_status.
  stub_ = v1::FederationRelay::NewStub(relay_->Channel());
  const uint64_t decided = Send(testing::SignedAccept("inv-r2", "pia", NowMs()));
  page = EventsOk(session, "pia", absl::StrCat("&cursor=evt_", second));
  ASSERT_EQ(Classes(page), (std::vector<std::string>{"dm_invite", "dm_invite_status"})) << page.dump();
  EXPECT_EQ(page["events"][1].value("event_id", ""), absl::StrCat("evt_", decided));
  EXPECT_EQ(page["events"][1]["payload"].value("status", ""), "accepted");
  EXPECT_EQ(page["events"][0]["payload"].value("status", ""), "accepted");
}

TEST_F(MemberChannelTest, FedrelayClientDrivesTheWholeChannel) {
  StartRelay();
  const std::string keys = relay_->dir() + "/keys";
  std::filesystem::create_directories(keys);
  ASSERT_TRUE(WriteKeyFile(keys + "/id.key", TestKey("user-rita-id")).ok());
  ASSERT_TRUE(WriteKeyFile(keys + "/dev.key", TestKey("user-rita-dev")).ok());
  const std::string http = absl::StrCat("127.0.0.1:", relay_->http_port());
  auto member = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"member", "--http", http});
    return testing::RunClient(*relay_, args);
  };
  auto login = member({"login", "--user-key", keys + "/id.key", "--device-key", keys + "/dev.key",
                       "--device-id", "rita-laptop"});
  ASSERT_EQ(login.exit_code, 0) << login.err;
  const std::string session = json::parse(login.out).value("session_token", "");
  ASSERT_THAT(session, StartsWith("ms_"));
  auto registered = member({"register", "--session", session, "--device-id", "rita-laptop"});
  EXPECT_EQ(registered.exit_code, 0) << registered.err;
  EXPECT_THAT(registered.out, HasSubstr("channel_binding_id"));

  const uint64_t ban_event = Send(SignedBan("alpha", "rita", "g9", NowMs()));
  const std::string evt = absl::StrCat("evt_", ban_event);
  auto events = member({"events", "--session", session, "--device-id", "rita-laptop"});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  EXPECT_EQ(json::parse(events.out)["events"][0].value("event_id", ""), evt);
  auto ack = member({"ack", "--session", session, "--device-id", "rita-laptop", "--event-id", evt});
  EXPECT_EQ(ack.exit_code, 0) << ack.err;
  EXPECT_THAT(ack.out, HasSubstr("acknowledged"));
  auto ticket = member({"ticket", "--session", session, "--category", "ban_appeal", "--summary",
                        "please review", "--event-id", evt});
  EXPECT_EQ(ticket.exit_code, 0) << ticket.err;
  EXPECT_THAT(ticket.out, HasSubstr("st_"));
  // A refusal prints its machine code and exits 1; a usage error exits 2.
  auto refused = member({"events", "--session", session, "--device-id", "rita-laptop", "--guild", "g9"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("refused: membership_inactive"));
  EXPECT_EQ(member({"events", "--device-id", "x"}).exit_code, 2);
  EXPECT_EQ(member({"bogus"}).exit_code, 2);
  // The session token is never in the relay's log.
  EXPECT_THAT(relay_->log_text(), ::testing::Not(HasSubstr(session)));
}

}  // namespace
}  // namespace fedrelay
