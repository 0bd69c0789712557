// The flood limits of docs/configuration.md (http.*, grpc.*) against the real
// fedrelayd, each set small: the limit holds for the one who hits it, and
// everyone else is still served.
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/http_test_util.h"
#include "relay/relay_fixture_util.h"

namespace fedrelay {
namespace {

using relay::testing::Response;
using relay::testing::TestHttpClient;
using testing::RelayProcess;
using ::testing::StartsWith;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::unique_ptr<RelayProcess> StartRelay(const std::string& extra_yaml) {
  EXPECT_TRUE(InitCrypto().ok());
  RelayProcess::Options options;
  options.extra_yaml = extra_yaml;
  options.rate_limits_yaml = "  ping_rate_limit: 100000\n";
  auto relay = RelayProcess::Start(options);
  EXPECT_TRUE(relay.ok()) << relay.status();
  return relay.ok() ? *std::move(relay) : nullptr;
}

// A WebSocket on /v1/ws that stays open (upgraded, nothing sent).
class OpenWebSocket {
 public:
  explicit OpenWebSocket(int port) : ws_(ioc_) {
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(ws_).connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec_);
    if (!ec_) ws_.handshake("127.0.0.1", "/v1/ws", ec_);
    beast::get_lowest_layer(ws_).expires_never();
  }
  bool ok() const { return !ec_; }
  // Sends hello and reads the answer's type ("" on failure).
  std::string Hello() {
    const nlohmann::json hello = {{"type", "hello"},
                                  {"payload",
                                   {{"clientType", "integration"},
                                    {"clientId", "limits-test"},
                                    {"version", "1.0.0"}}}};
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    ws_.text(true);
    ws_.write(net::buffer(hello.dump()), ec_);
    if (ec_) return "";
    beast::flat_buffer buffer;
    ws_.read(buffer, ec_);
    if (ec_) return "";
    const auto frame = nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
    return frame.is_object() ? frame.value("type", "") : "";
  }

 private:
  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::error_code ec_;
};

// Checks a SPEC section 5 error body and returns its machine code.
std::string ErrorCode(const Response& response) {
  const auto body = nlohmann::json::parse(response.body(), nullptr, false);
  if (!body.is_object()) return "";
  EXPECT_THAT(body.value("correlation_id", ""), StartsWith("req_"));
  EXPECT_EQ(std::string(response["X-Correlation-Id"]), body.value("correlation_id", ""));
  EXPECT_TRUE(body["error"].is_string());
  return body.value("code", "");
}

bool PingOk(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds deadline) {
  auto stub = v1::FederationRelay::NewStub(std::move(channel));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  v1::PongResponse pong;
  return stub->Ping(&context, v1::PingRequest(), &pong).ok();
}

// A channel of its own (distinct channel args: its own HTTP/2 connection).
std::shared_ptr<grpc::Channel> OwnChannel(const RelayProcess& relay, int index) {
  grpc::ChannelArguments args;
  args.SetInt("fedrelay.test.channel", index);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", relay.grpc_port()),
                                   grpc::InsecureChannelCredentials(), args);
}

