// The WebSocket session of the HTTP server: the handshake, reads and the
// write queue behind WebSocketConnection (http_server.h).
#include <deque>
#include <exception>

#include "absl/strings/str_cat.h"
#include "relay/http/http_server_internal.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
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

}  // namespace

void StartWebSocketSession(beast::tcp_stream&& stream, std::shared_ptr<HttpServer::Core> core,
                           std::unique_ptr<WebSocketHandler> handler, std::string correlation_id,
                           http::request<http::string_body> upgrade) {
  std::make_shared<WebSocketSession>(std::move(stream), std::move(core), std::move(handler),
                                     std::move(correlation_id))
      ->Run(std::move(upgrade));
}

}  // namespace fedrelay::relay
