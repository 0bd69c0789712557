#include "relay/relay.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "federation/federation.h"
#include "relay/grpc/admin_service.h"
#include "relay/auth/api_keys.h"
#include "relay/grpc/audit_service.h"
#include "relay/downstream/delivery.h"
#include "relay/grpc/federation_service.h"
#include "relay/http/access_requests.h"
#include "relay/http/http_server.h"
#include "relay/http/integration_ws.h"
#include "relay/http/log_http.h"
#include "spdlog/spdlog.h"
#include "store/checkpointer.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::relay {
namespace {

// The example peers' keys derive from public seeds (shared/test-vectors), so
// anyone can sign as them. Fine for a loopback demo; an operator must hear it.
bool IsWellKnownDemoKey(const std::string& pubkey_hex) {
  for (const char* name : {"server-alpha", "server-beta"}) {
    auto key = Ed25519PrivateKey::FromSeed(Sha256(absl::StrCat("fedrelay test key ", name)));
    if (key.ok() && key->PublicKeyHex() == pubkey_hex) return true;
  }
  return false;
}

std::vector<federation::PeerInfo> PeersFromConfig(const config::Config& config) {
  std::vector<federation::PeerInfo> peers;
  for (const auto& peer : config.peers) {
    if (IsWellKnownDemoKey(peer.pubkey)) {
      spdlog::warn("peer {} uses a well-known demo key: anyone can sign as it; demo use only",
                   peer.server_id);
    }
    peers.push_back({peer.server_id, peer.pubkey, peer.may_ban});
  }
  return peers;
}

class RelayImpl final : public Relay {
 public:
  explicit RelayImpl(const config::Config& config) : config_(config) {}
  ~RelayImpl() override { Shutdown(); }

  absl::Status Init() {
    RETURN_IF_ERROR(InitCrypto());
    bool created = false;
    ASSIGN_OR_RETURN(Ed25519PrivateKey key, LoadOrCreateKey(config_.key_file, &created));
    key_ = std::make_unique<Ed25519PrivateKey>(std::move(key));
    verifier_key_ = store::FormatVerifierKey(config_.origin, key_->PublicKey());
    if (created) spdlog::info("generated relay key {}", config_.key_file);
    spdlog::info("relay public key {} ; checkpoint verifier key {}", key_->PublicKeyHex(),
                 verifier_key_);

    std::error_code ec;
    std::filesystem::create_directories(config_.data_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create data_dir ", config_.data_dir, ": ", ec.message()));
    }
    ASSIGN_OR_RETURN(store_, store::LogStore::Open(config_.data_dir));
    spdlog::info("log opened at {} with {} entries", config_.data_dir, store_->Size());

    api_keys_ = std::make_unique<ApiKeys>(store_.get());
    access_requests_ = std::make_unique<AccessRequests>(
        api_keys_.get(), AccessRequests::Options{config_.access_request_timeout_ms,
                                                 config_.access_request_cooldown_ms});
    DeliveryOptions delivery_options;
    delivery_options.store = store_.get();
    delivery_options.api_keys = api_keys_.get();
    delivery_options.server_id = config_.server_id;
    delivery_options.max_clock_skew_ms = config_.max_clock_skew_ms;
    delivery_ = Delivery::Create(delivery_options);

    federation::FederationOptions options;
    options.server_id = config_.server_id;
    options.max_clock_skew_ms = config_.max_clock_skew_ms;
    options.config_peers = PeersFromConfig(config_);
    ASSIGN_OR_RETURN(federation_,
                     federation::Federation::Open(store_.get(), key_.get(), options, delivery_.get()));
    delivery_->Start(federation_.get());

    store::Checkpointer::Options checkpoint_options;
    checkpoint_options.origin = config_.origin;
    checkpoint_options.interval_ms = config_.checkpoint_interval_ms;
    checkpoint_options.on_publish = [this](const store::StoredCheckpoint&) {
      last_publish_ms_.store(SystemClock().NowMs());
    };
    checkpointer_ = std::make_unique<store::Checkpointer>(store_.get(), *key_, checkpoint_options);
    RETURN_IF_ERROR(checkpointer_->PublishNow().status());
    last_publish_ms_.store(SystemClock().NowMs());  // fresh now, also when nothing new was published

    RETURN_IF_ERROR(StartGrpc());
    RETURN_IF_ERROR(StartHttp());
    RegisterMetrics();
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_port_; }
  int http_port() const override { return http_port_; }
  std::string public_key_hex() const override { return key_->PublicKeyHex(); }
  std::string verifier_key() const override { return verifier_key_; }

  void Shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    if (integration_) integration_->Shutdown();
    if (http_) http_->Stop();
    if (delivery_) delivery_->Shutdown();
    if (grpc_server_) grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (admin_server_) admin_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    if (federation_) federation_->Stop();
    if (checkpointer_) {
      checkpointer_->Stop();
      if (auto last = checkpointer_->PublishNow(); !last.ok()) {
        spdlog::error("final checkpoint failed: {}", last.status().ToString());
      }
    }
    MetricsRegistry::Default().RemoveCallbacks("fedrelay_log_size");
  }

