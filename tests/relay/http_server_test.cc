#include "relay/http/http_server.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "relay/http_test_util.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

using testing::Response;
using testing::TestHttpClient;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

HttpServer::Options TestOptions() {
  HttpServer::Options options;
  options.listen = "127.0.0.1:0";
  options.max_body_bytes = 1024;
  options.idle_timeout = std::chrono::milliseconds(5000);
  return options;
}

// Checks an error response against SPEC section 5 and returns its machine code.
std::string ExpectErrorBody(const Response& response, int status) {
  EXPECT_EQ(response.result_int(), static_cast<unsigned>(status)) << response.body();
  EXPECT_THAT(std::string(response[http::field::content_type]), StartsWith("application/json"));
  const auto body = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(body.is_object()) << response.body();
  if (!body.is_object()) return "";
  EXPECT_TRUE(body["error"].is_string());
  const std::string correlation_id = body.value("correlation_id", "");
  EXPECT_THAT(correlation_id, StartsWith("req_"));
  EXPECT_EQ(correlation_id.size(), 30u);
  EXPECT_EQ(std::string(response["X-Correlation-Id"]), correlation_id);
  return body.value("code", "");
}

// What the /fail handler returns for ?kind=.
absl::Status StatusForKind(const std::string& kind) {
  if (kind == "stale") return MakeError(ErrorCode::kStaleTimestamp, "timestamp is 10 minutes old");
  if (kind == "auth") return MakeError(ErrorCode::kUnauthenticated, "missing API key");
  if (kind == "banned") return MakeError(ErrorCode::kBanned, "user is banned in guild g1");
  if (kind == "rate") return RateLimitedError("too many requests", /*retry_after_ms=*/1500);
  if (kind == "unavailable") return MakeError(ErrorCode::kUnavailable, "shutting down");
  if (kind == "cursor") return MakeError(ErrorCode::kInvalidCursor, "cursor is ahead of the log");
  if (kind == "plain_not_found") return absl::NotFoundError("no such thing");
  return absl::InternalError("rocksdb: IO error: /secret/path");
}

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServer::Options options = TestOptions()) {
    server_ = std::make_unique<HttpServer>(options);
    server_->Handle("GET", "/hello", [](const HttpRequest&) { return HttpResponse::Text("hello\n"); });
    server_->Handle("POST", "/echo", [](const HttpRequest& request) {
      HttpResponse response = HttpResponse::Text(request.body);
      response.headers.emplace_back("X-Body-Size", absl::StrCat(request.body.size()));
      return response;
    });
    server_->Handle("GET", "/whoami", [](const HttpRequest& request) {
      nlohmann::json body = {{"remote", request.remote_address},
                             {"correlation_id", request.correlation_id},
                             {"page", request.query.count("page") ? request.query.at("page") : ""},
                             {"bearer", request.BearerToken().value_or("")},
                             {"custom", request.Header("x-CUSTOM").value_or("")}};
      return HttpResponse::Json(body.dump());
    });
    server_->HandlePrefix("GET", "/items/", [](const HttpRequest& request) {
      return HttpResponse::Text("items:" + request.path);
    });
    server_->HandlePrefix("GET", "/items/special/", [](const HttpRequest& request) {
      return HttpResponse::Text("special:" + request.path);
    });
    server_->Handle("GET", "/items/exact", [](const HttpRequest&) { return HttpResponse::Text("exact"); });
    server_->Handle("GET", "/fail", [](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
      return StatusForKind(request.query.count("kind") ? request.query.at("kind") : "");
    });
    server_->HandleAsync("GET", "/async", [](const HttpRequest& request, HttpResponder respond) {
      const std::string correlation_id = request.correlation_id;
      std::thread([respond = std::move(respond), correlation_id] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        respond(HttpResponse::Text("later " + correlation_id));
      }).detach();
    });
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoutesExactAndPrefixPaths) {
  StartServer();
  TestHttpClient client(server_->port());
  Response response = client.Get("/hello");
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "hello\n");
  EXPECT_EQ(std::string(response[http::field::content_type]), "text/plain; charset=utf-8");
  EXPECT_THAT(std::string(response["X-Correlation-Id"]), StartsWith("req_"));

  EXPECT_EQ(client.Get("/items/abc").body(), "items:/items/abc");
  EXPECT_EQ(client.Get("/items/special/x").body(), "special:/items/special/x");  // longest prefix
  EXPECT_EQ(client.Get("/items/exact").body(), "exact");                         // exact beats prefix
  EXPECT_EQ(client.Get("/items/exact?x=1").body(), "exact");                     // query is not the path
}

