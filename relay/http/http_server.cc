#include "relay/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

// GCC 12 reports a false maybe-uninitialized inside Beast's parser when
// sanitizers change inlining; the warning is about Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/errors.h"
#include "nlohmann/json.hpp"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr char kServerName[] = "fedrelay";
constexpr char kCorrelationHeader[] = "X-Correlation-Id";
// How long Stop() lets connections close on their own before cutting them.
constexpr auto kStopGrace = std::chrono::milliseconds(1000);
// How long a connection we are closing after an error may keep sending (and we
// keep discarding) so that the client reads our response instead of a reset.
constexpr auto kLingerTimeout = std::chrono::milliseconds(2000);

std::string ToString(beast::string_view view) { return std::string(view.data(), view.size()); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding for query components ('+' is a space, as in HTML forms).
absl::StatusOr<std::string> QueryDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      const int high = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) return MakeError(ErrorCode::kMalformed, "bad percent-encoding in the query");
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseQuery(absl::string_view query) {
  std::map<std::string, std::string> result;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t equals = part.find('=');
    auto name = QueryDecode(part.substr(0, equals));
    if (!name.ok()) return name.status();
    auto value = QueryDecode(equals == absl::string_view::npos ? absl::string_view() : part.substr(equals + 1));
    if (!value.ok()) return value.status();
    result.emplace(std::move(*name), std::move(*value));
  }
  return result;
}

// Credentials travel in query parameters only by mistake, but must not reach the log even then.
bool IsSecretName(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return absl::StrContains(lower, "token") || absl::StrContains(lower, "key") ||
         absl::StrContains(lower, "secret") || absl::StrContains(lower, "password");
}

std::string LoggedTarget(const HttpRequest& request) {
  std::string out = request.path.empty() ? "-" : request.path;
  char separator = '?';
  for (const auto& [name, value] : request.query) {
    absl::StrAppend(&out, std::string(1, separator), name, "=", IsSecretName(name) ? "<redacted>" : value);
    separator = '&';
  }
  return out;
}

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? absl::StrCat("[", address.to_string(), "]:", endpoint.port())
                         : absl::StrCat(address.to_string(), ":", endpoint.port());
}

// The one place a Status becomes an HTTP error (SPEC section 5).
HttpResponse ErrorResponse(const absl::Status& status, const std::string& correlation_id) {
  const int http_status = HttpStatusFor(status);
  // Internal failures are logged in full (with the correlation id) but not shown to clients.
  const std::string human = http_status >= 500 && MachineCode(status) == "internal"
                                ? std::string("internal error")
                                : HumanMessage(status);
  const nlohmann::json body = {
      {"error", human}, {"code", MachineCode(status)}, {"correlation_id", correlation_id}};
  HttpResponse response =
      HttpResponse::Json(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), http_status);
  if (const auto retry_ms = RetryAfterMs(status)) {
    response.headers.emplace_back("Retry-After", absl::StrCat((*retry_ms + 999) / 1000));
  }
  return response;
}

// A live connection as Stop() sees it.
class Connection {
 public:
  virtual ~Connection() = default;
  // Posted to the connection's strand. `force` drops the socket instead of closing politely.
  virtual void Shutdown(bool force) = 0;
};

}  // namespace

std::optional<std::string> HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::BearerToken() const {
  const auto authorization = Header("Authorization");
  if (!authorization.has_value()) return std::nullopt;
  absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size() || !absl::StartsWithIgnoreCase(value, kScheme)) return std::nullopt;
  value.remove_prefix(kScheme.size());
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

HttpResponse HttpResponse::Json(std::string body, int status) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Text(std::string body, int status) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

struct HttpServer::Core : std::enable_shared_from_this<HttpServer::Core> {
  explicit Core(Options opts) : options(std::move(opts)), ioc(std::max(1, options.threads)) {}

  const Options options;

