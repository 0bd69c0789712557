// The integration WebSocket (/v1/ws) on fedrelay-fanout nodes (docs/scale-out.md):
// a real nats-server, the real sequencer (fedrelayd with bus.nats_url) and
// real fan-out nodes, spoken to with Beast's WebSocket client. A key the
// operator approves on the sequencer streams the same frames from a node as
// from the sequencer, its cursor moves across nodes, access requests stay on
// the sequencer, and a revocation closes the key's sockets on every node,
// also on a node that was down when it happened. The bus carries only the
// keys' hashes.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/nats_bus.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/bus_test_util.h"
#include "relay/fanout_fixture_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"
#include "relay/ws_client_util.h"

namespace fedrelay {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::BinaryPath;
using testing::LogSizeAt;
using testing::NowMs;
using testing::RunCommand;
using testing::SendUnary;
using testing::SignedJoin;
using testing::WaitFor;
using testing::WsClient;

class FanoutWsTest : public testing::FanoutClusterTest {
 protected:
  std::string ExtraSequencerYaml() const override {
    return "integration:\n  access_request_cooldown_ms: 0\n";
  }

  testing::CommandResult Ctl(const std::string& arguments) {
    return RunCommand(BinaryPath("tools/fedrelay-ctl") + " --data-dir " + sequencer_->data_dir() +
                      " " + arguments);
  }

  // Submits `count` joins to the sequencer; returns the last event id.
  uint64_t Joins(int count) {
    auto stub = v1::FederationRelay::NewStub(sequencer_->Channel());
    uint64_t last = 0;
    for (int i = 0; i < count; ++i) {
      auto outcome = SendUnary(*stub, SignedJoin("alpha", absl::StrCat("fan-ws-", serial_++), "g1",
                                                 NowMs()));
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
      last = outcome.receipt.event_id();
    }
    return last;
  }

  // The whole access flow on the sequencer's /v1/ws, approved with fedrelay-ctl.
  std::string GrantKeyOnTheSequencer(const std::string& client_id) {
    // Minting a key needs the relay ready (a fresh checkpoint), which a loaded
    // machine may delay for a moment after the last submission.
    EXPECT_TRUE(WaitFor(
        [&] { return testing::HttpRequest(sequencer_->http_port(), "GET", "/readyz").status == 200; }));
    WsClient ws(sequencer_->http_port());
    EXPECT_TRUE(ws.ok());
    ws.Hello(client_id);
    ws.Expect("welcome");
    ws.Send("request_access", {{"clientId", client_id}, {"requestedScopes", {"rest.full"}}});
    const std::string request_id = ws.Expect("access_pending").value("requestId", "");
    const testing::CommandResult approved = Ctl("access approve " + request_id);
    EXPECT_EQ(approved.exit_code, 0) << approved.output;
    return ws.Expect("access_granted").value("apiKey", "");
  }

  // A socket on `port` that said hello with `key` and was welcomed, once the
  // node knows the key (it learns of new keys through the bus); nullptr when
  // it never does.
  static std::unique_ptr<WsClient> Welcomed(int port, const std::string& key,
                                            const std::string& client_id) {
    std::unique_ptr<WsClient> welcomed;
    WaitFor([&] {
      auto ws = std::make_unique<WsClient>(port);
      if (!ws->ok()) return false;
      ws->Hello(client_id, key);
      const std::optional<Json> frame = ws->Read();
      if (!frame.has_value() || (*frame)["type"] != "welcome") return false;
      welcomed = std::move(ws);
      return true;
    });
    return welcomed;
  }

  // The status of a /v1/ws upgrade carrying `key` as a Bearer token.
  static int UpgradeStatus(int port, const std::string& key) {
    return testing::HttpRequest(port, "GET", "/v1/ws", "",
                                {{"Connection", "Upgrade"},
                                 {"Upgrade", "websocket"},
                                 {"Sec-WebSocket-Version", "13"},
                                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                 {"Authorization", "Bearer " + key}})
        .status;
  }

  // The event frames of a fresh subscription from `cursor`, up to the one of
  // `last` (or the first missing frame).
  static std::vector<Json> Events(WsClient& ws, const Json& cursor, uint64_t last) {
    ws.Send("subscribe", cursor.is_null() ? Json::object() : Json{{"cursor", cursor}});
    std::vector<Json> events;
    while (events.size() < 1000) {
      const Json event = ws.Expect("event");
      if (event.empty()) break;
      events.push_back(event);
      if (event.value("eventId", "") == absl::StrCat(last)) break;
    }
    return events;
  }

