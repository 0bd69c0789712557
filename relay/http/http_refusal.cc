// The answer of the HTTP server to a connection accepted over
// max_connections: 503 `unavailable` (protocol section 5 body), written at
// once without waiting for a request, then a short lingering close. Waiting
// for the request first would let the very clients the limit is for (idle and
// slow ones) hold the refusal open; a client that sends its request anyway
// reads the answer, as HTTP/1.1 allows a server to answer and close early.
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "relay/http/http_server_internal.h"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// How long a refused connection may keep sending (discarded) after the answer,
// so that closing with unread input does not reset the answer away.
constexpr auto kRefusalLinger = std::chrono::milliseconds(1000);

class RefusedConnection final : public Connection,
                                public std::enable_shared_from_this<RefusedConnection> {
 public:
  RefusedConnection(tcp::socket&& socket, std::shared_ptr<HttpServer::Core> core)
      : stream_(std::move(socket)), executor_(stream_.get_executor()), core_(std::move(core)) {}

  ~RefusedConnection() override { core_->Unregister(id_); }

  void Run() {
    id_ = core_->Register(weak_from_this(), /*served=*/false);
    net::dispatch(executor_, [self = shared_from_this()] { self->Answer(); });
  }

  void Shutdown(bool /*force*/) override {
    core_->Post(executor_, [self = shared_from_this()] { self->Close(); });
  }

 private:
  void Answer() {
    const std::string correlation_id = NewCorrelationId();
    const HttpResponse response = ErrorResponse(
        MakeError(ErrorCode::kUnavailable,
                  absl::StrCat("the relay serves ", core_->options.max_connections,
                               " HTTP connections at most (http.max_connections); try again later")),
        correlation_id);
    response_.version(11);
    response_.result(static_cast<unsigned>(response.status));
    response_.set(http::field::server, kServerName);
    response_.set(http::field::content_type, response.content_type);
    response_.set(http::field::retry_after, "1");
    response_.set(kCorrelationHeader, correlation_id);
    for (const auto& [name, value] : response.headers) response_.set(name, value);
    response_.keep_alive(false);
    response_.body() = response.body;
    response_.prepare_payload();
    spdlog::debug("http connection refused: {} connections open (http.max_connections) {}",
                  core_->options.max_connections, correlation_id);
    stream_.expires_after(std::min<std::chrono::milliseconds>(kRefusalLinger, core_->options.idle_timeout));
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->Close();
        return;
      }
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->DrainSome();
    });
  }

  void DrainSome() { DrainThenClose(stream_, shared_from_this(), net::buffer(drain_buffer_)); }

  void Close() { CloseStream(stream_); }

  beast::tcp_stream stream_;
  const net::any_io_executor executor_;
  const std::shared_ptr<HttpServer::Core> core_;
  uint64_t id_ = 0;
  http::response<http::string_body> response_;
  char drain_buffer_[1024];
};

}  // namespace

void RefuseConnection(tcp::socket&& socket, std::shared_ptr<HttpServer::Core> core) {
  std::make_shared<RefusedConnection>(std::move(socket), std::move(core))->Run();
}

}  // namespace fedrelay::relay