TEST(ConnectionLimitsTest, MaxConnectionsAnswers503BeyondTheLimitAndServesAgainOnceSomeClose) {
  auto relay = StartRelay("http:\n  max_connections: 20\n");
  ASSERT_NE(relay, nullptr);
  const int port = relay->http_port();
  // 20 connections: 14 kept-alive HTTP clients and 6 WebSockets, all counted.
  // The relay notices closed connections (the start-up probe's, a refused
  // one's) asynchronously, so each of the 20 may take a retry or two.
  std::vector<std::unique_ptr<TestHttpClient>> clients;
  for (int i = 0; i < 14; ++i) {
    for (const auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
      auto client = std::make_unique<TestHttpClient>(port);
      if (client->Get("/healthz").result_int() != 200u) continue;
      clients.push_back(std::move(client));
      break;
    }
    ASSERT_EQ(clients.size(), static_cast<size_t>(i + 1)) << "client " << i << " was not served";
  }
  std::vector<std::unique_ptr<OpenWebSocket>> sockets;
  for (int i = 0; i < 6; ++i) {
    for (const auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
      auto socket = std::make_unique<OpenWebSocket>(port);
      if (!socket->ok()) continue;
      sockets.push_back(std::move(socket));
      break;
    }
    ASSERT_EQ(sockets.size(), static_cast<size_t>(i + 1)) << "websocket " << i << " was refused";
  }

  // The 21st gets 503 unavailable with the JSON error body, then the connection closes.
  TestHttpClient refused(port);
  const Response answer = refused.Get("/healthz");
  EXPECT_EQ(answer.result_int(), 503u) << answer.body();
  EXPECT_EQ(ErrorCode(answer), "unavailable");
  EXPECT_EQ(std::string(answer[http::field::retry_after]), "1");
  EXPECT_TRUE(refused.WaitForClose());
  // ... at once: one that sends nothing reads the same answer.
  TestHttpClient silent(port);
  const Response unasked = silent.ReadResponse();
  EXPECT_EQ(unasked.result_int(), 503u);
  EXPECT_EQ(ErrorCode(unasked), "unavailable");
  // An upgrade is refused the same way.
  EXPECT_FALSE(OpenWebSocket(port).ok());

  // The 20 are still served, and gRPC is not affected.
  EXPECT_EQ(clients[0]->Get("/healthz").result_int(), 200u);
  EXPECT_EQ(sockets[0]->Hello(), "welcome");
  EXPECT_TRUE(PingOk(relay->Channel(), std::chrono::seconds(5)));

  // Once some close, new connections are served again.
  clients.resize(11);
  sockets.resize(5);
  // (The relay notices the closes asynchronously: a refusal until then is fine.)
  std::vector<std::unique_ptr<TestHttpClient>> replacements;
  for (const auto until = Clock::now() + std::chrono::seconds(5);
       replacements.size() < 4 && Clock::now() < until;) {
    auto next = std::make_unique<TestHttpClient>(port);
    if (next->Get("/healthz").result_int() == 200u) replacements.push_back(std::move(next));
  }
  EXPECT_EQ(replacements.size(), 4u) << "four closed, so four new connections are served";
  TestHttpClient over(port);
  EXPECT_EQ(over.Get("/healthz").result_int(), 503u) << "and the limit still holds";
  EXPECT_EQ(relay->Stop(), 0);
}

TEST(ConnectionLimitsTest, AHeadSlowerThanHeaderTimeoutIsClosedWhileOthersAreServed) {
  auto relay = StartRelay("http:\n  header_timeout_ms: 300\n");
  ASSERT_NE(relay, nullptr);
  const int port = relay->http_port();
  const auto start = Clock::now();
  TestHttpClient partial(port, std::chrono::seconds(5));
  partial.WriteRaw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  TestHttpClient silent(port, std::chrono::seconds(5));
  // Slowloris proper: a byte of header every 100 ms, never finishing.
  TestHttpClient dripper(port, std::chrono::seconds(5));
  ASSERT_TRUE(dripper.connected());
  const int dripping = dripper.socket().native_handle();
  std::thread drip([dripping] {
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: ";
    // MSG_NOSIGNAL: the relay closing the socket must not SIGPIPE the test.
    if (send(dripping, head.data(), head.size(), MSG_NOSIGNAL) < 0) return;
    for (int i = 0; i < 30; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (send(dripping, "a", 1, MSG_NOSIGNAL) != 1) return;
    }
  });

  // A complete request on another connection is answered meanwhile.
  TestHttpClient other(port);
  EXPECT_EQ(other.Get("/healthz").result_int(), 200u);

  EXPECT_TRUE(partial.WaitForClose());
  EXPECT_TRUE(silent.WaitForClose());
  EXPECT_TRUE(dripper.WaitForClose());
  const auto elapsed = Clock::now() - start;
  drip.join();
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500)) << "the drip would last 3 s";

  // A kept-alive connection between requests is governed by the idle timeout
  // (60 s), not the header timeout.
  EXPECT_EQ(other.Get("/healthz").result_int(), 200u);
  TestHttpClient waiting(port, std::chrono::milliseconds(1000));
  EXPECT_EQ(waiting.Get("/healthz").result_int(), 200u);
  EXPECT_FALSE(waiting.WaitForClose()) << "closed while idle for 1 s";
  EXPECT_EQ(other.Get("/healthz").result_int(), 200u);
  EXPECT_EQ(relay->Stop(), 0);
}

