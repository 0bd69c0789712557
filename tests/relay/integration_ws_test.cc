// The integration front door GET /v1/ws (docs/integrations.md) against the
// real fedrelayd, with Beast's WebSocket client and the built fedrelay-ctl:
// hello, every error code, the access request flows (approve, deny, timeout,
// socket gone), events as JSON like a rest.full gRPC subscriber's, ack,
// state, revocation, restart, a stalled reader, limits and metrics.
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "relay/ws_client_util.h"

namespace fedrelay {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::BinaryPath;
using testing::NowMs;
using testing::RelayProcess;
using testing::RunCommand;
using testing::SignedJoin;
using testing::WsClient;

class IntegrationWsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartRelay(); }

  void StartRelay(const std::string& integration_yaml = "", const std::string& rate_limits_yaml = "") {
    RelayProcess::Options options;
    options.rate_limits_yaml = rate_limits_yaml;
    options.extra_yaml = "integration:\n" +
                         (integration_yaml.empty()
                              ? std::string("  access_request_timeout_ms: 60000\n"
                                            "  access_request_cooldown_ms: 0\n"
                                            "  max_frame_bytes: 4096\n"
                                            "  hello_timeout_ms: 1500\n"
                                            "  max_sockets_per_address: 12\n")
                              : integration_yaml);
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
  }

  testing::CommandResult Ctl(const std::string& arguments) {
    return RunCommand(BinaryPath("tools/fedrelay-ctl") + " --data-dir " + relay_->data_dir() +
                      " " + arguments);
  }

  // Federates `count` joins of new users to `guild`; returns the last event id.
  uint64_t Joins(int count, const std::string& guild = "g1") {
    auto stub = v1::FederationRelay::NewStub(relay_->Channel());
    uint64_t last = 0;
    for (int i = 0; i < count; ++i) {
      auto outcome = testing::SendUnary(
          *stub, SignedJoin("alpha", absl::StrCat("ws-member-", serial_++), guild, NowMs()));
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
      last = outcome.receipt.event_id();
    }
    return last;
  }

  // Runs the whole access flow for `client_id` on `ws`; returns the granted key.
  // `operator_pause`: how long the operator takes before approving.
  std::string GrantKey(WsClient& ws, const std::string& client_id,
                       std::chrono::milliseconds operator_pause = std::chrono::milliseconds(0)) {
    ws.Hello(client_id);
    ws.Expect("welcome");
    ws.Send("request_access", {{"clientId", client_id}, {"requestedScopes", {"rest.full"}}});
    const std::string request_id = ws.Expect("access_pending").value("requestId", "");
    std::this_thread::sleep_for(operator_pause);
    const testing::CommandResult approved = Ctl("access approve " + request_id);
    EXPECT_EQ(approved.exit_code, 0) << approved.output;
    return ws.Expect("access_granted").value("apiKey", "");
  }

  // The key id of the API key named `name` in `fedrelay-ctl apikey list`.
  std::string KeyIdNamed(const std::string& name) {
    const std::string listed = Ctl("apikey list").output;
    const size_t at = listed.find("name=" + name);
    EXPECT_NE(at, std::string::npos) << listed;
    if (at == std::string::npos) return "";
    const size_t line = listed.rfind('\n', at);
    return listed.substr(line == std::string::npos ? 0 : line + 1, 16);
  }

  // A WebSocket upgrade request for /v1/ws as plain HTTP: the refusal's status and body.
  testing::HttpResult Upgrade(const std::string& authorization = "") {
    std::map<std::string, std::string> headers = {{"Connection", "Upgrade"},
                                                  {"Upgrade", "websocket"},
                                                  {"Sec-WebSocket-Version", "13"},
                                                  {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    if (!authorization.empty()) headers["Authorization"] = authorization;
    return testing::HttpRequest(relay_->http_port(), "GET", "/v1/ws", "", headers);
  }

  double Metric(const std::string& series) {
    return testing::MetricValue(relay_->http_port(), series, /*absent=*/-1);
  }

  std::unique_ptr<RelayProcess> relay_;
  int serial_ = 0;
};

// The proto3 JSON of the logged events, as a rest.full subscriber sees them.
std::vector<Json> LoggedEventsAsJson(const std::shared_ptr<grpc::Channel>& channel) {
  std::vector<Json> out;
  for (const v1::LogEntry& entry : testing::LogEntries(channel)) {
    for (const v1::StreamResponse& event : entry.events()) {
      std::string json;
      EXPECT_TRUE(google::protobuf::util::MessageToJsonString(event, &json).ok());
      out.push_back(Json::parse(json));
    }
  }
  return out;
}

TEST_F(IntegrationWsTest, HelloGetsWelcomeAndAnythingBeforeItIsMissingHello) {
  WsClient ws(relay_->http_port());
  ASSERT_TRUE(ws.ok());
  ws.Send("state", Json::object());
  ws.ExpectError("missing_hello");
  ws.Send("request_access", {{"clientId", "x"}, {"requestedScopes", {"rest.full"}}});
  ws.ExpectError("missing_hello");
  ws.Hello("com.example.bot");
  const Json welcome = ws.Expect("welcome");
  EXPECT_EQ(welcome["capabilities"], Json({"events", "state", "integration.auth"}));
  ws.Hello("com.example.bot");
  ws.ExpectError("bad_request");  // hello once per socket
}

TEST_F(IntegrationWsTest, EveryErrorCodeIsAFrameAndTheSocketStaysUsable) {
  WsClient ws(relay_->http_port());
  ASSERT_TRUE(ws.ok());
  ws.Send("hello", {{"clientType", "bot"}, {"clientId", "lumia"}, {"version", "1.0.0"}});
  ws.ExpectError("invalid_client_type");
  for (const std::string& bad_id :
       std::vector<std::string>{"", "has space", "-leading", "a..b", std::string(129, 'a')}) {
    ws.Send("hello", {{"clientType", "integration"}, {"clientId", bad_id}, {"version", "1.0.0"}});
    ws.ExpectError("invalid_client_id");
  }
  for (const std::string& bad_version : std::vector<std::string>{"1.0", "v1.0.0", "01.0.0", "1.0.0-"}) {
    ws.Send("hello", {{"clientType", "integration"}, {"clientId", "lumia"}, {"version", bad_version}});
    ws.ExpectError("bad_request");
  }
  ws.SendRaw("{not json");
  ws.ExpectError("bad_request");
  ws.SendRaw("[1,2]");
  ws.ExpectError("bad_request");
  ws.SendRaw(R"({"type": 7, "payload": {}})");
  ws.ExpectError("bad_request");
  ws.SendRaw(R"({"type": "hello", "payload": "x"})");
  ws.ExpectError("bad_request");
  ws.Send("hello", {{"clientType", "integration"}, {"clientId", 5}, {"version", "1.0.0"}});
  ws.ExpectError("bad_request");
  ws.SendRaw(std::string(5000, ' '));  // over integration.max_frame_bytes (4096)
  ws.ExpectError("bad_request");
  ws.Hello("lumia", "fr_" + std::string(64, '0'));  // not a live key
  ws.ExpectError("unauthorized");

  ws.Hello("lumia");
  ws.Expect("welcome");
  ws.Send("no_such_type", Json::object());
  ws.ExpectError("bad_request");
  ws.Send("subscribe", {{"cursor", "0"}});
  ws.ExpectError("unauthorized");
  ws.Send("state", Json::object());
  ws.ExpectError("unauthorized");
  ws.Send("ack", {{"eventId", "1"}});
  ws.ExpectError("unauthorized");
  ws.Send("request_access", {{"clientId", "lumia"}, {"requestedScopes", {"rest.write"}}});
  ws.ExpectError("invalid_scope");
  ws.Send("request_access", {{"clientId", "lumia"}, {"requestedScopes", Json::array()}});
  ws.ExpectError("invalid_scope");
  ws.Send("request_access", {{"clientId", "other"}, {"requestedScopes", {"rest.full"}}});
  ws.ExpectError("invalid_client_id");
  ws.Send("request_access", {{"clientId", "lumia"}, {"requestedScopes", {"rest.full"}}});
  const std::string request_id = ws.Expect("access_pending").value("requestId", "");
  EXPECT_THAT(request_id, StartsWith("req_"));
  ws.Send("request_access", {{"clientId", "lumia"}, {"requestedScopes", {"rest.full"}}});
  ws.ExpectError("request_pending");
  // One pending request per clientId, across sockets too.
  WsClient other(relay_->http_port());
  other.Hello("lumia");
  other.Expect("welcome");
  other.Send("request_access", {{"clientId", "lumia"}, {"requestedScopes", {"rest.full"}}});
  other.ExpectError("request_pending");
  // Over the server's hard limit (1 MiB) the socket itself is closed; others are unaffected.
  WsClient huge(relay_->http_port());
  huge.SendRaw(std::string((1 << 20) + 1, ' '));
  EXPECT_TRUE(huge.WaitClosed());
  ws.Send("no_such_type", Json::object());
  ws.ExpectError("bad_request");

  EXPECT_GE(Metric("fedrelay_integration_frames_refused_total{code=\"bad_request\"}"), 10);
  EXPECT_GE(Metric("fedrelay_integration_frames_refused_total{code=\"invalid_client_id\"}"), 5);
  EXPECT_EQ(Metric("fedrelay_integration_sockets"), 2);
}

TEST_F(IntegrationWsTest, ApproveThroughCtlGrantsAKeyThatStreamsEvents) {
  Joins(3);
  WsClient ws(relay_->http_port());
  ASSERT_TRUE(ws.ok());
  ws.Hello("mod-assistant");
  ws.Expect("welcome");
  ws.Send("request_access", {{"clientId", "mod-assistant"},
                             {"displayName", "Totally Official Bot"},
                             {"requestedScopes", {"rest.full"}}});
  const std::string request_id = ws.Expect("access_pending").value("requestId", "");

  const testing::CommandResult listed = Ctl("access list");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr(request_id));
  EXPECT_THAT(listed.output, HasSubstr("client_id=mod-assistant"));
  EXPECT_THAT(listed.output, HasSubstr("scopes=[rest.full]"));
  EXPECT_THAT(listed.output, HasSubstr("from=127.0.0.1:"));
  EXPECT_THAT(listed.output, HasSubstr("display_name (unverified)=\"Totally Official Bot\""));

  const testing::CommandResult approved = Ctl("access approve " + request_id);
  EXPECT_EQ(approved.exit_code, 0) << approved.output;
  const Json granted = ws.Expect("access_granted");
  EXPECT_EQ(granted.value("requestId", ""), request_id);
  const std::string key = granted.value("apiKey", "");
  EXPECT_THAT(key, StartsWith("fr_"));
  EXPECT_EQ(granted["scopes"], Json({"rest.full"}));
  EXPECT_EQ(granted.value("channelName", ""), "relay.example");
  // Listed (hashed, by id) among the API keys; the secret is not printed.
  const testing::CommandResult keys = Ctl("apikey list");
  EXPECT_THAT(keys.output, HasSubstr("name=integration:mod-assistant"));
  EXPECT_THAT(keys.output, Not(HasSubstr(key)));
  EXPECT_THAT(approved.output, Not(HasSubstr(key)));
  EXPECT_THAT(Ctl("access list").output, HasSubstr("no pending access requests"));
  // Deciding twice is refused.
  EXPECT_EQ(Ctl("access approve " + request_id).exit_code, 1);

  // The same socket may subscribe at once; events match the log, in order.
  ws.Send("subscribe", {{"cursor", "0"}});
  const std::vector<Json> logged = LoggedEventsAsJson(relay_->Channel());
  ASSERT_EQ(logged.size(), 3u);
  for (const Json& expected : logged) {
    Json event = ws.Expect("event");
    EXPECT_EQ(event["eventId"], expected["eventId"]);
    const std::string kind = event.value("kind", "");
    EXPECT_EQ(kind, "member_joined");
    EXPECT_EQ(event["memberJoined"], expected["memberJoined"]);
    EXPECT_EQ(event["timestamp"], expected["timestamp"]);
    EXPECT_THAT(event.value("timestamp", ""), ::testing::EndsWith("Z"));
  }
  // Live events follow.
  const uint64_t live = Joins(1);
  EXPECT_EQ(ws.Expect("event").value("eventId", ""), absl::StrCat(live));

  // A second socket with the key on the upgrade, and state.
  WsClient bearer(relay_->http_port(), "Bearer " + key);
  ASSERT_TRUE(bearer.ok());
  bearer.Hello("mod-assistant");
  bearer.Expect("welcome");
  bearer.Send("state", Json::object());
  const Json state = bearer.Expect("state");
  EXPECT_EQ(state.value("logSize", 0u), live);
  EXPECT_THAT(state.value("checkpoint", ""), StartsWith("relay.example/log\n"));
  EXPECT_THAT(state["peers"], ::testing::Contains(Json("alpha.example")));
  EXPECT_EQ(state.value("subscribers", 0), 1);
  EXPECT_GE(Metric("fedrelay_integration_access_requests_total{outcome=\"granted\"}"), 1);
}

