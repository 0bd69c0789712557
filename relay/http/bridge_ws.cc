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
  BridgeSocket(ApiKeys& api_keys, BridgeOutbox& outbox, std::string key, std::string key_id)
      : api_keys_(api_keys), outbox_(outbox), key_(std::move(key)), key_id_(std::move(key_id)) {}

  void OnOpen(std::shared_ptr<WebSocketConnection> connection) override {
    session_ = outbox_.Attach(key_id_, connection);
    // A revocation between the upgrade and Attach found no session to close:
    // checking again after Attach leaves no gap (the revocation listener runs
    // after the revocation is durable).
    if (!api_keys_.Authenticate(key_).ok()) connection->Close();
  }
  void OnMessage(std::string message) override {
    if (session_ != 0) outbox_.OnFrame(session_, std::move(message));
  }
  void OnClose() override {
    if (session_ != 0) outbox_.Detach(session_);
  }

 private:
  ApiKeys& api_keys_;
  BridgeOutbox& outbox_;
  const std::string key_;  // the secret, in memory only: to re-check it once in OnOpen
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
    return std::unique_ptr<WebSocketHandler>(new BridgeSocket(api_keys, outbox, *token, info->key_id));
  });
}

}  // namespace fedrelay::relay
