#include "relay/relay.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "bus/kv_table_replicator.h"
#include "bus/log_publisher.h"
#include "federation/federation.h"
#include "relay/grpc/admin_service.h"
#include "relay/grpc/admin_views.h"
#include "relay/auth/api_keys.h"
#include "relay/grpc/audit_service.h"
#include "relay/downstream/bridge_outbox.h"
#include "relay/downstream/delivery.h"
#include "relay/http/bridge_ws.h"
#include "relay/grpc/federation_service.h"
#include "relay/grpc/malformed_request.h"
#include "relay/disk_space.h"
#include "relay/http/explorer.h"
#include "relay/http/access_requests.h"
#include "relay/http/http_server.h"
#include "relay/http/integration_ws.h"
#include "relay/http/log_http.h"
#include "relay/downstream/event_sink_fan_out.h"
#include "relay/http/member_channel.h"
#include "relay/member/member_index.h"
#include "relay/member/member_sessions.h"
#include "relay/member/member_tickets.h"
#include "relay/listen_probe.h"
#include "relay/relay_key.h"
#include "spdlog/spdlog.h"
#include "store/checkpointer.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::relay {
namespace {

// The example peers' keys derive from public seeds (tests/vectors), so
// anyone can sign as them. Fine for a loopback demo; an operator must hear it.
bool IsWellKnownDemoKey(const std::string& pubkey_hex) {
  for (const char* name : {"server-alpha", "server-beta"}) {
    auto key = Ed25519PrivateKey::FromSeed(Sha256(absl::StrCat("fedrelay test key ", name)));
    if (key.ok() && key->PublicKeyHex() == pubkey_hex) return true;
  }
  return false;
}

// The port of a validated "host:port" listen address (0 = ephemeral).
int ConfiguredPort(const std::string& listen) {
  int port = 0;
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) return 0;
  return port;
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
    // A taken port fails the start before anything is written (key, log).
    RETURN_IF_ERROR(CheckCanListen(config_.grpc_listen, "gRPC"));
    RETURN_IF_ERROR(CheckCanListen(config_.http_listen, "HTTP"));
    // Until the first publish of this run, staleness counts from the start.
    last_publish_ms_.store(SystemClock().NowMs());
    std::error_code ec;
    std::filesystem::create_directories(config_.data_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create data_dir ", config_.data_dir, ": ", ec.message()));
    }
    // The store holds API-key hashes and subscriber cursors: only the relay's
    // user may look inside, also for a data dir made by an older version.
    if (chmod(config_.data_dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot make data_dir ", config_.data_dir, " private (chmod 700)"));
    }
    ASSIGN_OR_RETURN(store_, store::LogStore::Open(config_.data_dir));
    spdlog::info("log opened at {} with {} entries", config_.data_dir, store_->Size());

    // The store remembers its relay key: a missing or different key file is
    // refused instead of silently starting a second signer on the same log.
    bool created = false;
    ASSIGN_OR_RETURN(Ed25519PrivateKey key,
                     LoadOrCreateRelayKey(config_.key_file, config_.origin, *store_, &created));
    key_ = std::make_unique<Ed25519PrivateKey>(std::move(key));
    verifier_key_ = store::FormatVerifierKey(config_.origin, key_->PublicKey());
    if (created) spdlog::info("generated relay key {} for the new store", config_.key_file);
    spdlog::info("relay public key {} ; checkpoint verifier key {}", key_->PublicKeyHex(),
                 verifier_key_);

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

    // The messaging bridge's outbox hears every durable entry too (docs/bridge.md).
    BridgeOptions bridge_options;
    bridge_options.store = store_.get();
    bridge_options.api_keys = api_keys_.get();
    bridge_options.retry_base_delay_ms = config_.bridge_retry_base_delay_ms;
    bridge_options.retry_max_delay_ms = config_.bridge_retry_max_delay_ms;
    bridge_options.max_attempts = config_.bridge_max_attempts;
    bridge_options.resend_after_ms = config_.bridge_resend_after_ms;
    ASSIGN_OR_RETURN(bridge_, BridgeOutbox::Open(bridge_options));

    federation::FederationOptions options;
    options.server_id = config_.server_id;
    options.max_clock_skew_ms = config_.max_clock_skew_ms;
    options.config_peers = PeersFromConfig(config_);
    // The member channel's index and the bridge outbox see every durable entry too.
    member_index_ = std::make_unique<MemberIndex>(store_.get());
    std::vector<federation::EventSink*> sinks{delivery_.get(), member_index_.get(), bridge_.get()};
    // With bus.nats_url, a copy of the log goes to JetStream (docs/scale-out.md).
    if (!config_.bus_nats_url.empty()) {
      bus::LogPublisherOptions bus_options;
      bus_options.nats_url = config_.bus_nats_url;
      bus_options.names = bus::BusNames::From(config_.bus_stream, config_.bus_subject_prefix);
      bus_options.store = store_.get();
      bus_publisher_ = bus::LogPublisher::Start(bus_options);
      sinks.push_back(bus_publisher_.get());
      StartApiKeyReplicator(bus_options.names);
    }
    sinks_ = std::make_unique<EventSinkFanOut>(std::move(sinks));
    ASSIGN_OR_RETURN(federation_,
                     federation::Federation::Open(store_.get(), key_.get(), options, sinks_.get()));
    delivery_->Start(federation_.get());
    RETURN_IF_ERROR(member_index_->Start(federation_.get()));
    member_sessions_ = std::make_unique<MemberSessions>(store_.get(), config_.member_session_ttl_ms,
                                                        config_.max_clock_skew_ms);
    member_tickets_ = std::make_unique<MemberTickets>(store_.get());
    RETURN_IF_ERROR(member_tickets_->Load());

    store::Checkpointer::Options checkpoint_options;
    checkpoint_options.origin = config_.origin;
    checkpoint_options.interval_ms = config_.checkpoint_interval_ms;
    checkpoint_options.on_publish = [this](const store::StoredCheckpoint& checkpoint) {
      last_publish_ms_.store(SystemClock().NowMs());
      if (bus_publisher_) bus_publisher_->PublishCheckpoint(checkpoint.tree_size, checkpoint.note);
    };
    checkpointer_ = std::make_unique<store::Checkpointer>(store_.get(), *key_, checkpoint_options);
    RETURN_IF_ERROR(checkpointer_->PublishNow().status());

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
    if (admin_server_) {
      admin_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
      std::error_code ec;
      std::filesystem::remove(AdminSocketPath(config_.data_dir), ec);
    }
    if (member_channel_) member_channel_->Stop();
    if (federation_) federation_->Stop();
    if (bridge_) bridge_->Shutdown();
    if (member_index_) member_index_->Stop();  // after the core's last OnDurable
    if (checkpointer_) {
      checkpointer_->Stop();
      if (auto last = checkpointer_->PublishNow(); !last.ok()) {
        spdlog::error("final checkpoint failed: {}", last.status().ToString());
      }
    }
    if (bus_publisher_) bus_publisher_->Stop();  // after the last entry and checkpoint
    if (api_key_replicator_) api_key_replicator_->Stop();
    MetricsRegistry::Default().RemoveCallbacks("fedrelay_log_size");
  }