TEST_F(IntegrationWsTest, BadKeyOnTheUpgradeIs401AndSocketsPerAddressAreLimited) {
  const testing::HttpResult bad = Upgrade("Bearer fr_" + std::string(64, '1'));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(Json::parse(bad.body, nullptr, false).value("code", ""), "unauthenticated");
  std::vector<std::unique_ptr<WsClient>> open;
  for (int i = 0; i < 12; ++i) {
    open.push_back(std::make_unique<WsClient>(relay_->http_port()));
    ASSERT_TRUE(open.back()->ok()) << i;
  }
  const testing::HttpResult refused = Upgrade();
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(Json::parse(refused.body, nullptr, false).value("code", ""), "rate_limited");
  // A socket that closes gives its slot back.
  open.pop_back();
  bool reopened = false;
  for (int attempt = 0; attempt < 100 && !reopened; ++attempt) {
    reopened = WsClient(relay_->http_port()).ok();
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(reopened);
}

TEST_F(IntegrationWsTest, DenyTimeoutAndAGoneSocket) {
  // Denied by the operator.
  WsClient ws(relay_->http_port());
  ws.Hello("denied-bot");
  ws.Expect("welcome");
  ws.Send("request_access", {{"requestedScopes", {"rest.full"}}});
  const std::string denied_id = ws.Expect("access_pending").value("requestId", "");
  const testing::CommandResult denied = Ctl("access deny " + denied_id);
  EXPECT_EQ(denied.exit_code, 0) << denied.output;
  const Json answer = ws.Expect("access_denied");
  EXPECT_EQ(answer.value("requestId", ""), denied_id);
  EXPECT_EQ(answer.value("reason", ""), "user_denied");
  EXPECT_EQ(Ctl("access deny " + denied_id).exit_code, 1);
  EXPECT_EQ(Ctl("access approve req_nonexistent").exit_code, 1);
  EXPECT_EQ(Ctl("access approve").exit_code, 2);
  EXPECT_EQ(Ctl("access frobnicate").exit_code, 2);

  // The socket went away: approving says so and mints no key.
  std::string gone_id;
  {
    WsClient gone(relay_->http_port());
    gone.Hello("gone-bot");
    gone.Expect("welcome");
    gone.Send("request_access", {{"requestedScopes", {"rest.full"}}});
    gone_id = gone.Expect("access_pending").value("requestId", "");
  }
  testing::CommandResult approved;
  for (int attempt = 0; attempt < 100; ++attempt) {  // until the relay saw the close
    approved = Ctl("access approve " + gone_id);
    if (approved.output.find("closed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(approved.exit_code, 1) << approved.output;
  EXPECT_THAT(approved.output, HasSubstr("socket has closed"));
  EXPECT_THAT(Ctl("apikey list").output, Not(HasSubstr("gone-bot")));
  EXPECT_GE(Metric("fedrelay_integration_access_requests_total{outcome=\"abandoned\"}"), 1);
}

TEST_F(IntegrationWsTest, UnansweredRequestTimesOutAndRepeatsInsideTheCooldownAreRateLimited) {
  relay_.reset();
  StartRelay("  access_request_timeout_ms: 1000\n  access_request_cooldown_ms: 60000\n");
  WsClient ws(relay_->http_port());
  ws.Hello("slow-bot");
  ws.Expect("welcome");
  ws.Send("request_access", {{"requestedScopes", {"rest.full"}}});
  const std::string request_id = ws.Expect("access_pending").value("requestId", "");
  const auto asked = std::chrono::steady_clock::now();
  const Json answer = ws.Expect("access_denied");
  EXPECT_EQ(answer.value("requestId", ""), request_id);
  EXPECT_EQ(answer.value("reason", ""), "timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(900));
  ws.Send("request_access", {{"requestedScopes", {"rest.full"}}});
  ws.ExpectError("rate_limited");
  // Another clientId is not affected.
  WsClient other(relay_->http_port());
  other.Hello("fast-bot");
  other.Expect("welcome");
  other.Send("request_access", {{"requestedScopes", {"rest.full"}}});
  other.Expect("access_pending");
  EXPECT_GE(Metric("fedrelay_integration_access_requests_total{outcome=\"timeout\"}"), 1);
}

TEST_F(IntegrationWsTest, IdleSocketIsClosedButASubscribedOneIsNot) {
  relay_.reset();
  // 2 s: long enough for fedrelay-ctl to approve and exit and the client to
  // subscribe, even under the sanitizers on a loaded machine.
  StartRelay("  idle_timeout_ms: 2000\n  access_request_cooldown_ms: 0\n");
  WsClient subscribed(relay_->http_port());
  // The operator answers after longer than the idle timeout: the socket was
  // exempt while it waited and gets a fresh idle timeout from the answer.
  GrantKey(subscribed, "idler", std::chrono::milliseconds(2500));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the client reads its key
  subscribed.Send("subscribe", Json::object());
  WsClient idle(relay_->http_port());
  idle.Hello("idler");
  idle.Expect("welcome");
  const auto since = std::chrono::steady_clock::now();
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_GE(std::chrono::steady_clock::now() - since, std::chrono::milliseconds(1900));
  // The subscribed socket is still there and gets new events.
  const uint64_t id = Joins(1);
  EXPECT_EQ(subscribed.Expect("event").value("eventId", ""), absl::StrCat(id));
}

TEST_F(IntegrationWsTest, SocketWithoutHelloIsClosedAfterTheHelloTimeout) {
  WsClient ws(relay_->http_port());
  ASSERT_TRUE(ws.ok());
  ws.ExpectError("missing_hello");  // hello_timeout_ms 1500
  EXPECT_TRUE(ws.WaitClosed());
}

TEST_F(IntegrationWsTest, AckMovesTheKeysDurableCursorAndResumesAfterARestart) {
  Joins(4);
  std::vector<std::string> ids;
  for (const Json& event : LoggedEventsAsJson(relay_->Channel())) ids.push_back(event["eventId"]);
  ASSERT_EQ(ids.size(), 4u);
  WsClient ws(relay_->http_port());
  const std::string key = GrantKey(ws, "resumer");
  ws.Send("subscribe", {{"cursor", 0}, {"kinds", {"member_joined"}}});
  for (const std::string& id : ids) EXPECT_EQ(ws.Expect("event").value("eventId", ""), id);
  ws.Send("ack", {{"eventId", ids[2]}});
  EXPECT_EQ(ws.Expect("ack").value("eventId", ""), ids[2]);
  uint64_t second = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ids[1], &second));
  ws.Send("ack", {{"eventId", second}});  // a number works too; never backwards
  EXPECT_EQ(ws.Expect("ack").value("eventId", ""), ids[2]);
  EXPECT_EQ(Metric("fedrelay_subscriber_acked_event_id{subscriber=\"key:" +
                   KeyIdNamed("integration:resumer") + "\"}"),
            std::stod(ids[2]));
  ws.Send("ack", {{"eventId", "999"}});
  ws.ExpectError("bad_request");  // beyond the log
  ws.Send("subscribe", {{"cursor", "0"}});
  ws.ExpectError("bad_request");  // once per socket

  ASSERT_TRUE(relay_->Restart().ok());
  EXPECT_TRUE(ws.WaitClosed());
  const uint64_t after_restart = Joins(1);
  WsClient again(relay_->http_port());
  again.Hello("resumer", key);
  again.Expect("welcome");
  again.Send("subscribe", Json::object());  // no cursor: from the acknowledged one
  EXPECT_EQ(again.Expect("event").value("eventId", ""), ids[3]);
  EXPECT_EQ(again.Expect("event").value("eventId", ""), absl::StrCat(after_restart));
  // An explicit cursor beyond the log is refused.
  WsClient third(relay_->http_port(), "Bearer " + key);
  third.Hello("resumer");
  third.Expect("welcome");
  third.Send("subscribe", {{"cursor", "12345"}});
  third.ExpectError("bad_request");
}

TEST_F(IntegrationWsTest, RevokingTheKeyClosesItsSocketsAtOnce) {
  WsClient ws(relay_->http_port());
  const std::string key = GrantKey(ws, "revokee");
  ws.Send("subscribe", {{"cursor", "0"}});
  WsClient idle(relay_->http_port(), "Bearer " + key);
  idle.Hello("revokee");
  idle.Expect("welcome");
  const uint64_t first = Joins(1);
  EXPECT_EQ(ws.Expect("event").value("eventId", ""), absl::StrCat(first));

  const std::string key_id = KeyIdNamed("integration:revokee");
  const testing::CommandResult revoked = Ctl("apikey revoke " + key_id);
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  ws.ExpectError("unauthorized");
  EXPECT_TRUE(ws.WaitClosed());
  idle.ExpectError("unauthorized");
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_EQ(Upgrade("Bearer " + key).status, 401);
}

TEST_F(IntegrationWsTest, StalledReaderFallsBackToTheLogAndNeverSlowsAFastOne) {
  relay_.reset();
  StartRelay("", "  message_rate_limit: 0\n");
  WsClient fast(relay_->http_port());
  GrantKey(fast, "fast-reader");
  WsClient stalled(relay_->http_port(), "", /*rcvbuf=*/2048);
  GrantKey(stalled, "stalled-reader");
  stalled.Send("subscribe", {{"cursor", "0"}});
  fast.Send("subscribe", {{"cursor", "0"}});

  // More than a live queue holds (1024 entries), submitted as a stream.
  auto stub = v1::FederationRelay::NewStub(relay_->Channel());
  grpc::ClientContext context;
  auto stream = stub->Submit(&context);
  // Enough to fill the socket buffers between relay and client and then the
  // stream's live queue (1024 entries).
  constexpr int kEvents = 12000;
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      stream->Write(testing::AsSubmission(
          absl::StrCat(i), SignedJoin("alpha", absl::StrCat("stall-", i), "g1", NowMs())));
    }
    stream->WritesDone();
  });
  v1::SubmissionResult result;
  while (stream->Read(&result)) {}
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());

  std::vector<std::string> ids;
  for (const Json& event : LoggedEventsAsJson(relay_->Channel())) ids.push_back(event["eventId"]);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kEvents));
  for (const std::string& id : ids) ASSERT_EQ(fast.Expect("event").value("eventId", ""), id);
  const uint64_t submitted_at = NowMs();
  const uint64_t one = Joins(1);
  EXPECT_EQ(fast.Expect("event").value("eventId", ""), absl::StrCat(one));
  EXPECT_LT(NowMs() - submitted_at, 2000u) << "the fast socket waited behind the stalled one";
  // The stalled socket overflowed its live queue and continued from the log.
  const std::string stalled_key = "key:" + KeyIdNamed("integration:stalled-reader");
  const std::string fast_key = "key:" + KeyIdNamed("integration:fast-reader");
  EXPECT_GE(Metric("fedrelay_subscriber_catchups_total{subscriber=\"" + stalled_key + "\"}"), 1);
  EXPECT_GT(Metric("fedrelay_subscriber_lag_events{subscriber=\"" + stalled_key + "\"}"), 100);
  EXPECT_EQ(Metric("fedrelay_subscriber_lag_events{subscriber=\"" + fast_key + "\"}"), 0);

  // Once it reads, it gets everything, in order, without gaps.
  ids.push_back(absl::StrCat(one));
  for (const std::string& id : ids) ASSERT_EQ(stalled.Expect("event").value("eventId", ""), id);
}

