// The /v1/ws integration session (relay/http/integration_ws.cc) with arbitrary
// frame sequences, through a fake WebSocketConnection over a real store,
// federation core, delivery, API keys and access requests.
//
// Input: one frame per line. A first line "Authorization: <value>" is the
// upgrade's header instead. "@API_KEY@" anywhere is replaced by a valid
// rest.full key, so subscribe, ack and state are reachable. The log holds the
// two peers' relay-signed entries, which a subscriber receives as events.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "base/crypto.h"
#include "federation/federation.h"
#include "relay/auth/api_keys.h"
#include "relay/downstream/delivery.h"
#include "relay/http/access_requests.h"
#include "relay/http/integration_ws.h"
#include "ws_fuzz_util.h"

namespace fedrelay {
namespace {

constexpr size_t kMaxFrames = 64;
constexpr char kAuthorization[] = "Authorization: ";

// Everything lives until exit (the handlers' threads use it); held here so
// LeakSanitizer sees it reachable.
struct Relay {
  relay::WebSocketFactory factory;
  std::string api_key;
  std::unique_ptr<relay::ApiKeys> api_keys;
  std::unique_ptr<relay::AccessRequests> access;
  std::unique_ptr<relay::Delivery> delivery;
  std::unique_ptr<federation::Federation> federation;
  std::unique_ptr<relay::IntegrationGateway> gateway;
  std::unique_ptr<Ed25519PrivateKey> key;
};

Relay& Environment() {
  static Relay* relay = [] {
    fuzz::QuietLogs();
    if (!InitCrypto().ok()) std::abort();
    store::LogStore& store = fuzz::ScratchStore("integration");
    auto* env = new Relay();
    env->key = std::make_unique<Ed25519PrivateKey>(Ed25519PrivateKey::Generate());
    env->api_keys = std::make_unique<relay::ApiKeys>(&store);
    env->access = std::make_unique<relay::AccessRequests>(env->api_keys.get(),
                                                          relay::AccessRequests::Options{600000, 0});
    relay::DeliveryOptions delivery_options;
    delivery_options.store = &store;
    delivery_options.api_keys = env->api_keys.get();
    delivery_options.server_id = "relay.example";
    env->delivery = relay::Delivery::Create(delivery_options);
    federation::FederationOptions options;
    options.server_id = "relay.example";
    options.config_peers = {
        {"alpha.example", Ed25519PrivateKey::Generate().PublicKeyHex(), {"*"}},
        {"beta.example", Ed25519PrivateKey::Generate().PublicKeyHex(), {"g1"}}};
    auto federation = federation::Federation::Open(&store, env->key.get(), options, env->delivery.get());
    if (!federation.ok()) std::abort();
    env->federation = *std::move(federation);
    env->delivery->Start(env->federation.get());
    auto created = env->api_keys->Create("fuzz");
    if (!created.ok()) std::abort();
    env->api_key = created->key;
    relay::IntegrationOptions integration_options;
    integration_options.server_id = "relay.example";
    integration_options.max_sockets_per_address = 1 << 20;
    env->gateway = std::make_unique<relay::IntegrationGateway>(
        relay::IntegrationGateway::Deps{env->delivery.get(), env->api_keys.get(), env->access.get(),
                                        env->federation.get(), &store, [] { return absl::OkStatus(); }},
        integration_options);
    env->factory = env->gateway->SocketFactory();
    return env;
  }();
  return *relay;
}

}  // namespace
}  // namespace fedrelay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedrelay;
  Relay& relay = Environment();
  std::vector<std::string> frames = fuzz::SplitFrames(data, size, kMaxFrames);
  relay::HttpRequest upgrade;
  upgrade.method = "GET";
  upgrade.path = relay::kIntegrationPath;
  upgrade.remote_address = "192.0.2.1:40000";
  upgrade.correlation_id = "req_fuzz";
  size_t first = 0;
  if (!frames.empty() && absl::StartsWith(frames[0], kAuthorization)) {
    upgrade.headers.emplace_back(
        "Authorization",
        fuzz::Substitute(frames[0].substr(sizeof(kAuthorization) - 1), "@API_KEY@", relay.api_key));
    first = 1;
  }
  auto handler = relay.factory(upgrade);
  if (!handler.ok()) return 0;
  auto connection = std::make_shared<fuzz::FakeConnection>();
  (*handler)->OnOpen(connection);
  for (size_t i = first; i < frames.size() && connection->is_open(); ++i) {
    (*handler)->OnMessage(fuzz::Substitute(frames[i], "@API_KEY@", relay.api_key));
    connection->RunCallbacks();
  }
  connection->RunCallbacks();
  (*handler)->OnClose();
  connection->End();
  return 0;
}
