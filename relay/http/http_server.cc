// The HTTP server's public API (http_server.h): routes, Start and Stop. The
// sessions are in http_session.cc and websocket_session.cc.
#include "relay/http/http_server.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "relay/http/http_server_internal.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

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