 private:
  absl::Status StartGrpc() {
    federation_service_ = std::make_unique<FederationService>(
        federation_.get(), delivery_.get(),
        FederationService::Info{config_.server_id, key_->PublicKeyHex(), config_.origin,
                                verifier_key_, config_.max_clock_skew_ms},
        config_.rate_limits);
    audit_service_ = std::make_unique<AuditService>(store_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.grpc_listen, grpc::InsecureServerCredentials(), &grpc_port_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(config_.rate_limits.max_upload_size));
    builder.RegisterService(federation_service_.get());
    builder.RegisterService(audit_service_.get());
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_ || grpc_port_ == 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", config_.grpc_listen));
    }
    spdlog::info("gRPC listening on {} (port {})", config_.grpc_listen, grpc_port_);

    // Operator commands (fedrelay-ctl) arrive on a unix socket in the data
    // directory: filesystem permissions are the credential.
    admin_service_ = std::make_unique<AdminService>(federation_.get(), store_.get(), verifier_key_,
                                                    key_->PublicKeyHex(), api_keys_.get(),
                                                    access_requests_.get());
    const std::string socket_path = AdminSocketPath(config_.data_dir);
    std::filesystem::remove(socket_path);
    grpc::ServerBuilder admin_builder;
    admin_builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
    admin_builder.RegisterService(admin_service_.get());
    admin_server_ = admin_builder.BuildAndStart();
    if (!admin_server_) return absl::UnavailableError(absl::StrCat("cannot listen on ", socket_path));
    chmod(socket_path.c_str(), 0600);
    spdlog::info("admin socket {}", socket_path);
    return absl::OkStatus();
  }

  absl::Status StartHttp() {
    HttpServer::Options options;
    options.listen = config_.http_listen;
    options.max_body_bytes = config_.rate_limits.max_upload_size;
    http_ = std::make_unique<HttpServer>(options);
    RegisterLogEndpoints(*http_, *store_);
    RegisterHealthEndpoints(*http_, MetricsRegistry::Default(), [this]() { return Readiness(); });
    integration_ = std::make_unique<IntegrationGateway>(
        IntegrationGateway::Deps{delivery_.get(), api_keys_.get(), access_requests_.get(),
                                 federation_.get(), store_.get(),
                                 [this]() { return Readiness(); }},
        IntegrationOptions{config_.server_id, config_.integration_max_frame_bytes,
                           config_.integration_hello_timeout_ms, config_.integration_idle_timeout_ms,
                           config_.integration_max_sockets_per_address});
    integration_->Register(*http_);
    RETURN_IF_ERROR(http_->Start());
    http_port_ = http_->port();
    spdlog::info("HTTP listening on {} (port {})", config_.http_listen, http_port_);
    return absl::OkStatus();
  }

  // Ready when the store is open and the latest checkpoint is fresh: not
  // older than three intervals while entries wait uncovered.
  absl::Status Readiness() const {
    const auto latest = checkpointer_->Latest();
    if (!latest.has_value()) return MakeError(ErrorCode::kUnavailable, "no checkpoint yet");
    if (store_->Size() > latest->tree_size) {
      const uint64_t age_ms = SystemClock().NowMs() - last_publish_ms_.load();
      if (age_ms > 3 * config_.checkpoint_interval_ms + 1000) {
        return MakeError(ErrorCode::kUnavailable, "latest checkpoint is stale");
      }
    }
    return absl::OkStatus();
  }

  void RegisterMetrics() {
    MetricsRegistry::Default().AddCallbackGauge("fedrelay_log_size", "Entries in the log",
                                                [this]() { return static_cast<double>(store_->Size()); });
  }

  const config::Config config_;
  std::unique_ptr<Ed25519PrivateKey> key_;
  std::string verifier_key_;
  std::unique_ptr<store::LogStore> store_;
  std::unique_ptr<ApiKeys> api_keys_;
  std::unique_ptr<Delivery> delivery_;  // the federation core's sink: outlives it
  std::unique_ptr<federation::Federation> federation_;
  std::unique_ptr<store::Checkpointer> checkpointer_;
  std::unique_ptr<FederationService> federation_service_;
  std::unique_ptr<AuditService> audit_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  std::unique_ptr<HttpServer> http_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::atomic<uint64_t> last_publish_ms_{0};
  bool shut_down_ = false;
  std::unique_ptr<AccessRequests> access_requests_;  // pending /v1/ws access requests
  std::unique_ptr<IntegrationGateway> integration_;  // GET /v1/ws
};

}  // namespace

absl::StatusOr<Ed25519PrivateKey> LoadOrCreateKey(const std::string& path, bool* created) {
  *created = false;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return ReadKeyFile(path);
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create directory for key file ", path, ": ", ec.message()));
    }
  }
  auto key = Ed25519PrivateKey::Generate();
  RETURN_IF_ERROR(WriteKeyFile(path, key));
  *created = true;
  return key;
}

absl::StatusOr<std::unique_ptr<Relay>> Relay::Start(const config::Config& config) {
  auto relay = std::make_unique<RelayImpl>(config);
  if (absl::Status status = relay->Init(); !status.ok()) {
    relay->Shutdown();
    return status;
  }
  return relay;
}

}  // namespace fedrelay::relay