TEST_F(HttpServerTest, UnknownPathAndWrongMethodAreJsonNotFound) {
  StartServer();
  TestHttpClient client(server_->port());
  EXPECT_EQ(ExpectErrorBody(client.Get("/nope"), 404), "not_found");
  EXPECT_EQ(ExpectErrorBody(client.Send(http::verb::post, "/hello", "x"), 404), "not_found");
  EXPECT_EQ(ExpectErrorBody(client.Get("/items"), 404), "not_found");  // the prefix is "/items/"
  // The connection survives ordinary errors.
  EXPECT_EQ(client.Get("/hello").result_int(), 200u);
}

TEST_F(HttpServerTest, EveryRequestGetsItsOwnCorrelationId) {
  StartServer();
  TestHttpClient client(server_->port());
  const Response first = client.Get("/whoami");
  const Response second = client.Get("/whoami");
  const auto first_body = nlohmann::json::parse(first.body());
  EXPECT_EQ(first_body["correlation_id"], std::string(first["X-Correlation-Id"]));
  EXPECT_NE(std::string(first["X-Correlation-Id"]), std::string(second["X-Correlation-Id"]));
}

TEST_F(HttpServerTest, ParsesQueryHeadersAndBearerToken) {
  StartServer();
  TestHttpClient client(server_->port());
  const Response response = client.Send(http::verb::get, "/whoami?page=a%20b+c&page=ignored", "",
                                        {{"Authorization", "Bearer abc.def"}, {"X-Custom", "v"}});
  ASSERT_EQ(response.result_int(), 200u);
  const auto body = nlohmann::json::parse(response.body());
  EXPECT_EQ(body["page"], "a b c");
  EXPECT_EQ(body["bearer"], "abc.def");
  EXPECT_EQ(body["custom"], "v");
  EXPECT_THAT(body["remote"].get<std::string>(), StartsWith("127.0.0.1:"));

  EXPECT_EQ(ExpectErrorBody(client.Get("/whoami?page=%zz"), 400), "malformed");
  EXPECT_EQ(ExpectErrorBody(client.Get("/whoami?page=%2"), 400), "malformed");
}

struct StatusCase {
  std::string kind;
  int http_status;
  std::string code;
};

TEST_F(HttpServerTest, HandlerStatusBecomesHttpErrorPerErrorsTable) {
  StartServer();
  TestHttpClient client(server_->port());
  const std::vector<StatusCase> cases = {
      {"stale", 409, "stale_timestamp"},   {"auth", 401, "unauthenticated"},
      {"banned", 403, "banned"},           {"rate", 429, "rate_limited"},
      {"unavailable", 503, "unavailable"}, {"cursor", 400, "invalid_cursor"},
      {"plain_not_found", 404, "not_found"}, {"internal", 500, "internal"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.kind);
    const Response response = client.Get("/fail?kind=" + c.kind);
    EXPECT_EQ(ExpectErrorBody(response, c.http_status), c.code);
    EXPECT_EQ(response.result_int(), static_cast<unsigned>(HttpStatusFor(StatusForKind(c.kind))));
  }
  const Response stale = client.Get("/fail?kind=stale");
  EXPECT_EQ(nlohmann::json::parse(stale.body())["error"], "timestamp is 10 minutes old");
  EXPECT_EQ(std::string(client.Get("/fail?kind=rate")["Retry-After"]), "2");
  // Internal details stay in the relay's log.
  EXPECT_THAT(client.Get("/fail?kind=internal").body(), Not(HasSubstr("secret")));
}

