#include "relay/http/bridge_ws.h"

#include <memory>
#include <string>
#include <utility>

#include "base/errors.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// One bridge connection: a thin adapter, the outbox does the work.
class BridgeSocket final : public WebSocketHandler {
 public:
  BridgeSocket(BridgeOutbox& outbox, std::string key_id) : outbox_(outbox), key_id_(std::move(key_id)) {}

  void OnOpen(std::shared_ptr<WebSocketConnection> connection) override {
    session_ = outbox_.Attach(key_id_, std::move(connection));
  }
  void OnMessage(std::string message) override {
    if (session_ != 0) outbox_.OnFrame(session_, std::move(message));
  }
  void OnClose() override {
    if (session_ != 0) outbox_.Detach(session_);
  }

 private:
  BridgeOutbox& outbox_;
  const std::string key_id_;
  uint64_t session_ = 0;
};

}  // namespace

void RegisterBridgeEndpoint(HttpServer& server, ApiKeys& api_keys, BridgeOutbox& outbox) {
  api_keys.AddRevocationListener([&outbox](const std::string& key_id) { outbox.CloseSessionsOf(key_id); });
  server.HandleWebSocket(kBridgePath, [&api_keys, &outbox](const HttpRequest& request)
                                          -> absl::StatusOr<std::unique_ptr<WebSocketHandler>> {
    const auto token = request.BearerToken();
    if (!token.has_value()) {
      return MakeError(ErrorCode::kUnauthenticated, "the bridge needs Authorization: Bearer <api key>");
    }
    auto info = api_keys.Authenticate(*token);
    if (!info.ok()) return info.status();
    return std::unique_ptr<WebSocketHandler>(new BridgeSocket(outbox, info->key_id));
  });
}

}  // namespace fedrelay::relay
