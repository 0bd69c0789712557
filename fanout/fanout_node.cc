// FanoutNode: the follower thread and the serving side (see fanout_node.h).
//
//   bus (ordered consumer) -> follower thread: contiguity, rules, token
//   -> one RocksDB write per batch -> federation state -> delivery.OnDurable
//   -> gRPC Subscribe/Acknowledge streams; checkpoint poll -> /checkpoint, tiles
#include "fanout/fanout_node.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "bus/kv_cursors.h"
#include "bus/log_publisher.h"
#include "bus/nats_bus.h"
#include "config/config.h"
#include "fanout/api_key_mirror.h"
#include "fanout/kv_cursor_book.h"
#include "fanout/memory_key_value_store.h"
#include "federation/follower.h"
#include "federation/signing.h"
#include "federation/state.h"
#include "relay/downstream/delivery.h"
#include "relay/grpc/federation_service.h"
#include "relay/grpc/malformed_request.h"
#include "relay/http/http_server.h"
#include "relay/http/integration_ws.h"
#include "relay/http/log_http.h"
#include "spdlog/spdlog.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::fanout {
namespace {

// Messages taken from the stream per store write.
constexpr size_t kMaxBatch = 256;

class FanoutNodeImpl final : public FanoutNode {
 public:
  explicit FanoutNodeImpl(FanoutOptions options)
      : options_(std::move(options)),
        names_(bus::BusNames::From(options_.stream, options_.subject_prefix)) {}
  ~FanoutNodeImpl() override { Shutdown(); }

  absl::Status Init() {
    RETURN_IF_ERROR(InitCrypto());
    ASSIGN_OR_RETURN(std::string relay_key,
                     federation::ParsePublicKeyHex(options_.relay_pubkey_hex, "--relay-pubkey"));
    verifier_ = store::NoteVerifier{options_.origin, store::NoteKeyHash(options_.origin, relay_key),
                                    relay_key};
    std::error_code ec;
    std::filesystem::create_directories(options_.data_dir, ec);
    if (ec || chmod(options_.data_dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create a private data dir ", options_.data_dir));
    }
    // The stream is the source: a lost unsynced tail is fetched again.
    ASSIGN_OR_RETURN(log_, store::LogStore::Open(options_.data_dir, store::LogStoreOptions{false}));
    ASSIGN_OR_RETURN(federation_, federation::FollowerFederation::Open(
                                      log_.get(), options_.relay_pubkey_hex,
                                      options_.max_clock_skew_ms));
    absl::StatusOr<std::unique_ptr<bus::NatsBus>> bus =
        bus::NatsBus::Connect(options_.nats_url, "fedrelay-fanout", 5000);
    if (!bus.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot reach NATS at ", options_.nats_url, ": ", bus.status().message()));
    }
    bus_ = std::move(*bus);
    ASSIGN_OR_RETURN(cursors_, bus::KvCursors::Open(bus_.get(), names_.cursor_bucket));
    cursor_book_ = std::make_unique<KvCursorBook>(cursors_.get());
    // The sequencer's API keys, mirrored from the bus into memory before
    // anything is served, so no key revoked while this node was down is live.
    api_keys_ = std::make_unique<relay::ApiKeys>(&api_key_table_);
    ApiKeyMirrorOptions mirror_options;
    mirror_options.bus = bus_.get();
    mirror_options.bucket = names_.api_key_bucket;
    mirror_options.api_keys = api_keys_.get();
    api_key_mirror_ = ApiKeyMirror::Start(mirror_options);
    spdlog::info("fan-out node: local log at {} with {} entries; following stream {} on {}",
                 options_.data_dir, log_->Size(), names_.stream, options_.nats_url);

    relay::DeliveryOptions delivery_options;
    delivery_options.store = log_.get();
    delivery_options.cursors = cursor_book_.get();
    delivery_options.api_keys = api_keys_.get();
    delivery_options.server_id = options_.server_id;
    delivery_options.max_clock_skew_ms = options_.max_clock_skew_ms;
    delivery_ = relay::Delivery::Create(delivery_options);
    delivery_->Start(federation_.get());
    follower_ = std::thread([this] { FollowLoop(); });
    RETURN_IF_ERROR(StartGrpc());
    RETURN_IF_ERROR(StartHttp());
    MetricsRegistry::Default().AddCallbackGauge(
        "fedrelay_log_size", "Entries in the log", [this] { return static_cast<double>(log_->Size()); });
    return absl::OkStatus();
  }

  int grpc_port() const override { return grpc_port_; }
  int http_port() const override { return http_port_; }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    if (integration_) integration_->Shutdown();
    if (http_) http_->Stop();
    if (delivery_) delivery_->Shutdown();
    if (grpc_server_) {
      grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    stopping_.store(true);
    if (follower_.joinable()) follower_.join();
    if (api_key_mirror_) api_key_mirror_->Stop();
    MetricsRegistry::Default().RemoveCallbacks("fedrelay_log_size");
  }

 private:
  absl::Status StartGrpc() {
    const std::string verifier_key =
        store::FormatVerifierKey(options_.origin, verifier_.public_key);
    service_ = std::make_unique<relay::FederationService>(
        federation_.get(), delivery_.get(),
        relay::FederationService::Info{options_.server_id, options_.relay_pubkey_hex,
                                       options_.origin, verifier_key, options_.max_clock_skew_ms},
        config::RateLimits{});
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options_.grpc_listen, grpc::InsecureServerCredentials(), &grpc_port_);
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.RegisterService(service_.get());
    // Unparsable request bytes get INVALID_ARGUMENT `malformed`, as on fedrelayd.
    builder.experimental().SetInterceptorCreators(relay::MalformedRequestInterceptors());
    grpc_server_ = builder.BuildAndStart();
    if (!grpc_server_ || grpc_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen for gRPC on ", options_.grpc_listen, " (port in use?)"));
    }
    spdlog::info("gRPC listening on {} (port {})", options_.grpc_listen, grpc_port_);
    return absl::OkStatus();
  }