TEST_F(HttpServerTest, AsyncHandlerAnswersFromAnotherThread) {
  StartServer();
  TestHttpClient client(server_->port());
  const Response response = client.Get("/async");
  ASSERT_EQ(response.result_int(), 200u);
  EXPECT_EQ(response.body(), "later " + std::string(response["X-Correlation-Id"]));
  EXPECT_EQ(client.Get("/hello").result_int(), 200u);  // and the connection carries on
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  TestHttpClient client(server_->port());
  std::string remote;
  for (int i = 0; i < 5; ++i) {
    const Response response = client.Get("/whoami");
    ASSERT_TRUE(client.ok()) << i << ": " << client.error().message();
    ASSERT_TRUE(response.keep_alive());
    const std::string this_remote = nlohmann::json::parse(response.body())["remote"];
    if (i == 0) remote = this_remote;
    EXPECT_EQ(this_remote, remote);  // same client port: same connection
  }
  EXPECT_EQ(client.Send(http::verb::post, "/echo", "body").body(), "body");
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  TestHttpClient client(server_->port());
  client.WriteRaw(
      "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /items/2 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(client.ReadResponse().body(), "items:/items/1");
  EXPECT_EQ(client.ReadResponse().body(), "items:/items/2");
}

TEST_F(HttpServerTest, BodyAtTheLimitIsAcceptedAndOverTheLimitIs413ThenClose) {
  StartServer();
  TestHttpClient client(server_->port());
  const std::string at_limit(1024, 'a');
  const Response ok = client.Send(http::verb::post, "/echo", at_limit);
  EXPECT_EQ(ok.result_int(), 200u);
  EXPECT_EQ(std::string(ok["X-Body-Size"]), "1024");

  const Response too_large = client.Send(http::verb::post, "/echo", std::string(4096, 'b'));
  EXPECT_EQ(ExpectErrorBody(too_large, 413), "payload_too_large");
  EXPECT_FALSE(too_large.keep_alive());
  EXPECT_TRUE(client.WaitForClose());
}

TEST_F(HttpServerTest, OversizedChunkedBodyIs413) {
  StartServer();
  TestHttpClient client(server_->port());
  std::string chunk(800, 'c');
  client.WriteRaw(absl::StrCat("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "320\r\n",
                               chunk, "\r\n", "320\r\n", chunk, "\r\n0\r\n\r\n"));
  EXPECT_EQ(ExpectErrorBody(client.ReadResponse(), 413), "payload_too_large");
}

TEST_F(HttpServerTest, MalformedHttpIs400ThenClose) {
  StartServer();
  TestHttpClient client(server_->port());
  client.WriteRaw("THIS IS NOT HTTP\r\n\r\n");
  const Response response = client.ReadResponse();
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ(ExpectErrorBody(response, 400), "malformed");
  EXPECT_TRUE(client.WaitForClose());

  TestHttpClient bad_target(server_->port());
  bad_target.WriteRaw("GET http://elsewhere/hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ExpectErrorBody(bad_target.ReadResponse(), 400), "malformed");
}

TEST_F(HttpServerTest, OversizedHeaderIs400) {
  StartServer();
  TestHttpClient client(server_->port());
  const Response response =
      client.Send(http::verb::get, "/hello", "", {{"X-Big", std::string(32 * 1024, 'h')}});
  EXPECT_EQ(ExpectErrorBody(response, 400), "malformed");
}

TEST_F(HttpServerTest, SilentAndSlowClientsDoNotBlockOthers) {
  HttpServer::Options options = TestOptions();
  options.threads = 1;  // even with a single io thread
  StartServer(options);
  TestHttpClient silent(server_->port());
  ASSERT_TRUE(silent.connected());
  TestHttpClient partial(server_->port());
  partial.WriteRaw("GET /hello HTTP/1.1\r\nHost: x\r\n");  // never finishes its header

  const auto start = std::chrono::steady_clock::now();
  TestHttpClient client(server_->port());
  EXPECT_EQ(client.Get("/hello").result_int(), 200u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(HttpServerTest, IdleConnectionsAreClosedAfterTheTimeout) {
  HttpServer::Options options = TestOptions();
  options.idle_timeout = std::chrono::milliseconds(200);
  options.header_timeout = std::chrono::milliseconds(200);  // a new silent connection's limit
  StartServer(options);
  TestHttpClient silent(server_->port(), /*timeout=*/std::chrono::seconds(5));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.WaitForClose());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));

  TestHttpClient used(server_->port(), /*timeout=*/std::chrono::seconds(5));
  EXPECT_EQ(used.Get("/hello").result_int(), 200u);
  EXPECT_TRUE(used.WaitForClose());  // keep-alive ends after the idle timeout too
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  StartServer();
  TestHttpClient client(server_->port());
  EXPECT_EQ(client.Get("/hello").result_int(), 200u);
  const int port = server_->port();
  server_->Stop();
  EXPECT_TRUE(client.WaitForClose());
  TestHttpClient after(port);
  EXPECT_FALSE(after.connected() && after.Get("/hello").result_int() == 200u);
  server_->Stop();  // idempotent
}

TEST(HttpServerStartTest, ReportsBadAndBusyAddresses) {
  HttpServer::Options options;
  options.listen = "no-port-here";
  EXPECT_EQ(HttpServer(options).Start().code(), absl::StatusCode::kInvalidArgument);
  options.listen = "127.0.0.1:99999";
  EXPECT_EQ(HttpServer(options).Start().code(), absl::StatusCode::kInvalidArgument);

  options.listen = "127.0.0.1:0";
  HttpServer first(options);
  ASSERT_TRUE(first.Start().ok());
  options.listen = absl::StrCat("127.0.0.1:", first.port());
  HttpServer second(options);
  EXPECT_EQ(second.Start().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpRequestTest, HeaderLookupIsCaseInsensitiveAndBearerNeedsTheScheme) {
  HttpRequest request;
  request.headers = {{"Content-Type", "a"}, {"content-type", "b"}, {"Authorization", "Basic xyz"}};
  EXPECT_EQ(request.Header("CONTENT-TYPE"), "a");
  EXPECT_EQ(request.Header("X-Missing"), std::nullopt);
  EXPECT_EQ(request.BearerToken(), std::nullopt);
  request.headers = {{"authorization", "bearer  tok "}};
  EXPECT_EQ(request.BearerToken(), "tok");
  request.headers = {{"authorization", "Bearer "}};
  EXPECT_EQ(request.BearerToken(), std::nullopt);
}

// Captures the relay's log lines.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return stream_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
};

TEST_F(HttpServerTest, LogsEachRequestWithItsCorrelationIdButNoSecrets) {
  LogCapture capture;
  StartServer();
  TestHttpClient client(server_->port());
  const Response response = client.Send(http::verb::get, "/whoami?api_key=k3y-value&token=t0ken-value&page=2",
                                        "", {{"Authorization", "Bearer s3cret-bearer"}});
  const Response error = client.Get("/nope");
  server_->Stop();
  const std::string log = capture.text();
  EXPECT_THAT(log, HasSubstr(std::string(response["X-Correlation-Id"])));
  EXPECT_THAT(log, HasSubstr(std::string(error["X-Correlation-Id"])));
  EXPECT_THAT(log, HasSubstr("GET /whoami"));
  EXPECT_THAT(log, HasSubstr("page=2"));
  EXPECT_THAT(log, HasSubstr(" 404 "));
  EXPECT_THAT(log, Not(HasSubstr("k3y-value")));
  EXPECT_THAT(log, Not(HasSubstr("t0ken-value")));
  EXPECT_THAT(log, Not(HasSubstr("s3cret-bearer")));
}

// WebSocket: an echo protocol, plus a server push from another thread.
struct EchoEvents {
  std::mutex mu;
  std::shared_ptr<WebSocketConnection> connection;
  int opened = 0;
  int closed = 0;
  std::vector<std::string> received;
};

class EchoHandler : public WebSocketHandler {
 public:
  explicit EchoHandler(std::shared_ptr<EchoEvents> events) : events_(std::move(events)) {}
  void OnOpen(std::shared_ptr<WebSocketConnection> connection) override {
    connection_ = connection;
    std::lock_guard<std::mutex> lock(events_->mu);
    events_->connection = connection;
    ++events_->opened;
  }
  void OnMessage(std::string message) override {
    {
      std::lock_guard<std::mutex> lock(events_->mu);
      events_->received.push_back(message);
    }
    if (message == "bye") {
      connection_->Send("closing");
      connection_->Close();
    } else {
      connection_->Send("echo:" + message);
    }
  }
  void OnClose() override {
    std::lock_guard<std::mutex> lock(events_->mu);
    ++events_->closed;
    events_->connection.reset();
  }

 private:
  std::shared_ptr<EchoEvents> events_;
  std::shared_ptr<WebSocketConnection> connection_;
};

class WebSocketTest : public HttpServerTest {
 protected:
  void StartWithEcho() {
    events_ = std::make_shared<EchoEvents>();
    HttpServer::Options options = TestOptions();
    server_ = std::make_unique<HttpServer>(options);
    server_->HandleWebSocket("/v1/echo", [events = events_](const HttpRequest& request)
                                             -> absl::StatusOr<std::unique_ptr<WebSocketHandler>> {
      if (request.BearerToken() != "good") return MakeError(ErrorCode::kUnauthenticated, "bad API key");
      return std::make_unique<EchoHandler>(events);
    });
    server_->Handle("GET", "/hello", [](const HttpRequest&) { return HttpResponse::Text("hello\n"); });
    ASSERT_TRUE(server_->Start().ok());
  }

  // Connects and upgrades; returns the handshake response.
  websocket::response_type Connect(websocket::stream<boost::beast::tcp_stream>& ws, const std::string& token,
                                   boost::beast::error_code& ec) {
    boost::beast::get_lowest_layer(ws).connect(
        testing::tcp::endpoint(testing::net::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(server_->port())),
        ec);
    websocket::response_type response;
    if (ec) return response;
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
      request.set(http::field::authorization, "Bearer " + token);
    }));
    ws.handshake(response, "127.0.0.1", "/v1/echo", ec);
    return response;
  }

  bool WaitFor(const std::function<bool()>& condition) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard<std::mutex> lock(events_->mu);
        if (condition()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::shared_ptr<EchoEvents> events_;
};

