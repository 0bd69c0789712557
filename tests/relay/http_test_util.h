// A small blocking Beast client for tests of the relay's HTTP listener. Every
// operation gives up after a timeout instead of hanging the test.
#ifndef FEDRELAY_TESTS_RELAY_HTTP_TEST_UTIL_H_
#define FEDRELAY_TESTS_RELAY_HTTP_TEST_UTIL_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser in
// sanitizer builds (see relay/http/http_server.cc).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

namespace fedrelay::relay::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

using Response = http::response<http::string_body>;

class TestHttpClient {
 public:
  explicit TestHttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : stream_(ioc_), timeout_(timeout) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec_);
  }

  bool connected() const { return !ec_; }
  beast::error_code error() const { return ec_; }

  // Sends one request and reads one response on the same connection; `ok()`
  // afterwards says whether both worked.
  Response Send(http::verb method, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::request<http::string_body> request{method, target, 11};
    request.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers) request.set(name, value);
    request.body() = body;
    request.prepare_payload();
    Response response;
    ec_ = {};
    stream_.expires_after(timeout_);
    http::async_write(stream_, request, [this, &response](beast::error_code ec, size_t) {
      ec_ = ec;
      if (ec) return;
      http::async_read(stream_, buffer_, response, [this](beast::error_code read_ec, size_t) { ec_ = read_ec; });
    });
    Run();
    return response;
  }
  Response Get(const std::string& target) { return Send(http::verb::get, target); }

  // Writes raw bytes.
  void WriteRaw(const std::string& bytes) {
    stream_.expires_after(timeout_);
    net::async_write(stream_, net::buffer(bytes), [this](beast::error_code ec, size_t) { ec_ = ec; });
    Run();
  }
  // Reads one response after WriteRaw.
  Response ReadResponse() {
    Response response;
    stream_.expires_after(timeout_);
    http::async_read(stream_, buffer_, response, [this](beast::error_code ec, size_t) { ec_ = ec; });
    Run();
    return response;
  }
  // True when the server closes the connection (EOF or reset) within the timeout.
  bool WaitForClose() {
    char byte;
    stream_.expires_after(timeout_);
    bool closed = false;
    stream_.async_read_some(net::buffer(&byte, 1), [&closed](beast::error_code ec, size_t) {
      closed = ec && ec != beast::error::timeout;
    });
    Run();
    return closed;
  }

  bool ok() const { return !ec_; }
  tcp::socket& socket() { return stream_.socket(); }

 private:
  void Run() {
    ioc_.restart();
    ioc_.run();
  }

  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
  beast::error_code ec_;
};

}  // namespace fedrelay::relay::testing

#endif  // FEDRELAY_TESTS_RELAY_HTTP_TEST_UTIL_H_