  absl::Status StartHttp() {
    relay::HttpServer::Options options;
    options.listen = options_.http_listen;
    http_ = std::make_unique<relay::HttpServer>(options);
    relay::RegisterLogEndpoints(*http_, *log_);
    relay::RegisterHealthEndpoints(*http_, MetricsRegistry::Default(),
                                   [this] { return Readiness(); });
    // The integration WebSocket (/v1/ws) with the relay's own code; access
    // requests stay with the sequencer, whose operator approves them.
    integration_ = std::make_unique<relay::IntegrationGateway>(
        relay::IntegrationGateway::Deps{delivery_.get(), api_keys_.get(), nullptr, federation_.get(),
                                        log_.get(), [this] { return Readiness(); }},
        relay::IntegrationOptions{options_.server_id});
    integration_->Register(*http_);
    RETURN_IF_ERROR(http_->Start());
    http_port_ = http_->port();
    spdlog::info("HTTP listening on {} (port {})", options_.http_listen, http_port_);
    return absl::OkStatus();
  }

  // Ready while following works and a checkpoint of this node's tree is there.
  absl::Status Readiness() const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failure_.ok()) return MakeError(ErrorCode::kUnavailable, failure_.message());
    }
    if (!log_->LatestCheckpoint().has_value()) {
      return MakeError(ErrorCode::kUnavailable, "no checkpoint of this node's tree yet");
    }
    return absl::OkStatus();
  }

  void Fail(const absl::Status& status) {
    spdlog::error("fan-out node: stopped following: {}", status.ToString());
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = status;
  }

  // The token of a followed DM invite, checked against the hash the log keeps.
  absl::Status AddToken(const v1::LogEntry& entry, store::WriteSet& side) {
    const v1::DMInvite& invite = entry.dm_invite();
    ASSIGN_OR_RETURN(std::optional<std::string> token,
                     bus_->GetLastMessage(names_.tokens_stream,
                                          bus::TokenSubject(names_, invite.invite_id())));
    if (!token.has_value() || Sha256(*token) != invite.token_sha256()) {
      // Recipients then get the invite without its token, as if it had none.
      spdlog::warn("fan-out node: no matching token on the bus for invite {}", invite.invite_id());
      return absl::OkStatus();
    }
    side.Put(store::Table::kAux, federation::InviteTokenKey(invite.invite_id()), *token);
    return absl::OkStatus();
  }

  // Appends the contiguous messages at the front of `batch`; false when a gap
  // follows them (the consumer is then recreated from the next event_id).
  absl::StatusOr<bool> Apply(const std::vector<std::pair<uint64_t, std::string>>& batch) {
    uint64_t next = log_->Size() + 1;
    std::vector<std::string> leaves;
    std::vector<std::shared_ptr<const v1::LogEntry>> entries;
    store::WriteSet side;
    bool contiguous = true;
    absl::Status refused;
    for (const auto& [sequence, leaf] : batch) {
      if (sequence < next) continue;  // already here (redelivered)
      if (sequence > next) {
        spdlog::warn("fan-out node: gap on the stream: expected event {}, got {}; following again",
                     next, sequence);
        contiguous = false;
        break;
      }
      // Check adds to `side` only for an entry it accepts, so the entries
      // before a refused one still go in.
      absl::StatusOr<std::shared_ptr<const v1::LogEntry>> entry =
          federation_->Check(sequence, leaf, side);
      if (!entry.ok()) {
        refused = entry.status();
        break;
      }
      if ((*entry)->has_dm_invite()) {
        if (absl::Status token = AddToken(**entry, side); !token.ok()) {
          federation_->Abandon();
          return token;
        }
      }
      leaves.push_back(leaf);
      entries.push_back(*std::move(entry));
      ++next;
    }
    if (!leaves.empty()) {
      if (absl::StatusOr<std::vector<std::string>> appended = log_->Append(leaves, side);
          !appended.ok()) {
        federation_->Abandon();
        return appended.status();
      }
      federation_->Commit();
      delivery_->OnDurable(entries);
    }
    RETURN_IF_ERROR(refused);
    return contiguous;
  }

  // Saves the sequencer's newest checkpoint once this tree has its size and root.
  void PollCheckpoint() {
    absl::StatusOr<std::optional<std::string>> note =
        bus_->GetLastMessage(names_.checkpoint_stream, names_.checkpoint_subject);
    if (!note.ok() || !note->has_value() || **note == last_saved_note_) return;
    absl::StatusOr<std::string> body = store::OpenNote(**note, verifier_);
    absl::StatusOr<store::CheckpointBody> checkpoint =
        body.ok() ? store::ParseCheckpointBody(*body) : absl::StatusOr<store::CheckpointBody>(body.status());
    if (!checkpoint.ok() || checkpoint->origin != options_.origin) {
      spdlog::warn("fan-out node: ignoring a checkpoint on the bus that is not the relay's: {}",
                   checkpoint.ok() ? "another origin" : checkpoint.status().ToString());
      last_saved_note_ = **note;
      return;
    }
    if (checkpoint->tree_size > log_->Size()) return;  // not there yet
    absl::StatusOr<std::string> root = log_->RootHash(checkpoint->tree_size);
    if (!root.ok() || *root != checkpoint->root_hash) {
      Fail(MakeError(ErrorCode::kInternal,
                     absl::StrCat("the relay's checkpoint at size ", checkpoint->tree_size,
                                  " has another root than this node's tree")));
      last_saved_note_ = **note;
      return;
    }
    absl::Status saved = log_->SaveCheckpoint(
        store::StoredCheckpoint{checkpoint->tree_size, checkpoint->root_hash, **note});
    if (!saved.ok() && !absl::IsFailedPrecondition(saved)) {
      spdlog::warn("fan-out node: cannot save checkpoint: {}", saved.ToString());
      return;
    }
    last_saved_note_ = **note;
  }

  void FollowLoop() {
    std::unique_ptr<bus::NatsBus::Follower> follower;
    auto next_poll = std::chrono::steady_clock::now();
    bool reported = false;
    while (!stopping_.load()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!failure_.ok()) break;
      }
      absl::Status problem;
      if (follower == nullptr) {
        absl::StatusOr<std::unique_ptr<bus::NatsBus::Follower>> made =
            bus_->Follow(names_.stream, names_.log_subject, log_->Size() + 1);
        if (made.ok()) follower = std::move(*made);
        else problem = made.status();
      }
      if (problem.ok()) {
        std::vector<std::pair<uint64_t, std::string>> batch;
        auto first = follower->Next(100);
        if (!first.ok()) problem = first.status();
        else if (first->has_value()) batch.push_back(**std::move(first));
        while (problem.ok() && !batch.empty() && batch.size() < kMaxBatch) {
          auto more = follower->Next(1);
          if (!more.ok() || !more->has_value()) break;
          batch.push_back(**std::move(more));
        }
        if (!batch.empty()) {
          absl::StatusOr<bool> applied = Apply(batch);
          if (!applied.ok()) {
            if (absl::IsDataLoss(applied.status())) {
              Fail(applied.status());  // the stream holds what the rules refuse: stop serving it
              break;
            }
            problem = applied.status();
          } else if (!*applied) {
            follower.reset();
          }
        }
      }
      if (!problem.ok()) {
        if (!reported) spdlog::warn("fan-out node: following the stream: {}", problem.ToString());
        reported = true;
        follower.reset();
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      reported = false;
      if (std::chrono::steady_clock::now() >= next_poll) {
        PollCheckpoint();
        next_poll = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(options_.checkpoint_poll_ms);
      }
    }
  }

  const FanoutOptions options_;
  const bus::BusNames names_;
  store::NoteVerifier verifier_;
  std::unique_ptr<store::LogStore> log_;  // the node's own RocksDB
  std::unique_ptr<federation::FollowerFederation> federation_;
  std::unique_ptr<bus::NatsBus> bus_;
  std::unique_ptr<bus::KvCursors> cursors_;
  std::unique_ptr<KvCursorBook> cursor_book_;
  MemoryKeyValueStore api_key_table_;  // the mirrored API key records
  std::unique_ptr<relay::ApiKeys> api_keys_;
  std::unique_ptr<ApiKeyMirror> api_key_mirror_;
  std::unique_ptr<relay::IntegrationGateway> integration_;
  std::unique_ptr<relay::Delivery> delivery_;
  std::unique_ptr<relay::FederationService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<relay::HttpServer> http_;
  std::thread follower_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> shut_down_{false};
  mutable std::mutex mu_;
  absl::Status failure_;  // guarded by mu_
  std::string last_saved_note_;  // follower thread only
  int grpc_port_ = 0;
  int http_port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FanoutNode>> FanoutNode::Start(const FanoutOptions& options) {
  auto node = std::make_unique<FanoutNodeImpl>(options);
  if (absl::Status status = node->Init(); !status.ok()) {
    node->Shutdown();
    return status;
  }
  return node;
}

}  // namespace fedrelay::fanout