TEST_F(WebSocketTest, EchoRoundTripAndServerPush) {
  StartWithEcho();
  testing::net::io_context ioc;
  websocket::stream<boost::beast::tcp_stream> ws(ioc);
  boost::beast::error_code ec;
  const websocket::response_type handshake = Connect(ws, "good", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_THAT(std::string(handshake["X-Correlation-Id"]), StartsWith("req_"));

  ws.write(boost::asio::buffer(std::string("hi")), ec);
  ASSERT_FALSE(ec) << ec.message();
  boost::beast::flat_buffer buffer;
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), "echo:hi");
  buffer.clear();

  // A push from a thread that is not the server's.
  std::shared_ptr<WebSocketConnection> connection;
  ASSERT_TRUE(WaitFor([&] { return events_->connection != nullptr; }));
  {
    std::lock_guard<std::mutex> lock(events_->mu);
    connection = events_->connection;
  }
  std::thread([connection] { EXPECT_TRUE(connection->Send("pushed")); }).join();
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), "pushed");
  buffer.clear();

  // The server closes after its last frame.
  ws.write(boost::asio::buffer(std::string("bye")), ec);
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()), "closing");
  buffer.clear();
  ws.read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_TRUE(WaitFor([&] { return events_->closed == 1; }));
  EXPECT_FALSE(connection->is_open());
  EXPECT_FALSE(connection->Send("too late"));
  std::lock_guard<std::mutex> lock(events_->mu);
  EXPECT_EQ(events_->opened, 1);
  EXPECT_EQ(events_->received, (std::vector<std::string>{"hi", "bye"}));
}