  // Routes: written before Start(), read-only afterwards.
  std::map<std::pair<std::string, std::string>, AsyncHttpHandler> exact;
  struct PrefixRoute {
    std::string method;
    std::string prefix;
    AsyncHttpHandler handler;
  };
  std::vector<PrefixRoute> prefixes;  // longest prefix first
  std::map<std::string, WebSocketFactory> websockets;

  // The handler for (method, path); nullptr when none.
  const AsyncHttpHandler* Find(absl::string_view method, absl::string_view path) const {
    const auto it = exact.find({std::string(method), std::string(path)});
    if (it != exact.end()) return &it->second;
    for (const auto& route : prefixes) {
      if (route.method == method && absl::StartsWith(path, route.prefix)) return &route.handler;
    }
    return nullptr;
  }

  // Posts `fn` to `executor` unless the server has shut down for good; a
  // handler posted after the final drain would never run and would keep its
  // connection (and this Core) alive forever.
  template <typename Executor, typename Fn>
  bool Post(const Executor& executor, Fn&& fn) {
    std::lock_guard<std::mutex> lock(post_mu);
    if (drained) return false;
    net::post(executor, std::forward<Fn>(fn));
    return true;
  }

  uint64_t Register(std::weak_ptr<Connection> connection) {
    std::lock_guard<std::mutex> lock(connections_mu);
    const uint64_t id = next_connection_id++;
    connections.emplace(id, std::move(connection));
    return id;
  }
  void Unregister(uint64_t id) {
    std::lock_guard<std::mutex> lock(connections_mu);
    connections.erase(id);
    connections_cv.notify_all();
  }
  void ShutdownAll(bool force) {
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> lock(connections_mu);
      for (const auto& [id, weak] : connections) {
        if (auto connection = weak.lock()) live.push_back(std::move(connection));
      }
    }
    for (const auto& connection : live) connection->Shutdown(force);
  }
  bool WaitForNoConnections(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(connections_mu);
    return connections_cv.wait_for(lock, timeout, [this] { return connections.empty(); });
  }

  void DoAccept();

  std::atomic<bool> stopping{false};
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu
  std::mutex post_mu;
  bool drained = false;  // guarded by post_mu

  std::mutex connections_mu;
  std::condition_variable connections_cv;
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> connections;
  uint64_t next_connection_id = 0;

  std::vector<std::thread> threads;
  // Declared last: destroyed first, while the registry above still exists for
  // the connections its pending handlers release.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;  // on the acceptor's strand
};

namespace {

using Core = HttpServer::Core;

class WebSocketSession final : public Connection,
                               public WebSocketConnection,
                               public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(beast::tcp_stream&& stream, std::shared_ptr<Core> core,
                   std::unique_ptr<WebSocketHandler> handler, std::string correlation_id)
      : ws_(std::move(stream)),
        executor_(ws_.get_executor()),
        core_(std::move(core)),
        handler_(std::move(handler)),
        correlation_id_(std::move(correlation_id)) {}

  ~WebSocketSession() override {
    for (auto& written : written_) {
      if (written) written(false);
    }
    NotifyClosed();
    core_->Unregister(id_);
  }