TEST(ConnectionLimitsTest, AKeptAliveConnectionIsClosedAfterIdleTimeout) {
  auto relay = StartRelay("http:\n  idle_timeout_ms: 300\n");
  ASSERT_NE(relay, nullptr);
  TestHttpClient kept(relay->http_port(), std::chrono::seconds(5));
  ASSERT_EQ(kept.Get("/healthz").result_int(), 200u);
  const auto start = Clock::now();
  EXPECT_TRUE(kept.WaitForClose());
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
  // Requests that keep coming are served on one connection.
  TestHttpClient busy(relay->http_port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(busy.Get("/healthz").result_int(), 200u) << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(relay->Stop(), 0);
}

TEST(ConnectionLimitsTest, MaxConcurrentStreamsHoldsCallsOnOneConnectionOnly) {
  auto relay = StartRelay("grpc:\n  max_concurrent_streams: 2\n");
  ASSERT_NE(relay, nullptr);
  auto busy = OwnChannel(*relay, 1);
  auto stub = v1::FederationRelay::NewStub(busy);
  // Two Submit streams left open take the connection's two streams.
  grpc::ClientContext first_context;
  grpc::ClientContext second_context;
  auto first = stub->Submit(&first_context);
  auto second = stub->Submit(&second_context);
  // Each answers an empty submission (malformed), so both are open on the relay.
  for (auto* stream : {first.get(), second.get()}) {
    v1::Submission empty;
    empty.set_correlation_id("c1");
    ASSERT_TRUE(stream->Write(empty));
    v1::SubmissionResult result;
    ASSERT_TRUE(stream->Read(&result));
  }

  // A third call on that connection waits; another connection is served at once.
  EXPECT_FALSE(PingOk(busy, std::chrono::milliseconds(500)));
  EXPECT_TRUE(PingOk(OwnChannel(*relay, 2), std::chrono::seconds(5)));

  // When one stream ends, the connection takes calls again.
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
  EXPECT_TRUE(PingOk(busy, std::chrono::seconds(5)));
  second->WritesDone();
  EXPECT_TRUE(second->Finish().ok());
  EXPECT_EQ(relay->Stop(), 0);
}

TEST(ConnectionLimitsTest, ASilentGrpcConnectionIsClosedAfterHandshakeTimeout) {
  auto relay = StartRelay("grpc:\n  handshake_timeout_ms: 300\n");
  ASSERT_NE(relay, nullptr);
  const auto start = Clock::now();
  TestHttpClient silent(relay->grpc_port(), std::chrono::seconds(5));  // a TCP connection, no bytes
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(PingOk(relay->Channel(), std::chrono::seconds(5)));
  // The relay speaks first (its SETTINGS): read past them until it closes.
  bool closed = false;
  for (const auto until = start + std::chrono::seconds(5); !closed && Clock::now() < until;) {
    closed = silent.WaitForClose();
  }
  EXPECT_TRUE(closed);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
  // A real client keeps its connection beyond the timeout.
  auto channel = OwnChannel(*relay, 3);
  EXPECT_TRUE(PingOk(channel, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(PingOk(channel, std::chrono::seconds(5)));
  EXPECT_EQ(relay->Stop(), 0);
}

}  // namespace
}  // namespace fedrelay
