// The relay's HTTP/1.1 and WebSocket listener (Boost.Beast, asynchronous I/O on
// a few io threads). Endpoints register handlers before Start(); the server
// owns parsing, limits, timeouts, keep-alive, correlation ids, request logging
// and the one conversion of a handler's absl::Status into the JSON error body
// of SPEC section 5:
//
//   {"error": "<human text>", "code": "<machine code>", "correlation_id": "req_<ulid>"}
//
// with the status from HttpStatusFor. Every response, error or not, carries
// the request's correlation id in `X-Correlation-Id`; the debug log line for
// the request names it too. Requests the server itself refuses: unknown path or
// method -> 404 not_found; body over the limit -> 413 payload_too_large (then
// close); unparsable HTTP -> 400 malformed (then close). A new connection
// that sends no complete request head within `header_timeout`, or a kept-alive
// one that starts no new request within `idle_timeout`, is closed. A
// connection accepted while `max_connections` HTTP and WebSocket connections
// are open is answered 503 unavailable at once and closed.
//
// Handlers run on an io thread: a synchronous handler should finish in well
// under a millisecond; anything that waits (a durable log append) registers an
// asynchronous handler and answers through its responder from any thread.
//
// Thread-safety: Handle*/HandleWebSocket before Start(); Start() once; Stop()
// from any thread other than an io thread, any number of times. Handlers are
// called concurrently for different connections.
#ifndef FEDRELAY_RELAY_HTTP_HTTP_SERVER_H_
#define FEDRELAY_RELAY_HTTP_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::relay {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', as sent (not percent-decoded)
  std::map<std::string, std::string> query;  // percent-decoded; the first of repeated names wins
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;
  std::string remote_address;  // "ip:port"
  std::string correlation_id;  // "req_<ulid>", fresh for each request

  // Case-insensitive header lookup; the first header of that name.
  std::optional<std::string> Header(absl::string_view name) const;
  // The token of an `Authorization: Bearer <token>` header, if there is one.
  std::optional<std::string> BearerToken() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  static HttpResponse Json(std::string body, int status = 200);
  static HttpResponse Text(std::string body, int status = 200);
};

using HttpHandler = std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)>;
// Called exactly once, from any thread; the connection waits for it.
using HttpResponder = std::function<void(absl::StatusOr<HttpResponse>)>;
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;

// One accepted WebSocket. Send and Close may be called from any thread; after
// the connection closed they do nothing.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text frame. Returns false when the connection is closed, or when
  // the peer reads so slowly that the queue would exceed the server's
  // `max_websocket_queue_bytes`; the connection is then closed.
  virtual bool Send(std::string text) = 0;
  // As Send, and then `written(true)` once the frame has been written to the
  // socket, or `written(false)` when the connection ends first; called on the
  // connection's strand, never from inside SendThen, and not at all when
  // SendThen returns false. Lets a sender keep one frame in flight and so
  // notice a slow reader long before the queue limit.
  virtual bool SendThen(std::string text, std::function<void(bool written)> written) = 0;
  // Starts a normal close handshake.
  virtual void Close() = 0;
  virtual bool is_open() const = 0;
};

// The protocol of one WebSocket connection. The server calls these on the
// connection's own strand: never concurrently, in order, OnOpen after the
// handshake and then OnClose exactly once, last (also on Stop()). A handler
// whose handshake fails gets neither. The server drops the handler after
// OnClose, so a handler may keep the connection's shared_ptr.
class WebSocketHandler {
 public:
  virtual ~WebSocketHandler() = default;
  virtual void OnOpen(std::shared_ptr<WebSocketConnection> connection) = 0;
  // One complete text or binary message.
  virtual void OnMessage(std::string message) = 0;
  virtual void OnClose() {}
};

// Decides on an upgrade request for a path: a handler to accept it, or an
// error the client gets as an ordinary HTTP error response (e.g. 401).
using WebSocketFactory =
    std::function<absl::StatusOr<std::unique_ptr<WebSocketHandler>>(const HttpRequest&)>;

class HttpServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // "host:port", "[v6]:port"; port 0 = ephemeral
    int threads = 2;
    size_t max_body_bytes = 1 << 20;  // 0 = no limit (rate_limits.max_upload_size: 0)
    size_t max_header_bytes = 16 << 10;
    size_t max_websocket_message_bytes = 1 << 20;
    size_t max_websocket_queue_bytes = 16 << 20;
    // Time a kept-alive connection may wait before it starts its next request;
    // also the time a request body, and a response, may take.
    std::chrono::milliseconds idle_timeout{60000};
    // Time a request head (request line and headers) may take: from the
    // connection's accept for its first request, from its first byte for later ones.
    std::chrono::milliseconds header_timeout{10000};
    // Open HTTP and WebSocket connections served at once (>= 1); a connection
    // beyond gets an immediate 503 `unavailable` and is closed, and while as
    // many refusals are still being written, further ones are closed unanswered.
    size_t max_connections = 10000;
  };

  explicit HttpServer(Options options);
  ~HttpServer();  // Stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Exact path.
  void Handle(absl::string_view method, absl::string_view path, HttpHandler handler);
  void HandleAsync(absl::string_view method, absl::string_view path, AsyncHttpHandler handler);
  // Every path starting with `prefix`; the longest matching prefix wins, and
  // an exact route beats any prefix.
  void HandlePrefix(absl::string_view method, absl::string_view prefix, HttpHandler handler);
  void HandlePrefixAsync(absl::string_view method, absl::string_view prefix, AsyncHttpHandler handler);
  // WebSocket upgrades (GET) on an exact path.
  void HandleWebSocket(absl::string_view path, WebSocketFactory factory);

  // Binds, listens and starts the io threads. UNAVAILABLE when the address
  // cannot be bound, INVALID_ARGUMENT when `listen` is not host:port.
  absl::Status Start();
  // The bound port (after Start()).
  int port() const { return port_; }
  // Closes the listener and every connection (WebSocket handlers get OnClose),
  // then joins the io threads.
  void Stop();

  struct Core;  // shared with live connections; defined in the .cc

 private:
  std::shared_ptr<Core> core_;
  int port_ = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_HTTP_SERVER_H_
