// The messaging bridge (/v1/bridge, docs/bridge.md) against the real
// fedrelayd: a Boost.Beast WebSocket client plays the bridge, fedrelay-ctl
// binds users, and signed messages over gRPC make the log entries.

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/http_test_util.h"
#include "relay/relay_fixture_util.h"
#include "relay/signed_messages_util.h"

namespace fedrelay {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::BinaryPath;
using testing::NowMs;
using testing::RelayProcess;
using testing::SendUnary;
using testing::SignedAccept;
using testing::SignedBan;
using testing::SignedInvite;
using testing::SignedJoin;
using testing::SignedMigration;
using testing::ToolResult;
using testing::UserId;

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kWait = std::chrono::seconds(20);
// How long a test watches for a frame that must not come.
constexpr auto kQuiet = std::chrono::milliseconds(700);

// A bridge: one WebSocket on /v1/bridge whose io runs on its own thread, so
// a test can wait for frames with a timeout and write at any time.
class TestBridge {
 public:
  // Connects with `api_key`; nullptr when the upgrade is refused, with the
  // HTTP status in *status.
  static std::unique_ptr<TestBridge> Connect(int port, const std::string& api_key, int* status = nullptr) {
    auto bridge = std::unique_ptr<TestBridge>(new TestBridge());
    beast::error_code ec;
    beast::get_lowest_layer(bridge->ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(bridge->ws_).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (ec) return nullptr;
    bridge->ws_.set_option(websocket::stream_base::decorator([api_key](websocket::request_type& request) {
      if (!api_key.empty()) request.set(beast::http::field::authorization, "Bearer " + api_key);
    }));
    websocket::response_type response;
    bridge->ws_.handshake(response, "127.0.0.1", "/v1/bridge", ec);
    if (status != nullptr) *status = response.result_int();
    if (ec) return nullptr;
    beast::get_lowest_layer(bridge->ws_).expires_never();
    bridge->ReadLoop();
    bridge->thread_ = std::thread([raw = bridge.get()] { raw->ioc_.run(); });
    return bridge;
  }

  ~TestBridge() {
    net::post(ioc_, [this] {
      if (ws_.is_open()) {
        ws_.async_close(websocket::close_code::normal, [this](beast::error_code) { ioc_.stop(); });
      } else {
        ioc_.stop();
      }
    });
    if (thread_.joinable()) thread_.join();
  }

  // Sends one frame in the Messaging envelope.
  void Send(const std::string& action, const json& payload) {
    SendRaw(json{{"header",
                  {{"version", "4.0"},
                   {"messageType", "Publish"},
                   {"id", absl::StrCat("test-", ++next_id_)},
                   {"messageDescription", {{"topic", "Messaging"}, {"action", action}}}}},
                 {"payload", payload}}
                .dump());
  }
  void SendRaw(std::string text) {
    net::post(ioc_, [this, text = std::move(text)]() mutable {
      writes_.push_back(std::move(text));
      if (writes_.size() == 1) WriteNext();
    });
  }
  void State(const std::string& connection, const std::string& send, const std::string& read = "ON") {
    Send("UpdateMessagingEndpointState",
         {{"connectionState", connection}, {"sendPermission", send}, {"readPermission", read}});
  }

  // The next frame whose action is `action` (others are skipped), or nullopt.
  std::optional<json> Next(const std::string& action, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      while (!frames_.empty()) {
        json frame = std::move(frames_.front());
        frames_.pop_front();
        if (frame["header"]["messageDescription"]["action"] == action) return frame;
      }
      if (closed_) return std::nullopt;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && frames_.empty()) return std::nullopt;
    }
  }
  bool WaitClosed(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return closed_; });
  }

 private:
  TestBridge() : ws_(ioc_) {}

  void ReadLoop() {
    ws_.async_read(buffer_, [this](beast::error_code ec, size_t) {
      std::lock_guard<std::mutex> lock(mu_);
      if (ec) {
        closed_ = true;
        cv_.notify_all();
        return;
      }
      frames_.push_back(json::parse(beast::buffers_to_string(buffer_.data()), nullptr, false));
      buffer_.consume(buffer_.size());
      cv_.notify_all();
      ReadLoop();
    });
  }
  void WriteNext() {
    ws_.text(true);
    ws_.async_write(net::buffer(writes_.front()), [this](beast::error_code ec, size_t) {
      writes_.pop_front();
      if (!ec && !writes_.empty()) WriteNext();
    });
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> writes_;  // io thread only
  int next_id_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<json> frames_;
  bool closed_ = false;
};