TEST_F(IntegrationWsTest, StoppingTheRelayAnswersNotReady) {
  WsClient subscribed(relay_->http_port());
  GrantKey(subscribed, "stopper");
  subscribed.Send("subscribe", {{"cursor", "0"}});
  subscribed.Send("state", Json::object());
  subscribed.Expect("state");  // subscribed by now
  WsClient waiting(relay_->http_port());
  waiting.Hello("waiter");
  waiting.Expect("welcome");
  waiting.Send("request_access", {{"requestedScopes", {"rest.full"}}});
  const std::string request_id = waiting.Expect("access_pending").value("requestId", "");

  EXPECT_EQ(relay_->Stop(), 0);
  const Json denied = waiting.Expect("access_denied");
  EXPECT_EQ(denied.value("requestId", ""), request_id);
  EXPECT_EQ(denied.value("reason", ""), "not_ready");
  subscribed.ExpectError("not_ready");
}

}  // namespace
}  // namespace fedrelay

namespace fedrelay {
namespace {

TEST_F(IntegrationWsTest, ClientIntegrateRunsTheWholeFlowAndSavesTheKey0600) {
  Joins(2);
  const std::string key_file = relay_->dir() + "/bot.apikey";
  const std::string out_file = relay_->dir() + "/integrate.out";
  const std::string command = BinaryPath("tools/fedrelay-client") +
                              " integrate --client-id com.example.cli --http 127.0.0.1:" +
                              std::to_string(relay_->http_port()) + " --key-file " + key_file +
                              " --cursor 0 --count 2 > " + out_file + " 2>&1";
  std::thread client([&] { EXPECT_EQ(RunCommand(command).exit_code, 0); });
  std::string request_id;
  for (int attempt = 0; attempt < 500 && request_id.empty(); ++attempt) {
    const std::string printed = testing::ReadFile(out_file);
    const size_t at = printed.find("pending request id: ");
    if (at != std::string::npos && printed.find('\n', at) != std::string::npos) {
      request_id = printed.substr(at + 20, printed.find('\n', at) - at - 20);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ASSERT_THAT(request_id, StartsWith("req_"));
  EXPECT_EQ(Ctl("access approve " + request_id).exit_code, 0);
  client.join();
  const std::string printed = testing::ReadFile(out_file);
  EXPECT_THAT(printed, HasSubstr("\"kind\":\"member_joined\""));
  struct stat info {};
  ASSERT_EQ(stat(key_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const std::string key = testing::ReadFile(key_file);
  EXPECT_THAT(key, StartsWith("fr_"));
  EXPECT_THAT(printed, Not(HasSubstr(key.substr(0, 20))));  // the key is never printed
  // With the saved key it asks nothing and follows events at once.
  const testing::CommandResult again = RunCommand(
      BinaryPath("tools/fedrelay-client") + " integrate --client-id com.example.cli --http 127.0.0.1:" +
      std::to_string(relay_->http_port()) + " --key-file " + key_file + " --cursor 0 --count 1");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, Not(HasSubstr("pending request id")));
  EXPECT_EQ(RunCommand(BinaryPath("tools/fedrelay-client") + " integrate").exit_code, 2);
}

}  // namespace
}  // namespace fedrelay
