// The HTTP session of the HTTP server: reads a request, routes it to its
// handler, writes the answer (keep-alive, lingering close after errors) or
// hands the stream to a WebSocket session; and the acceptor that starts it.
#include <exception>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "relay/ulid.h"
#include "relay/http/http_server_internal.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

using Core = HttpServer::Core;

// What a kept-alive connection's first read after an idle wait asks for.
constexpr size_t kFirstReadBytes = 4096;

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
    if (first_request_ || buffer_.size() > 0) {
      // A new connection has header_timeout from its accept for its first head
      // (idle and slowloris connections alike); a pipelined request has begun.
      first_request_ = false;
      ReadHeader();
      return;
    }
    // Kept alive: idle_timeout to begin the next request, then header_timeout for its head.
    stream_.expires_after(core_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              if (ec) {
                                self->Close();
                                return;
                              }
                              self->buffer_.commit(bytes);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    stream_.expires_after(core_->options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t bytes) {
    if (ec || parser_->is_done()) {
      OnRead(ec, bytes);
      return;
    }
    // The body gets idle_timeout.
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
    StartWebSocketSession(std::move(stream_), core_, std::move(*handler), request_.correlation_id,
                          std::move(message));
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

  void DrainSome() { DrainThenClose(stream_, shared_from_this(), net::buffer(drain_buffer_)); }

  void Close() { CloseStream(stream_); }

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
  bool first_request_ = true;
  std::chrono::steady_clock::time_point started_;
  char drain_buffer_[4096];
};

}  // namespace

void StartHttpSession(tcp::socket&& socket, std::shared_ptr<HttpServer::Core> core) {
  std::make_shared<HttpSession>(std::move(socket), std::move(core))->Run();
}

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
    switch (Admit()) {
      case Admission::kServe:
        StartHttpSession(std::move(socket), shared_from_this());
        break;
      case Admission::kRefuse:
        RefuseConnection(std::move(socket), shared_from_this());
        break;
      case Admission::kDrop: {
        beast::error_code ignored;
        socket.close(ignored);
        break;
      }
    }
    DoAccept();
  });
}

}  // namespace fedrelay::relay