 private:
  absl::Status StartGrpc() {
    federation_service_ = std::make_unique<FederationService>(
        federation_.get(), delivery_.get(),
        FederationService::Info{config_.server_id, key_->PublicKeyHex(), config_.origin,
                                verifier_key_, config_.max_clock_skew_ms},
        config_.rate_limits);
    disk_space_ = std::make_unique<DiskSpaceGuard>(config_.data_dir, config_.min_free_bytes);
    federation_service_->set_disk_space_guard(disk_space_.get());
    audit_service_ = std::make_unique<AuditService>(store_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_.grpc_listen, grpc::InsecureServerCredentials(), &grpc_port_);
    // gRPC turns SO_REUSEPORT on by default: a second relay on the same port
    // would bind too and share its calls. A taken port must fail start-up.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    // Keep each stream's receive window at HTTP/2's 64 KiB instead of letting
    // gRPC grow it to megabytes: a Submit stream that has its window of
    // submissions unanswered stops being read (federation_service.cc), and the
    // sender should then wait, not fill seconds of transport buffers.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    // Flood limits (docs/security.md): calls per connection, and the time a
    // new connection has to speak HTTP/2 (a silent socket is closed after it).
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               static_cast<int>(config_.grpc_max_concurrent_streams));
    builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                               static_cast<int>(config_.grpc_handshake_timeout_ms));
    // The services refuse a submission over max_upload_size as payload_too_large
    // (counted in fedrelay_rejections_total). gRPC's own limit, which answers
    // with a bare RESOURCE_EXHAUSTED before any handler runs, is only the
    // backstop at twice that (plus 64 KiB); 0 = no limit on either.
    const uint64_t upload_limit = config_.rate_limits.max_upload_size;
    builder.SetMaxReceiveMessageSize(
        upload_limit == 0 ? -1
                          : static_cast<int>(std::min<uint64_t>(2 * upload_limit + (64 << 10),
                                                                std::numeric_limits<int>::max())));
    builder.RegisterService(federation_service_.get());
    builder.RegisterService(audit_service_.get());
    // Unparsable request bytes get INVALID_ARGUMENT `malformed`, not gRPC's UNIMPLEMENTED.
    builder.experimental().SetInterceptorCreators(MalformedRequestInterceptors());
    grpc_server_ = builder.BuildAndStart();
    const int wanted_port = ConfiguredPort(config_.grpc_listen);
    if (!grpc_server_ || grpc_port_ == 0 || (wanted_port != 0 && grpc_port_ != wanted_port)) {
      return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", config_.grpc_listen,
                                                 " (port in use?)"));
    }
    spdlog::info("gRPC listening on {} (port {})", config_.grpc_listen, grpc_port_);

    // Operator commands (fedrelay-ctl) arrive on a unix socket in the data
    // directory: filesystem permissions are the credential.
    admin_service_ = std::make_unique<AdminService>(federation_.get(), store_.get(), verifier_key_,
                                                    key_->PublicKeyHex(), api_keys_.get(),
                                                    access_requests_.get());
    admin_service_->set_bridge(bridge_.get());
    admin_service_->SetTickets(member_tickets_.get());
    const std::string socket_path = AdminSocketPath(config_.data_dir);
    std::filesystem::remove(socket_path);
    grpc::ServerBuilder admin_builder;
    admin_builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
    admin_builder.RegisterService(admin_service_.get());
    admin_builder.experimental().SetInterceptorCreators(MalformedRequestInterceptors());
    admin_views_ = std::make_unique<AdminViewsService>(store_.get(), federation_.get(),
                                                       delivery_.get(), member_index_.get());
    admin_builder.RegisterService(admin_views_.get());
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
    options.max_connections = config_.http_max_connections;
    options.header_timeout = std::chrono::milliseconds(config_.http_header_timeout_ms);
    options.idle_timeout = std::chrono::milliseconds(config_.http_idle_timeout_ms);
    http_ = std::make_unique<HttpServer>(options);
    RegisterLogEndpoints(*http_, *store_);
    RegisterHealthEndpoints(*http_, MetricsRegistry::Default(), [this]() { return Readiness(); });
    RegisterExplorerEndpoints(*http_, *store_, *federation_,
                              ExplorerInfo{FEDRELAY_VERSION, config_.server_id, config_.origin, verifier_key_,
                                           key_->PublicKeyHex()});
    RegisterBridgeEndpoint(*http_, *api_keys_, *bridge_);
    MemberChannelOptions member_options;
    member_options.store = store_.get();
    member_options.federation = federation_.get();
    member_options.index = member_index_.get();
    member_options.sessions = member_sessions_.get();
    member_options.tickets = member_tickets_.get();
    member_options.rate_limits = config_.rate_limits;
    member_channel_ = RegisterMemberChannel(*http_, member_options);
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

  // Ready when the store is open and the latest checkpoint is fresh: while
  // entries wait uncovered by it, the last publish (or the start, before the
  // first publish of this run) is at most three intervals plus a second ago.
  absl::Status Readiness() const {
    if (disk_space_ != nullptr) RETURN_IF_ERROR(disk_space_->Check());
    if (bus_publisher_ && bus_publisher_->state() == bus::LogPublisher::State::kRefused) {
      return MakeError(ErrorCode::kUnavailable,
                       absl::StrCat("the bus refused this relay as sequencer: ",
                                    bus_publisher_->refusal()));
    }
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

  // API key records (hashes, never keys) go to the bus, so that fan-out nodes
  // authenticate this relay's keys and hear its revocations (docs/scale-out.md).
  void StartApiKeyReplicator(const bus::BusNames& names) {
    bus::KvTableReplicatorOptions options;
    options.nats_url = config_.bus_nats_url;
    options.bucket = names.api_key_bucket;
    options.what = "api-keys";
    options.read_table = [keys = api_keys_.get()] { return keys->Records(); };
    api_key_replicator_ = bus::KvTableReplicator::Start(std::move(options));
    std::weak_ptr<bus::KvTableReplicator> weak = api_key_replicator_;
    api_keys_->AddChangeListener([weak](const std::string&) {
      if (auto replicator = weak.lock()) replicator->Wake();
    });
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
  std::unique_ptr<BridgeOutbox> bridge_;  // a sink of the federation core: outlives it
  std::unique_ptr<MemberIndex> member_index_;  // a sink of the federation core: outlives it
  std::unique_ptr<bus::LogPublisher> bus_publisher_;  // a sink of the federation core: outlives it
  std::unique_ptr<EventSinkFanOut> sinks_;
  std::unique_ptr<federation::Federation> federation_;
  std::unique_ptr<MemberSessions> member_sessions_;
  std::unique_ptr<MemberTickets> member_tickets_;
  std::unique_ptr<MemberChannel> member_channel_;
  std::unique_ptr<store::Checkpointer> checkpointer_;
  std::unique_ptr<DiskSpaceGuard> disk_space_;
  std::unique_ptr<FederationService> federation_service_;
  std::unique_ptr<AuditService> audit_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<AdminViewsService> admin_views_;  // read-only views on the admin socket
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<grpc::Server> admin_server_;
  std::unique_ptr<HttpServer> http_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::atomic<uint64_t> last_publish_ms_{0};
  bool shut_down_ = false;
  std::unique_ptr<AccessRequests> access_requests_;  // pending /v1/ws access requests
  std::unique_ptr<IntegrationGateway> integration_;  // GET /v1/ws
  std::shared_ptr<bus::KvTableReplicator> api_key_replicator_;  // with bus.nats_url
};

}  // namespace

absl::StatusOr<std::unique_ptr<Relay>> Relay::Start(const config::Config& config) {
  auto relay = std::make_unique<RelayImpl>(config);
  if (absl::Status status = relay->Init(); !status.ok()) {
    relay->Shutdown();
    return status;
  }
  return relay;
}

}  // namespace fedrelay::relay