  void Run(http::request<http::string_body> upgrade) {
    id_ = core_->Register(weak_from_this());
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream keeps its own timeouts
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [correlation_id = correlation_id_](websocket::response_type& response) {
          response.set(http::field::server, kServerName);
          response.set(kCorrelationHeader, correlation_id);
        }));
    ws_.read_message_max(core_->options.max_websocket_message_bytes);
    upgrade_ = std::move(upgrade);
    ws_.async_accept(upgrade_, beast::bind_front_handler(&WebSocketSession::OnAccept, shared_from_this()));
  }

  bool Send(std::string text) override { return SendThen(std::move(text), nullptr); }

  bool SendThen(std::string text, std::function<void(bool written)> written) override {
    if (!open_.load()) return false;
    const size_t size = text.size();
    if (queued_bytes_.fetch_add(size) + size > core_->options.max_websocket_queue_bytes) {
      queued_bytes_.fetch_sub(size);
      spdlog::debug("websocket {}: peer reads too slowly, closing", correlation_id_);
      Shutdown(/*force=*/true);
      return false;
    }
    const bool posted = core_->Post(executor_, [self = shared_from_this(), text = std::move(text),
                                                written = std::move(written)]() mutable {
      if (!self->open_.load()) {
        self->queued_bytes_.fetch_sub(text.size());
        if (written) written(false);
        return;
      }
      self->queue_.push_back(std::move(text));
      self->written_.push_back(std::move(written));
      if (!self->writing_) self->DoWrite();
    });
    if (!posted) queued_bytes_.fetch_sub(size);
    return posted;
  }

  void Close() override {
    core_->Post(executor_, [self = shared_from_this()] { self->StartClose(); });
  }

  bool is_open() const override { return open_.load(); }

  void Shutdown(bool force) override {
    core_->Post(executor_, [self = shared_from_this(), force] {
      if (force) {
        self->open_ = false;
        beast::error_code ignored;
        beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(self->ws_).close();
      } else {
        self->StartClose(websocket::close_code::going_away);
      }
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      spdlog::debug("websocket {}: handshake failed: {}", correlation_id_, ec.message());
      return;  // never opened: the destructor still reports OnClose
    }
    open_ = true;
    opened_ = true;
    handler_->OnOpen(shared_from_this());
    DoRead();
  }

  void DoRead() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WebSocketSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) {
      if (ec != websocket::error::closed) spdlog::debug("websocket {}: {}", correlation_id_, ec.message());
      Finish();
      return;
    }
    std::string message = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (handler_ != nullptr) handler_->OnMessage(std::move(message));
    if (core_->stopping.load()) {
      Finish();
    } else {
      DoRead();
    }
  }

  void DoWrite() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    beast::bind_front_handler(&WebSocketSession::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    writing_ = false;
    queued_bytes_.fetch_sub(queue_.front().size());
    queue_.pop_front();
    std::function<void(bool)> written = std::move(written_.front());
    written_.pop_front();
    if (written) written(!ec);
    if (ec) {
      Finish();
      return;
    }
    if (!queue_.empty()) {
      DoWrite();
    } else if (close_pending_) {
      StartClose(close_code_);
    }
  }

  // Queued frames go out first; the close frame is a write too, so it waits for them.
  void StartClose(websocket::close_code code = websocket::close_code::normal) {
    if (closing_ || !open_.load()) return;
    if (writing_) {
      close_pending_ = true;
      close_code_ = code;
      return;
    }
    closing_ = true;
    open_ = false;
    ws_.async_close(code, [self = shared_from_this()](beast::error_code) {
      // The pending read completes with `closed` and finishes the session.
    });
  }

  void Finish() {
    open_ = false;
    FailUnwritten();
    NotifyClosed();
  }

  // Frames still queued when the connection ends will never be written.
  void FailUnwritten() {
    // The one being written (the front, while writing_) learns in OnWrite.
    for (size_t i = writing_ ? 1 : 0; i < written_.size(); ++i) {
      std::function<void(bool)> written = std::move(written_[i]);
      written_[i] = nullptr;
      if (written) written(false);
    }
  }

  // OnClose only follows OnOpen; a handler whose handshake failed is just dropped.
  void NotifyClosed() {
    if (handler_ == nullptr || !opened_) return;
    std::unique_ptr<WebSocketHandler> handler = std::move(handler_);
    handler->OnClose();
  }

  websocket::stream<beast::tcp_stream> ws_;
  const net::any_io_executor executor_;  // the connection's strand
  const std::shared_ptr<Core> core_;
  std::unique_ptr<WebSocketHandler> handler_;  // reset after OnClose
  const std::string correlation_id_;
  http::request<http::string_body> upgrade_;
  uint64_t id_ = 0;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::deque<std::function<void(bool)>> written_;  // SendThen callbacks, one per queue_ entry
  bool writing_ = false;
  bool closing_ = false;
  bool close_pending_ = false;
  bool opened_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::atomic<bool> open_{false};
  std::atomic<size_t> queued_bytes_{0};
};

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, std::shared_ptr<Core> core)
      : stream_(std::move(socket)), executor_(stream_.get_executor()), core_(std::move(core)) {}

  ~HttpSession() override { core_->Unregister(id_); }

  void Run() {
    id_ = core_->Register(weak_from_this());
    beast::error_code ec;
    const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
    remote_address_ = ec ? "-" : FormatEndpoint(remote);
    net::dispatch(executor_, beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
  }

  void Shutdown(bool force) override {
    core_->Post(executor_, [self = shared_from_this(), force] {
      // A request in a handler still gets its answer unless we are forced.
      if (self->upgraded_ || (self->in_handler_ && !force)) return;
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.close();
    });
  }

 private:
  void DoRead() {
    if (core_->stopping.load()) return;
    parser_.emplace();
    // 0 = no limit. Not boost::none: this Boost compares a Content-Length with
    // the optional limit, and any length is "greater" than none.
    parser_->body_limit(core_->options.max_body_bytes == 0
                            ? std::numeric_limits<std::uint64_t>::max()
                            : static_cast<std::uint64_t>(core_->options.max_body_bytes));
    parser_->header_limit(static_cast<uint32_t>(core_->options.max_header_bytes));
    stream_.expires_after(core_->options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    request_ = HttpRequest();
    request_.remote_address = remote_address_;
    if (ec) {
      HandleReadError(ec);
      return;
    }
    auto message = parser_->release();
    request_.correlation_id = NewCorrelationId();
    request_.method = ToString(message.method_string());
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    started_ = std::chrono::steady_clock::now();
    for (const auto& field : message) {
      request_.headers.emplace_back(ToString(field.name_string()), ToString(field.value()));
    }
    if (absl::Status status = ParseTarget(ToString(message.target())); !status.ok()) {
      Respond(status);
      return;
    }
    request_.body = std::move(message.body());

    if (websocket::is_upgrade(message)) {
      const auto route = core_->websockets.find(request_.path);
      if (route != core_->websockets.end() && request_.method == "GET") {
        Upgrade(route->second, std::move(message));
        return;
      }
    }
    const AsyncHttpHandler* handler = core_->Find(request_.method, request_.path);
    if (handler == nullptr) {
      Respond(MakeError(ErrorCode::kNotFound, absl::StrCat("no route for ", request_.method, " ", request_.path)));
      return;
    }
    in_handler_ = true;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    HttpResponder responder = [self = shared_from_this(), answered](absl::StatusOr<HttpResponse> result) {
      if (answered->exchange(true)) return;
      self->core_->Post(self->executor_, [self, result = std::move(result)]() mutable {
        self->in_handler_ = false;
        self->Respond(std::move(result));
      });
    };
    try {
      (*handler)(request_, responder);
    } catch (const std::exception& e) {
      spdlog::error("http {} {}: handler threw: {}", request_.correlation_id, request_.path, e.what());
      responder(MakeError(ErrorCode::kInternal, "handler threw"));
    }
  }

  void HandleReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::bad_target).category()) {
      // The client went away, idled out or broke the connection: nobody to answer.
      Close();
      return;
    }
    // A broken request: answer it, then hang up, as the rest of the stream cannot be trusted.
    request_.correlation_id = NewCorrelationId();
    started_ = std::chrono::steady_clock::now();
    keep_alive_ = false;
    if (parser_->is_header_done()) {
      const auto& header = parser_->get();
      request_.method = ToString(header.method_string());
      const std::string target = ToString(header.target());
      request_.path = target.substr(0, target.find('?'));
      version_ = header.version();
    }
    if (ec == http::error::body_limit) {
      Respond(MakeError(ErrorCode::kPayloadTooLarge,
                        absl::StrCat("request body exceeds ", core_->options.max_body_bytes, " bytes")));
    } else if (ec == http::error::header_limit) {
      Respond(MakeError(ErrorCode::kMalformed,
                        absl::StrCat("request header exceeds ", core_->options.max_header_bytes, " bytes")));
    } else {
      Respond(MakeError(ErrorCode::kMalformed, absl::StrCat("malformed HTTP request: ", ec.message())));
    }
  }

  absl::Status ParseTarget(const std::string& target) {
    if (target.empty() || target.front() != '/') {
      return MakeError(ErrorCode::kMalformed, "request target must be an absolute path");
    }
    const size_t question = target.find('?');
    request_.path = target.substr(0, question);
    if (question == std::string::npos) return absl::OkStatus();
    auto query = ParseQuery(absl::string_view(target).substr(question + 1));
    if (!query.ok()) return query.status();
    request_.query = std::move(*query);
    return absl::OkStatus();
  }

  void Upgrade(const WebSocketFactory& factory, http::request<http::string_body> message) {
    absl::StatusOr<std::unique_ptr<WebSocketHandler>> handler;
    try {
      handler = factory(request_);
    } catch (const std::exception& e) {
      spdlog::error("http {} {}: websocket factory threw: {}", request_.correlation_id, request_.path, e.what());
      handler = MakeError(ErrorCode::kInternal, "websocket factory threw");
    }
    if (!handler.ok()) {
      Respond(handler.status());
      return;
    }
    Log(101);
    upgraded_ = true;  // the stream now belongs to the WebSocket session
    std::make_shared<WebSocketSession>(std::move(stream_), core_, std::move(*handler), request_.correlation_id)
        ->Run(std::move(message));
  }

  void Respond(absl::StatusOr<HttpResponse> result) {
    HttpResponse response = result.ok() ? std::move(*result) : ErrorResponse(result.status(), request_.correlation_id);
    if (!result.ok() && response.status == 500) {
      spdlog::warn("http {} {} {}: {}", request_.method, request_.path, request_.correlation_id,
                   result.status().ToString());
    }
    auto out = std::make_shared<http::response<http::string_body>>();
    out->version(version_);
    out->result(static_cast<unsigned>(response.status));
    out->set(http::field::server, kServerName);
    out->set(http::field::content_type, response.content_type);
    out->set(kCorrelationHeader, request_.correlation_id);
    for (const auto& [name, value] : response.headers) out->insert(name, value);
    out->keep_alive(keep_alive_);
    out->body() = std::move(response.body);
    out->prepare_payload();
    Log(response.status);
    if (core_->stopping.load()) out->keep_alive(false);
    stream_.expires_after(core_->options.idle_timeout);
    http::async_write(stream_, *out,
                      [self = shared_from_this(), out](beast::error_code ec, size_t) {
                        if (ec) {
                          self->Close();
                        } else if (out->need_eof()) {
                          self->LingeringClose();
                        } else {
                          self->DoRead();
                        }
                      });
  }

  void Log(int status) {
    // Off by default: build the line (and redact the target) only when it is written.
    if (!spdlog::should_log(spdlog::level::debug)) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_).count();
    spdlog::debug("http {} {} {} {} from {} in {:.2f} ms", request_.method.empty() ? "-" : request_.method,
                  LoggedTarget(request_), status, request_.correlation_id, remote_address_, ms);
  }

  // Half-closes and discards what the client still sends for a moment: closing
  // a socket with unread input resets the connection, and the client might
  // lose our response with it.
  void LingeringClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min<std::chrono::milliseconds>(kLingerTimeout, core_->options.idle_timeout));
    DrainSome();
  }

  void DrainSome() {
    stream_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) {
                                self->Close();
                              } else {
                                self->DrainSome();
                              }
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const net::any_io_executor executor_;  // the connection's strand; outlives an upgrade
  const std::shared_ptr<Core> core_;
  uint64_t id_ = 0;
  std::string remote_address_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool in_handler_ = false;
  bool upgraded_ = false;
  std::chrono::steady_clock::time_point started_;
  char drain_buffer_[4096];
};

}  // namespace

