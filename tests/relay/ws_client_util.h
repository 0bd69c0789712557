// A blocking WebSocket client for the integration endpoint /v1/ws (Boost.Beast),
// shared by the tests that speak the integration protocol to fedrelayd and to
// fedrelay-fanout nodes.
#ifndef FEDRELAY_TESTS_RELAY_WS_CLIENT_UTIL_H_
#define FEDRELAY_TESTS_RELAY_WS_CLIENT_UTIL_H_

#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace fedrelay::testing {

// A blocking WebSocket client on /v1/ws; every operation gives up after a timeout.
class WsClient {
  using Json = nlohmann::json;
  using tcp = boost::asio::ip::tcp;

 public:
  // Upgrades with an optional `Authorization` header. A small receive buffer
  // (`rcvbuf` > 0) makes a reader that never reads stall the relay quickly.
  explicit WsClient(int port, const std::string& authorization = "", int rcvbuf = 0)
      : ws_(ioc_) {
    auto& socket = boost::beast::get_lowest_layer(ws_).socket();
    socket.open(tcp::v4(), ec_);
    if (rcvbuf > 0) {
      setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    boost::beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(10));
    boost::beast::get_lowest_layer(ws_).connect(
        tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                      static_cast<unsigned short>(port)),
        ec_);
    if (ec_) return;
    ws_.set_option(boost::beast::websocket::stream_base::decorator(
        [authorization](boost::beast::websocket::request_type& r) {
          if (!authorization.empty()) r.set(boost::beast::http::field::authorization, authorization);
        }));
    ws_.handshake("127.0.0.1", "/v1/ws", ec_);
    boost::beast::get_lowest_layer(ws_).expires_never();
  }

  bool ok() const { return !ec_; }

  void SendRaw(const std::string& text) {
    ws_.text(true);
    ws_.write(boost::asio::buffer(text), ec_);
  }
  void Send(const std::string& type, const Json& payload) {
    SendRaw(Json{{"type", type}, {"payload", payload}}.dump());
  }
  void Hello(const std::string& client_id, const std::string& api_key = "") {
    Json payload = {{"clientType", "integration"}, {"clientId", client_id},
                    {"displayName", "Test " + client_id}, {"version", "1.0.0"}};
    if (!api_key.empty()) payload["apiKey"] = api_key;
    Send("hello", payload);
  }

  // The next frame, or nullopt after `timeout` or when the socket closed.
  std::optional<Json> Read(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    boost::beast::flat_buffer buffer;
    bool done = false;
    ws_.async_read(buffer, [&](boost::beast::error_code ec, size_t) {
      ec_ = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      // Give up on this socket: cancel the read and let it finish.
      boost::beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      ioc_.run();
      timed_out_ = true;
      return std::nullopt;
    }
    if (ec_) return std::nullopt;
    return Json::parse(boost::beast::buffers_to_string(buffer.data()), nullptr, false);
  }
  // The next frame, which must be of `type`; its payload ({} otherwise).
  Json Expect(const std::string& type) {
    std::optional<Json> frame = Read();
    EXPECT_TRUE(frame.has_value()) << "no " << type << " frame";
    if (!frame.has_value()) return Json::object();
    EXPECT_EQ((*frame)["type"], type) << frame->dump();
    return (*frame)["payload"];
  }
  // The next frame must be error `code`.
  void ExpectError(const std::string& code) {
    const Json payload = Expect("error");
    EXPECT_EQ(payload.value("code", ""), code) << payload.dump();
    EXPECT_TRUE(payload.contains("message")) << payload.dump();
  }
  // True when the relay closes the socket within the timeout.
  bool WaitClosed(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::optional<Json> frame =
          Read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!frame.has_value()) return !timed_out_;
    }
    return false;
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::error_code ec_;
  bool timed_out_ = false;
};

}  // namespace fedrelay::testing

#endif  // FEDRELAY_TESTS_RELAY_WS_CLIENT_UTIL_H_
