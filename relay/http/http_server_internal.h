// The HTTP server's internals, shared by its files (relay/http/): the
// connection registry and routes (HttpServer::Core), the request/response
// helpers (http_messages.cc), the HTTP session (http_session.cc: reading,
// routing, answering, upgrading) and the WebSocket session
// (websocket_session.cc). Not for use outside them.
#ifndef FEDRELAY_RELAY_HTTP_HTTP_SERVER_INTERNAL_H_
#define FEDRELAY_RELAY_HTTP_HTTP_SERVER_INTERNAL_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

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

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "relay/http/http_server.h"

namespace fedrelay::relay {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;


constexpr char kServerName[] = "fedrelay";
constexpr char kCorrelationHeader[] = "X-Correlation-Id";
// How long Stop() lets connections close on their own before cutting them.
constexpr auto kStopGrace = std::chrono::milliseconds(1000);
// How long a connection we are closing after an error may keep sending (and we
// keep discarding) so that the client reads our response instead of a reset.
constexpr auto kLingerTimeout = std::chrono::milliseconds(2000);

std::string ToString(beast::string_view view);
// The query string's parameters, percent-decoded; kMalformed for a bad escape
// or a repeated name.
absl::StatusOr<std::map<std::string, std::string>> ParseQuery(absl::string_view query);
// The request target as logged: secret-bearing query values masked.
std::string LoggedTarget(const HttpRequest& request);
std::string FormatEndpoint(const tcp::endpoint& endpoint);
// The one place a Status becomes an HTTP error (SPEC section 5).
HttpResponse ErrorResponse(const absl::Status& status, const std::string& correlation_id);

// Shuts both directions and closes; errors are moot at that point.
void CloseStream(beast::tcp_stream& stream);
// The end of a lingering close: reads and discards what the client still
// sends until it closes or the stream's timer expires, then closes. Closing a
// socket with unread input resets the connection, and the client might lose
// our answer with it. `owner` keeps `stream` and `buffer` alive meanwhile.
void DrainThenClose(beast::tcp_stream& stream, std::shared_ptr<void> owner, net::mutable_buffer buffer);

// A live connection as Stop() sees it.
class Connection {
 public:
  virtual ~Connection() = default;
  // Posted to the connection's strand. `force` drops the socket instead of closing politely.
  virtual void Shutdown(bool force) = 0;
};


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

  // `served` connections (HTTP and WebSocket sessions) count against
  // max_connections; the ones being refused (RefuseConnection) do not.
  uint64_t Register(std::weak_ptr<Connection> connection, bool served = true) {
    std::lock_guard<std::mutex> lock(connections_mu);
    const uint64_t id = next_connection_id++;
    connections.emplace(id, Registered{std::move(connection), served});
    (served ? served_connections : refusing_connections)++;
    return id;
  }
  void Unregister(uint64_t id) {
    std::lock_guard<std::mutex> lock(connections_mu);
    const auto it = connections.find(id);
    if (it != connections.end()) {
      (it->second.served ? served_connections : refusing_connections)--;
      connections.erase(it);
    }
    connections_cv.notify_all();
  }
  // What a newly accepted connection gets: served while fewer than
  // max_connections are; else a 503 answer while as many refusals are under
  // way; else closed at once.
  enum class Admission { kServe, kRefuse, kDrop };
  Admission Admit() {
    std::lock_guard<std::mutex> lock(connections_mu);
    if (served_connections < options.max_connections) return Admission::kServe;
    return refusing_connections < options.max_connections ? Admission::kRefuse : Admission::kDrop;
  }
  void ShutdownAll(bool force) {
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> lock(connections_mu);
      for (const auto& [id, registered] : connections) {
        if (auto connection = registered.connection.lock()) live.push_back(std::move(connection));
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
  struct Registered {
    std::weak_ptr<Connection> connection;
    bool served = true;
  };
  std::unordered_map<uint64_t, Registered> connections;  // guarded by connections_mu
  size_t served_connections = 0;                         // guarded by connections_mu
  size_t refusing_connections = 0;                       // guarded by connections_mu
  uint64_t next_connection_id = 0;

  std::vector<std::thread> threads;
  // Declared last: destroyed first, while the registry above still exists for
  // the connections its pending handlers release.
  net::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;  // on the acceptor's strand
};

// Starts serving an accepted connection (http_session.cc).
void StartHttpSession(tcp::socket&& socket, std::shared_ptr<HttpServer::Core> core);
// Answers an accepted connection over max_connections with 503 `unavailable`
// at once, without reading a request, and closes it (http_refusal.cc).
void RefuseConnection(tcp::socket&& socket, std::shared_ptr<HttpServer::Core> core);
// Completes the WebSocket handshake of `upgrade` and serves the socket with
// `handler` (websocket_session.cc).
void StartWebSocketSession(beast::tcp_stream&& stream, std::shared_ptr<HttpServer::Core> core,
                           std::unique_ptr<WebSocketHandler> handler, std::string correlation_id,
                           http::request<http::string_body> upgrade);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_HTTP_SERVER_INTERNAL_H_