void HttpServer::Core::DoAccept() {
  acceptor->async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopping.load() || !acceptor->is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: retrying at once would spin.
      spdlog::warn("http accept failed: {}", ec.message());
      accept_retry->expires_after(std::chrono::milliseconds(100));
      accept_retry->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping.load()) DoAccept();
      });
      return;
    }
    // The session holds the Core: it may outlive the HttpServer object.
    std::make_shared<HttpSession>(std::move(socket), shared_from_this())->Run();
    DoAccept();
  });
}

namespace {

AsyncHttpHandler Synchronous(HttpHandler handler) {
  return [handler = std::move(handler)](const HttpRequest& request, HttpResponder respond) {
    respond(handler(request));
  };
}

}  // namespace

HttpServer::HttpServer(Options options) : core_(std::make_shared<Core>(std::move(options))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(absl::string_view method, absl::string_view path, HttpHandler handler) {
  HandleAsync(method, path, Synchronous(std::move(handler)));
}

void HttpServer::HandleAsync(absl::string_view method, absl::string_view path, AsyncHttpHandler handler) {
  core_->exact[{std::string(method), std::string(path)}] = std::move(handler);
}

void HttpServer::HandlePrefix(absl::string_view method, absl::string_view prefix, HttpHandler handler) {
  HandlePrefixAsync(method, prefix, Synchronous(std::move(handler)));
}

void HttpServer::HandlePrefixAsync(absl::string_view method, absl::string_view prefix,
                                   AsyncHttpHandler handler) {
  auto& prefixes = core_->prefixes;
  prefixes.push_back({std::string(method), std::string(prefix), std::move(handler)});
  std::stable_sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
    return a.prefix.size() > b.prefix.size();
  });
}