  int serial_ = 0;
};

TEST_F(FanoutWsTest, AKeyApprovedOnTheSequencerStreamsFromANodeAndResumesOnAnother) {
  auto node_a = StartNode("a");
  auto node_b = StartNode("b");
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);
  const uint64_t last = Joins(4);
  const std::string key = GrantKeyOnTheSequencer("fan-reader");
  ASSERT_THAT(key, ::testing::StartsWith("fr_"));
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node_a->http_port()) == last; }));
  ASSERT_TRUE(WaitFor([&] { return LogSizeAt(node_b->http_port()) == last; }));

  // Node a streams exactly the frames the sequencer streams.
  std::unique_ptr<WsClient> direct = Welcomed(sequencer_->http_port(), key, "fan-reader");
  std::unique_ptr<WsClient> on_a = Welcomed(node_a->http_port(), key, "fan-reader");
  ASSERT_NE(direct, nullptr);
  ASSERT_NE(on_a, nullptr) << node_a->log_text();
  const std::vector<Json> expected = Events(*direct, "0", last);
  const std::vector<Json> streamed = Events(*on_a, "0", last);
  ASSERT_GE(streamed.size(), 4u);  // the four joins, at least
  EXPECT_EQ(streamed, expected);
  EXPECT_EQ(streamed.back().value("eventId", ""), absl::StrCat(last));
  // Live events follow on the node, as on the sequencer.
  const uint64_t live = Joins(1);
  const Json live_on_a = on_a->Expect("event");
  EXPECT_EQ(live_on_a.value("eventId", ""), absl::StrCat(live));
  EXPECT_EQ(live_on_a, direct->Expect("event"));
  on_a->Send("state", Json::object());
  const Json state = on_a->Expect("state");
  EXPECT_EQ(state.value("logSize", 0u), live);
  EXPECT_THAT(state["peers"], ::testing::Contains(Json("alpha.example")));

  // Acknowledged on node a, the key resumes on node b right after the ack.
  on_a->Send("ack", {{"eventId", absl::StrCat(last - 1)}});
  EXPECT_EQ(on_a->Expect("ack").value("eventId", ""), absl::StrCat(last - 1));
  on_a.reset();
  std::unique_ptr<WsClient> on_b = Welcomed(node_b->http_port(), key, "fan-reader");
  ASSERT_NE(on_b, nullptr) << node_b->log_text();
  const std::vector<Json> resumed = Events(*on_b, Json(), live);
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].value("eventId", ""), absl::StrCat(last));
  // The cursor lives on the bus, shared by the nodes: an older ack on b never
  // moves it back.
  on_b->Send("ack", {{"eventId", "1"}});
  EXPECT_EQ(on_b->Expect("ack").value("eventId", ""), absl::StrCat(last - 1));

  // Access requests go to the sequencer, whose operator approves them.
  WsClient asking(node_a->http_port());
  asking.Hello("newcomer");
  asking.Expect("welcome");
  asking.Send("request_access", {{"clientId", "newcomer"}, {"requestedScopes", {"rest.full"}}});
  const Json refused = asking.Expect("error");
  EXPECT_EQ(refused.value("code", ""), "not_ready");
  EXPECT_THAT(refused.value("message", ""), HasSubstr("sequencer"));
  // Without a key, nothing streams.
  asking.Send("subscribe", Json::object());
  asking.ExpectError("unauthorized");
}