TEST_F(WebSocketTest, RejectedUpgradeIsAnHttpError) {
  StartWithEcho();
  TestHttpClient client(server_->port());
  const Response response = client.Send(http::verb::get, "/v1/echo", "",
                                        {{"Connection", "Upgrade"},
                                         {"Upgrade", "websocket"},
                                         {"Sec-WebSocket-Version", "13"},
                                         {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                         {"Authorization", "Bearer wrong"}});
  EXPECT_EQ(ExpectErrorBody(response, 401), "unauthenticated");
  // A plain GET on a websocket path is not a route.
  EXPECT_EQ(ExpectErrorBody(client.Get("/v1/echo"), 404), "not_found");
  std::lock_guard<std::mutex> lock(events_->mu);
  EXPECT_EQ(events_->opened, 0);
}

TEST_F(WebSocketTest, ClientDisconnectAndServerStopBothReachOnClose) {
  StartWithEcho();
  {
    testing::net::io_context ioc;
    websocket::stream<boost::beast::tcp_stream> ws(ioc);
    boost::beast::error_code ec;
    Connect(ws, "good", ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(WaitFor([&] { return events_->opened == 1; }));
    ws.close(websocket::close_code::normal, ec);
    EXPECT_TRUE(WaitFor([&] { return events_->closed == 1; }));
  }
  testing::net::io_context ioc;
  websocket::stream<boost::beast::tcp_stream> ws(ioc);
  boost::beast::error_code ec;
  Connect(ws, "good", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(WaitFor([&] { return events_->opened == 2; }));
  std::thread reader([&ws] {
    boost::beast::flat_buffer buffer;
    boost::beast::error_code read_ec;
    ws.read(buffer, read_ec);  // answers the server's close frame
  });
  server_->Stop();
  reader.join();
  std::lock_guard<std::mutex> lock(events_->mu);
  EXPECT_EQ(events_->closed, 2);
}

}  // namespace
}  // namespace fedrelay::relay