const json& Payload(const json& frame) { return frame.at("payload"); }
std::string TokenOf(const json& frame) { return Payload(frame).at("token").get<std::string>(); }

class BridgeTest : public ::testing::Test {
 protected:
  void StartRelay(const std::string& bridge_yaml = "") {
    RelayProcess::Options options;
    options.extra_yaml = bridge_yaml.empty() ? "" : "bridge:\n" + bridge_yaml;
    auto relay = RelayProcess::Start(options);
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    auto created = testing::CreateApiKey(*relay_, "sms-bridge");
    ASSERT_EQ(created.command.exit_code, 0) << created.command.output;
    key_ = created.key;
    key_id_ = created.key_id;
  }

  ToolResult Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {BinaryPath("tools/fedrelay-ctl"), "--data-dir", relay_->data_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunTool(argv, relay_->dir());
  }
  void Bind(const std::string& user, const std::string& recipient = "+15550100") {
    auto result = Ctl({"bridge", "bind", UserId(user), "--key", key_id_, "--recipient", recipient});
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  }
  std::unique_ptr<TestBridge> Connect() {
    int status = 0;
    auto bridge = TestBridge::Connect(relay_->http_port(), key_, &status);
    EXPECT_NE(bridge, nullptr) << "HTTP " << status;
    return bridge;
  }
  template <typename Message>
  void Submit(const Message& message) {
    auto stub = v1::FederationRelay::NewStub(relay_->Channel());
    auto outcome = SendUnary(*stub, message);
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  }
  double Metric(const std::string& series) { return testing::MetricValue(relay_->http_port(), series); }
  // The `bridge list` line of a notification.
  std::string NotificationLine(const std::string& token) {
    auto list = Ctl({"bridge", "list"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    const std::string marker = "notification " + token + " ";
    const auto at = list.out.find(marker);
    if (at == std::string::npos) return "";
    return list.out.substr(at, list.out.find('\n', at) - at);
  }

  // Sends an upgrade request for /v1/bridge with `api_key` (none when empty);
  // expects a 401 error body and returns its machine code.
  std::string RefusedUpgradeCode(const std::string& api_key) {
    relay::testing::TestHttpClient client(relay_->http_port());
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Connection", "Upgrade"},
        {"Upgrade", "websocket"},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    if (!api_key.empty()) headers.push_back({"Authorization", "Bearer " + api_key});
    const auto response = client.Send(beast::http::verb::get, "/v1/bridge", "", headers);
    EXPECT_EQ(response.result_int(), 401u);
    const json body = json::parse(response.body(), nullptr, false);
    if (!body.is_object() || !body.contains("code") || !body.contains("correlation_id")) return "";
    return body["code"].get<std::string>();
  }

  std::unique_ptr<RelayProcess> relay_;
  std::string key_, key_id_;
};

TEST_F(BridgeTest, NotifiesBoundUsersOfInvitesBansAndMigrationsAndSettlesByToken) {
  StartRelay();
  Bind("bridge-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  // On connect the relay asks for the conversations.
  auto upload = bridge->Next("UploadConversations");
  ASSERT_TRUE(upload.has_value());
  EXPECT_FALSE(TokenOf(*upload).empty());

  // Not a concern of the user (a join) or of a bound user (another's invite).
  Submit(SignedJoin("alpha", "bridge-bob", "g1", NowMs()));
  Submit(SignedInvite("bridge-inv-0", "bridge-alice", "bridge-carol", NowMs()));
  Submit(SignedInvite("bridge-inv-1", "bridge-alice", "bridge-bob", NowMs(), "secret-token-1"));
  Submit(SignedBan("alpha", "bridge-bob", "g1", NowMs()));
  Submit(SignedMigration("bridge-bob", "https://beta.example", NowMs()));

  std::vector<std::string> tokens;
  for (const char* expected : {"bridge-inv-1", "banned from guild g1", "homeserver is now https://beta.example"}) {
    auto frame = bridge->Next("SendMessage");
    ASSERT_TRUE(frame.has_value()) << expected;
    const json& header = frame->at("header");
    EXPECT_EQ(header.at("version"), "4.0");
    EXPECT_EQ(header.at("messageType"), "Publish");
    EXPECT_TRUE(header.at("id").is_string());
    EXPECT_EQ(header.at("messageDescription").at("topic"), "Messaging");
    EXPECT_THAT(Payload(*frame).at("message").get<std::string>(), HasSubstr(expected));
    // The invite's secret token never reaches the bridge.
    EXPECT_THAT(Payload(*frame).at("message").get<std::string>(), Not(HasSubstr("secret-token-1")));
    // recipients is a JSON-encoded string.
    ASSERT_TRUE(Payload(*frame).at("recipients").is_string());
    EXPECT_EQ(json::parse(Payload(*frame).at("recipients").get<std::string>()), json::array({"+15550100"}));
    tokens.push_back(TokenOf(*frame));
  }
  for (const auto& token : tokens) bridge->Send("SendMessageSucceeded", {{"token", token}});
  // Settled: stored as succeeded, and never sent again.
  for (const auto& token : tokens) {
    for (int i = 0; i < 100 && NotificationLine(token).find("state=succeeded") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_THAT(NotificationLine(token), HasSubstr("state=succeeded"));
  }
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  EXPECT_GE(Metric("fedrelay_bridge_succeeded_total"), 3);
  EXPECT_GE(Metric("fedrelay_bridge_queued_total"), 3);
}

TEST_F(BridgeTest, AcceptingTheInviteMarksItsNotificationRead) {
  StartRelay();
  Bind("read-bob", "+15550111");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  Submit(SignedInvite("read-inv-1", "read-alice", "read-bob", NowMs()));
  auto send = bridge->Next("SendMessage");
  ASSERT_TRUE(send.has_value());
  bridge->Send("SendMessageSucceeded", {{"token", TokenOf(*send)}});
  Submit(SignedAccept("read-inv-1", "read-bob", NowMs()));
  auto status = bridge->Next("UpdateMessagesStatus");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(Payload(*status).at("conversationId"), "+15550111");
  ASSERT_TRUE(Payload(*status).at("status").is_string());
  EXPECT_EQ(json::parse(Payload(*status).at("status").get<std::string>()),
            json::parse(absl::StrCat(R"([{"messageId":")", TokenOf(*send), R"(","status":"READ"}])")));
  EXPECT_NE(TokenOf(*status), TokenOf(*send));
  bridge->Send("UpdateMessagesStatusSucceeded", {{"token", TokenOf(*status)}});
  for (int i = 0; i < 100 && NotificationLine(TokenOf(*status)).find("state=succeeded") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(NotificationLine(TokenOf(*status)), HasSubstr("state=succeeded"));
  EXPECT_THAT(NotificationLine(TokenOf(*send)), HasSubstr("  read"));
}

TEST_F(BridgeTest, RetryableFailuresAreRetriedWithTheSameTokenUntilTheLimit) {
  StartRelay("  retry_base_delay_ms: 50\n  retry_max_delay_ms: 200\n  max_attempts: 3\n");
  Bind("retry-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  const double final_before = Metric("fedrelay_bridge_final_failures_total");
  Submit(SignedBan("alpha", "retry-bob", "g1", NowMs()));
  auto first = bridge->Next("SendMessage");
  ASSERT_TRUE(first.has_value());
  const std::string token = TokenOf(*first);
  bridge->Send("SendMessageFailed", {{"token", token}, {"code", "NO_CONNECTIVITY"}, {"message", "no signal"}});
  auto second = bridge->Next("SendMessage");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(TokenOf(*second), token);
  bridge->Send("SendMessageFailed", {{"token", token}, {"code", "GENERIC_FAILURE"}});
  auto third = bridge->Next("SendMessage");
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(TokenOf(*third), token);
  bridge->Send("SendMessageFailed", {{"token", token}, {"code", "GENERIC_FAILURE"}});
  // The third failure is final: nothing more is sent, and it is counted.
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  EXPECT_THAT(NotificationLine(token), HasSubstr("state=failed"));
  EXPECT_THAT(NotificationLine(token), HasSubstr("attempts=3"));
  EXPECT_EQ(Metric("fedrelay_bridge_final_failures_total"), final_before + 1);
  EXPECT_EQ(Metric("fedrelay_bridge_sent_total"), 3);
  EXPECT_GE(Metric(R"(fedrelay_bridge_failed_total{code="NO_CONNECTIVITY"})"), 1);
  EXPECT_GE(Metric(R"(fedrelay_bridge_failed_total{code="GENERIC_FAILURE"})"), 2);
  // A late answer for a settled token changes nothing.
  bridge->Send("SendMessageSucceeded", {{"token", token}});
  for (int i = 0; i < 100 && Metric(R"(fedrelay_bridge_bad_frames_total{reason="stale_reply"})") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(Metric(R"(fedrelay_bridge_bad_frames_total{reason="stale_reply"})"), 1);
  EXPECT_THAT(NotificationLine(token), HasSubstr("state=failed"));
}

TEST_F(BridgeTest, NoPermissionParksUntilTheBridgeReportsSendPermissionOn) {
  StartRelay("  retry_base_delay_ms: 50\n");
  Bind("park-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  Submit(SignedMigration("park-bob", "https://alpha.example", NowMs()));
  auto first = bridge->Next("SendMessage");
  ASSERT_TRUE(first.has_value());
  bridge->Send("SendMessageFailed", {{"token", TokenOf(*first)}, {"code", "NO_PERMISSION"}});
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  EXPECT_THAT(NotificationLine(TokenOf(*first)), HasSubstr("state=parked"));
  EXPECT_EQ(Metric("fedrelay_bridge_parked"), 1);
  EXPECT_GT(Metric("fedrelay_bridge_retry_backlog_age_seconds"), 0);
  bridge->State("CONNECTED", "ON");
  auto again = bridge->Next("SendMessage");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(TokenOf(*again), TokenOf(*first));
}

TEST_F(BridgeTest, NothingIsSentWhileDisconnectedOrWithoutSendPermission) {
  StartRelay();
  Bind("gate-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->Next("UploadConversations").has_value());  // asked on connect, state unknown
  bridge->State("DISCONNECTED", "ON");
  // The relay handles a bridge's frames in order: once this report is stored,
  // the state before it is in force.
  bridge->Send("ConversationsReport", {{"token", ""}, {"conversations", "[\"gate\"]"}});
  for (int i = 0; i < 100; ++i) {
    if (Ctl({"bridge", "conversations", key_id_, "--stored"}).out.find("gate") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Not even the operator's request for conversations goes to a disconnected
  // endpoint: the command prints the stored report.
  EXPECT_THAT(Ctl({"bridge", "conversations", key_id_}).out, HasSubstr("gate"));
  EXPECT_FALSE(bridge->Next("UploadConversations", kQuiet).has_value());
  Submit(SignedBan("alpha", "gate-bob", "g1", NowMs()));
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  bridge->State("CONNECTED", "OFF");
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  bridge->State("CONNECTED", "ON");
  auto frame = bridge->Next("SendMessage");
  ASSERT_TRUE(frame.has_value());
  EXPECT_THAT(Payload(*frame).at("message").get<std::string>(), HasSubstr("banned"));
}

TEST_F(BridgeTest, BadFramesAndUnknownTokensAreCountedAndTheSocketLives) {
  StartRelay();
  Bind("bad-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  bridge->SendRaw("not json at all");
  bridge->SendRaw(R"({"header": {}, "payload": {}})");
  bridge->SendRaw(R"({"header": {"messageDescription": {"topic": "Other", "action": "SendMessageSucceeded"}},
                      "payload": {"token": "x"}})");
  bridge->Send("SendMessageSucceeded", {{"token", "no-such-token"}});
  bridge->Send("SendMessageSucceeded", {{"token", 42}});
  bridge->Send("SendMessageFailed", {{"token", "no-such-token"}, {"code", "ON_FIRE"}});
  bridge->Send("Dance", {{"token", "x"}});
  bridge->State("SOMETIMES", "ON");
  for (int i = 0; i < 200 && Metric(R"(fedrelay_bridge_bad_frames_total{reason="malformed"})") < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(Metric(R"(fedrelay_bridge_bad_frames_total{reason="malformed"})"), 6);
  EXPECT_GE(Metric(R"(fedrelay_bridge_bad_frames_total{reason="unknown_token"})"), 1);
  EXPECT_GE(Metric(R"(fedrelay_bridge_bad_frames_total{reason="unknown_action"})"), 1);
  // The same socket still works.
  Submit(SignedBan("alpha", "bad-bob", "g1", NowMs()));
  auto frame = bridge->Next("SendMessage");
  ASSERT_TRUE(frame.has_value());
  bridge->Send("SendMessageSucceeded", {{"token", TokenOf(*frame)}});
}

TEST_F(BridgeTest, UnansweredSendsAreResentWithTheSameTokenAfterTimeoutAndReconnect) {
  StartRelay("  resend_after_ms: 300\n");
  Bind("resend-bob");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  Submit(SignedBan("alpha", "resend-bob", "g1", NowMs()));
  auto first = bridge->Next("SendMessage");
  ASSERT_TRUE(first.has_value());
  auto resent = bridge->Next("SendMessage");  // no answer: sent again after resend_after_ms
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(TokenOf(*resent), TokenOf(*first));
  bridge.reset();
  bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  auto after_reconnect = bridge->Next("SendMessage");
  ASSERT_TRUE(after_reconnect.has_value());
  EXPECT_EQ(TokenOf(*after_reconnect), TokenOf(*first));
  bridge->Send("SendMessageSucceeded", {{"token", TokenOf(*first)}});
  bridge->Send("SendMessageSucceeded", {{"token", TokenOf(*first)}});  // a duplicate answer
  for (int i = 0; i < 100 && Metric(R"(fedrelay_bridge_bad_frames_total{reason="stale_reply"})") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Metric(R"(fedrelay_bridge_bad_frames_total{reason="stale_reply"})"), 1);
  EXPECT_EQ(Metric("fedrelay_bridge_succeeded_total"), 1);
}

TEST_F(BridgeTest, RestartWithMessagesInFlightLosesNothingAndAppliesEachOutcomeOnce) {
  StartRelay();
  Bind("restart-bob");
  std::string in_flight, answered;
  {
    auto bridge = Connect();
    ASSERT_NE(bridge, nullptr);
    Submit(SignedBan("alpha", "restart-bob", "g1", NowMs()));
    Submit(SignedMigration("restart-bob", "https://beta.example", NowMs()));
    auto first = bridge->Next("SendMessage");
    auto second = bridge->Next("SendMessage");
    ASSERT_TRUE(first.has_value() && second.has_value());
    answered = TokenOf(*first);
    in_flight = TokenOf(*second);
    bridge->Send("SendMessageSucceeded", {{"token", answered}});
    for (int i = 0; i < 100 && NotificationLine(answered).find("state=succeeded") == std::string::npos; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_THAT(NotificationLine(answered), HasSubstr("state=succeeded"));
  }
  // A crash, with one notification in flight, and an entry logged while no bridge listens.
  relay_->Kill();
  ASSERT_TRUE(relay_->Restart().ok());
  Submit(SignedBan("alpha", "restart-bob", "g2", NowMs()));
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  auto resent = bridge->Next("SendMessage");
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(TokenOf(*resent), in_flight);
  auto queued = bridge->Next("SendMessage");
  ASSERT_TRUE(queued.has_value());
  EXPECT_THAT(Payload(*queued).at("message").get<std::string>(), HasSubstr("g2"));
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());  // the settled one is not resent
  // The old answer again, then the new ones.
  bridge->Send("SendMessageSucceeded", {{"token", answered}});
  bridge->Send("SendMessageSucceeded", {{"token", in_flight}});
  bridge->Send("SendMessageSucceeded", {{"token", TokenOf(*queued)}});
  for (int i = 0; i < 100 && Metric("fedrelay_bridge_succeeded_total") < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(Metric("fedrelay_bridge_succeeded_total"), 2);  // counted since the restart
  EXPECT_EQ(Metric(R"(fedrelay_bridge_bad_frames_total{reason="stale_reply"})"), 1);
  auto list = Ctl({"bridge", "list"});
  EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '\n'), 4) << list.out;  // 1 binding, 3 notifications
}

TEST_F(BridgeTest, RevokingTheKeyClosesTheBridgeAtOnce) {
  StartRelay();
  EXPECT_EQ(RefusedUpgradeCode(""), "unauthenticated");
  EXPECT_EQ(RefusedUpgradeCode("fr_" + std::string(64, '0')), "unauthenticated");
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->Next("UploadConversations").has_value());
  auto revoke = Ctl({"apikey", "revoke", key_id_});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_TRUE(bridge->WaitClosed(std::chrono::seconds(5)));
  EXPECT_EQ(RefusedUpgradeCode(key_), "unauthenticated");
}

TEST_F(BridgeTest, ANewerConnectionWithTheSameKeyReplacesTheOlderOne) {
  StartRelay();
  Bind("twice-bob");
  auto older = Connect();
  ASSERT_NE(older, nullptr);
  ASSERT_TRUE(older->Next("UploadConversations").has_value());
  auto newer = Connect();
  ASSERT_NE(newer, nullptr);
  EXPECT_TRUE(older->WaitClosed(std::chrono::seconds(5)));
  Submit(SignedBan("alpha", "twice-bob", "g1", NowMs()));
  EXPECT_TRUE(newer->Next("SendMessage").has_value());
}

TEST_F(BridgeTest, ConversationsReportsAreStoredAndShownToTheOperator) {
  StartRelay();
  auto none = Ctl({"bridge", "conversations", key_id_});
  EXPECT_EQ(none.exit_code, 1) << none.out;  // no bridge connected
  EXPECT_THAT(none.err, HasSubstr("unavailable"));
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  ASSERT_TRUE(bridge->Next("UploadConversations").has_value());
  // Unprompted, with an empty token.
  bridge->Send("ConversationsReport", {{"token", ""}, {"conversations", R"([{"id":"c1","unread":2}])"}});
  for (int i = 0; i < 100; ++i) {
    if (Ctl({"bridge", "conversations", key_id_, "--stored"}).out.find("c1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(Ctl({"bridge", "conversations", key_id_, "--stored"}).out, HasSubstr(R"([{"id":"c1","unread":2}])"));
  // On request: the relay sends UploadConversations and waits for the answer.
  std::thread answer([&] {
    auto request = bridge->Next("UploadConversations");
    if (request.has_value()) {
      bridge->Send("ConversationsReport", {{"token", TokenOf(*request)}, {"conversations", R"([{"id":"c2"}])"}});
    }
  });
  auto fresh = Ctl({"bridge", "conversations", key_id_});
  answer.join();
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_THAT(fresh.out, HasSubstr(R"([{"id":"c2"}])"));
}

TEST_F(BridgeTest, CtlBindValidatesAndUnbindStopsNotifications) {
  StartRelay();
  EXPECT_EQ(Ctl({"bridge", "bind", "not-a-user", "--key", key_id_, "--recipient", "+1"}).exit_code, 1);
  EXPECT_EQ(Ctl({"bridge", "bind", UserId("x"), "--key", "0000000000000000", "--recipient", "+1"}).exit_code, 1);
  EXPECT_EQ(Ctl({"bridge", "bind", UserId("x"), "--key", key_id_}).exit_code, 2);
  EXPECT_EQ(Ctl({"bridge", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"bridge", "unbind", UserId("x")}).exit_code, 1);
  Bind("unbind-bob");
  auto list = Ctl({"bridge", "list"});
  EXPECT_THAT(list.out, HasSubstr(absl::StrCat("binding ", UserId("unbind-bob"), "  key=", key_id_)));
  ASSERT_EQ(Ctl({"bridge", "unbind", UserId("unbind-bob")}).exit_code, 0);
  auto bridge = Connect();
  ASSERT_NE(bridge, nullptr);
  Submit(SignedBan("alpha", "unbind-bob", "g1", NowMs()));
  EXPECT_FALSE(bridge->Next("SendMessage", kQuiet).has_value());
  EXPECT_EQ(Ctl({"bridge", "list"}).out, "no bridge bindings\n");
}

TEST_F(BridgeTest, ReferenceBridgeAnswersWithScriptedFailures) {
  StartRelay("  retry_base_delay_ms: 50\n");
  Bind("client-bob");
  // Queued while no bridge is connected; delivered when it connects.
  Submit(SignedBan("alpha", "client-bob", "g1", NowMs()));
  const std::string key_file = relay_->dir() + "/bridge.key";
  {
    std::ofstream out(key_file);
    out << key_ << "\n";
  }
  chmod(key_file.c_str(), 0600);
  ToolResult run = testing::RunTool(
      {BinaryPath("tools/fedrelay-client"), "--timeout-ms", "20000", "bridge", "--key", key_file, "--http",
       absl::StrCat("127.0.0.1:", relay_->http_port()), "--fail", "GENERIC_FAILURE", "--count", "2"},
      relay_->dir());
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("answered SendMessageFailed GENERIC_FAILURE"));
  EXPECT_THAT(run.out, HasSubstr("answered SendMessageSucceeded"));
  EXPECT_THAT(run.out, HasSubstr("banned from guild g1"));
  EXPECT_THAT(run.out, Not(HasSubstr(key_)));
  // Nothing left to send: --count is not reached within --timeout-ms.
  ToolResult idle = testing::RunTool(
      {BinaryPath("tools/fedrelay-client"), "--timeout-ms", "1000", "bridge", "--key", key_file, "--http",
       absl::StrCat("127.0.0.1:", relay_->http_port()), "--count", "1"},
      relay_->dir());
  EXPECT_EQ(idle.exit_code, 1);
  EXPECT_THAT(idle.err, HasSubstr("answered 0 of 1"));
  ToolResult help = testing::RunTool({BinaryPath("tools/fedrelay-client"), "bridge", "--help"}, relay_->dir());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--fail CODE"));
  ToolResult ctl_help = Ctl({"--help"});
  EXPECT_EQ(ctl_help.exit_code, 0);
  EXPECT_THAT(ctl_help.out, HasSubstr("bridge bind USER_ID --key KEY_ID --recipient ADDRESS"));
  EXPECT_EQ(testing::RunTool({BinaryPath("tools/fedrelay-client"), "bridge", "--fail", "OOPS", "--key", key_file},
                             relay_->dir())
                .exit_code,
            2);
  // A key file others may read is refused.
  chmod(key_file.c_str(), 0644);
  ToolResult loose = testing::RunTool({BinaryPath("tools/fedrelay-client"), "bridge", "--key", key_file}, relay_->dir());
  EXPECT_EQ(loose.exit_code, 2);
  EXPECT_THAT(loose.err, HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace fedrelay