TEST_F(FanoutWsTest, ARevokedKeyIsClosedAndRefusedOnEveryNode) {
  auto node_a = StartNode("a");
  auto node_b = StartNode("b");
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);
  const testing::CreatedApiKey created = testing::CreateApiKey(*sequencer_, "fan-revokee");
  ASSERT_EQ(created.command.exit_code, 0) << created.command.output;
  const testing::CreatedApiKey other = testing::CreateApiKey(*sequencer_, "fan-survivor");
  ASSERT_EQ(other.command.exit_code, 0) << other.command.output;

  // The bus holds the key's record with its hash, never the key.
  {
    auto bus = bus::NatsBus::Connect(nats_->url(), "fanout-ws-test", 5000);
    ASSERT_TRUE(bus.ok()) << bus.status();
    const bus::BusNames names = bus::BusNames::From("FEDRELAY_LOG", "fedrelay");
    std::optional<bus::NatsBus::KvValue> record;
    ASSERT_TRUE(WaitFor([&] {
      auto got = (*bus)->KvGet(names.api_key_bucket, created.key_id);
      if (got.ok() && got->has_value()) record = **got;
      return record.has_value();
    }));
    EXPECT_THAT(record->value, HasSubstr(created.key_id));
    EXPECT_THAT(record->value, HasSubstr("\"sha256\""));
    EXPECT_THAT(record->value, Not(HasSubstr(created.key.substr(3))));
  }

  const uint64_t first = Joins(1);
  std::unique_ptr<WsClient> subscribed = Welcomed(node_a->http_port(), created.key, "revokee");
  ASSERT_NE(subscribed, nullptr) << node_a->log_text();
  subscribed->Send("subscribe", {{"cursor", "0"}});
  EXPECT_EQ(subscribed->Expect("event").value("eventId", ""), absl::StrCat(first));
  std::unique_ptr<WsClient> idle = Welcomed(node_b->http_port(), created.key, "revokee");
  ASSERT_NE(idle, nullptr) << node_b->log_text();
  std::unique_ptr<WsClient> survivor = Welcomed(node_a->http_port(), other.key, "survivor");
  ASSERT_NE(survivor, nullptr);
  survivor->Send("subscribe", {{"cursor", "0"}});
  EXPECT_EQ(survivor->Expect("event").value("eventId", ""), absl::StrCat(first));
  // A third node goes down (kill -9) and misses the revocation.
  auto node_c = StartNode("c");
  ASSERT_NE(node_c, nullptr);
  ASSERT_TRUE(WaitFor([&] { return UpgradeStatus(node_c->http_port(), created.key) == 101; }));
  node_c->Kill();

  const testing::CommandResult revoked = Ctl("apikey revoke " + created.key_id);
  ASSERT_EQ(revoked.exit_code, 0) << revoked.output;
  // The sockets of the key close on both running nodes; the other key streams on.
  subscribed->ExpectError("unauthorized");
  EXPECT_TRUE(subscribed->WaitClosed());
  idle->ExpectError("unauthorized");
  EXPECT_TRUE(idle->WaitClosed());
  EXPECT_EQ(UpgradeStatus(node_a->http_port(), created.key), 401);
  EXPECT_EQ(UpgradeStatus(node_b->http_port(), created.key), 401);
  const uint64_t after = Joins(1);
  EXPECT_EQ(survivor->Expect("event").value("eventId", ""), absl::StrCat(after));
  // The node that was down refuses the key from its first answer on.
  ASSERT_TRUE(node_c->Restart().ok());
  EXPECT_EQ(UpgradeStatus(node_c->http_port(), created.key), 401);
  EXPECT_EQ(UpgradeStatus(node_c->http_port(), other.key), 101);
}

TEST_F(FanoutWsTest, ANodeWithoutTheBusForTenSecondsRefusesKeysUntilItIsBack) {
  auto node = StartNode("a");
  ASSERT_NE(node, nullptr);
  const testing::CreatedApiKey created = testing::CreateApiKey(*sequencer_, "fan-partitioned");
  ASSERT_EQ(created.command.exit_code, 0) << created.command.output;
  const uint64_t first = Joins(1);
  std::unique_ptr<WsClient> subscribed = Welcomed(node->http_port(), created.key, "partitioned");
  ASSERT_NE(subscribed, nullptr) << node->log_text();
  // An explicit cursor: resuming from the key's stored cursor needs the bus.
  subscribed->Send("subscribe", {{"cursor", "0"}});
  EXPECT_EQ(subscribed->Expect("event").value("eventId", ""), absl::StrCat(first));

  // NATS goes away: the node cannot hear of revocations any more, so after
  // 10 s it ends the key's streams and refuses the key.
  nats_->Kill();
  const auto lost_at = std::chrono::steady_clock::now();
  const std::optional<Json> refused = subscribed->Read(std::chrono::seconds(30));
  ASSERT_TRUE(refused.has_value()) << node->log_text();
  EXPECT_EQ((*refused)["type"], "error") << refused->dump();
  EXPECT_EQ((*refused)["payload"].value("code", ""), "unauthorized") << refused->dump();
  EXPECT_GE(std::chrono::steady_clock::now() - lost_at, std::chrono::seconds(9));
  EXPECT_TRUE(subscribed->WaitClosed());
  EXPECT_EQ(UpgradeStatus(node->http_port(), created.key), 401);

  // NATS is back: the node reads the key table again and the key works.
  ASSERT_TRUE(nats_->Restart().ok());
  EXPECT_TRUE(WaitFor([&] { return UpgradeStatus(node->http_port(), created.key) == 101; },
                      std::chrono::seconds(30)))
      << node->log_text();
}

}  // namespace
}  // namespace fedrelay