void HttpServer::HandleWebSocket(absl::string_view path, WebSocketFactory factory) {
  core_->websockets[std::string(path)] = std::move(factory);
}

absl::Status HttpServer::Start() {
  Core& core = *core_;
  if (core.acceptor.has_value()) return absl::FailedPreconditionError("HTTP server already started");
  const std::string& listen = core.options.listen;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP listen address \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("HTTP listen address \"", listen, "\" has a bad port"));
  }

  beast::error_code ec;
  tcp::resolver resolver(core.ioc);
  const auto endpoints =
      resolver.resolve(host, port, tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve HTTP listen address \"", listen, "\": ", ec.message()));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  core.acceptor.emplace(net::make_strand(core.ioc));
  core.accept_retry.emplace(core.acceptor->get_executor());
  tcp::acceptor& acceptor = *core.acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen, ": ", ec.message()));
  }
  port_ = acceptor.local_endpoint(ec).port();
  core.DoAccept();
  for (int i = 0; i < std::max(1, core.options.threads); ++i) {
    core.threads.emplace_back([&core] { core.ioc.run(); });
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  Core& core = *core_;
  std::lock_guard<std::mutex> stop_lock(core.stop_mu);
  if (core.stopped) return;
  core.stopped = true;
  core.stopping = true;
  if (!core.threads.empty()) {
    net::post(core.acceptor->get_executor(), [&core] {
      beast::error_code ignored;
      core.acceptor->close(ignored);
      core.accept_retry->cancel();
    });
    // Politely first (requests in handlers get their answers, websockets a close
    // frame), then by force.
    core.ShutdownAll(/*force=*/false);
    if (!core.WaitForNoConnections(kStopGrace)) {
      core.ShutdownAll(/*force=*/true);
      core.WaitForNoConnections(kStopGrace);
    }
  }
  core.ioc.stop();
  for (auto& thread : core.threads) thread.join();
  core.threads.clear();

  // No io thread runs any more. Cut what is left and run the handlers that are
  // still queued, so that no connection keeps the Core (and its io_context)
  // alive through a handler that would never run.
  beast::error_code ignored;
  if (core.acceptor.has_value()) core.acceptor->close(ignored);
  if (core.accept_retry.has_value()) core.accept_retry->cancel();
  core.ioc.restart();
  core.ShutdownAll(/*force=*/true);
  {
    std::lock_guard<std::mutex> lock(core.post_mu);
    core.drained = true;
  }
  while (core.ioc.poll() > 0) {
  }
}

}  // namespace fedrelay::relay
