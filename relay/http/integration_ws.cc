// The /v1/ws session: one IntegrationSession per socket, a state machine
//
//   open --hello--> welcomed --request_access--> waiting --decision--> welcomed
//                      |  (apiKey on the upgrade, in hello, or just granted)
//                      +--subscribe--> following (event frames until close)
//
// Locks: a session's mu_ guards its state and is held only briefly; calls into
// the delivery (SubscribeEvents, Cancel, AcknowledgeEvent) and the access
// requests are made without it, because the delivery calls Deliver/Ended with
// its stream lock held and those take mu_.
#include "relay/http/integration_ws.h"
#include "relay/http/integration_ws_wire.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "relay/auth/downstream_auth.h"
#include "relay/downstream/visibility.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

using Json = nlohmann::json;

namespace {

// How often the timer thread looks for expired hellos, idle sockets and
// unanswered access requests.
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr size_t kMaxDisplayNameBytes = 200;

// Error codes of the integration protocol (SPEC 6).
constexpr char kMissingHello[] = "missing_hello";
constexpr char kInvalidClientType[] = "invalid_client_type";
constexpr char kInvalidClientId[] = "invalid_client_id";
constexpr char kInvalidScope[] = "invalid_scope";
constexpr char kRequestPending[] = "request_pending";
constexpr char kNotReady[] = "not_ready";
constexpr char kUnauthorized[] = "unauthorized";
constexpr char kBadRequest[] = "bad_request";

using integration_wire::AddressOf;
using integration_wire::Frame;
using integration_wire::RefusedFrames;
using integration_wire::StringsOf;
using integration_wire::U64Of;

}  // namespace

class IntegrationSession;

struct IntegrationGateway::Core : std::enable_shared_from_this<IntegrationGateway::Core> {
  Core(Deps d, IntegrationOptions o)
      : deps(std::move(d)),
        options(std::move(o)),
        authenticator(deps.federation, deps.api_keys,
                      DownstreamAuthenticator::Options{options.server_id}),
        sockets_gauge(MetricsRegistry::Default().GetGauge(
            "fedrelay_integration_sockets", "Open integration (/v1/ws) WebSockets.")) {}

  // Streams only need the relay running; minting a key needs it ready (/readyz).
  absl::Status Running() const {
    if (stopping.load()) return MakeError(ErrorCode::kUnavailable, "the relay is shutting down");
    return absl::OkStatus();
  }
  absl::Status Ready() const {
    RETURN_IF_ERROR(Running());
    return deps.readiness ? deps.readiness() : absl::OkStatus();
  }

  // The principal of an API key ("Bearer <key>" form).
  absl::StatusOr<Principal> AuthenticateKey(const std::string& authorization) const {
    DownstreamCredentials credentials;
    credentials.authorization = authorization;
    return authenticator.Authenticate(credentials, kIntegrationPath);
  }

  // Per-address socket slots; false when the address has all of its.
  bool TakeSlot(const std::string& address) {
    absl::MutexLock lock(&mu);
    size_t& count = per_address[address];
    if (count >= options.max_sockets_per_address) return false;
    ++count;
    return true;
  }
  void ReleaseSlot(const std::string& address) {
    absl::MutexLock lock(&mu);
    auto it = per_address.find(address);
    if (it == per_address.end()) return;
    if (--it->second == 0) per_address.erase(it);
  }

  void Add(const std::shared_ptr<IntegrationSession>& session, uint64_t id) {
    absl::MutexLock lock(&mu);
    sessions[id] = session;
  }
  void Remove(uint64_t id) {
    absl::MutexLock lock(&mu);
    sessions.erase(id);
  }
  std::vector<std::shared_ptr<IntegrationSession>> Sessions() {
    std::vector<std::shared_ptr<IntegrationSession>> out;
    absl::MutexLock lock(&mu);
    for (const auto& [id, weak] : sessions) {
      if (auto session = weak.lock()) out.push_back(std::move(session));
    }
    return out;
  }

  void RunTimer();

  const Deps deps;
  const IntegrationOptions options;
  const DownstreamAuthenticator authenticator;
  Gauge& sockets_gauge;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_session_id{1};

  absl::Mutex mu;
  absl::flat_hash_map<std::string, size_t> per_address ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, std::weak_ptr<IntegrationSession>> sessions ABSL_GUARDED_BY(mu);

  absl::Mutex timer_mu;
  bool timer_stop ABSL_GUARDED_BY(timer_mu) = false;
  std::thread timer;
};

class IntegrationSession final : public EventSubscriber,
                                 public std::enable_shared_from_this<IntegrationSession> {
 public:
  IntegrationSession(std::shared_ptr<IntegrationGateway::Core> core, std::string remote_address,
                     std::optional<Principal> principal)
      : core_(std::move(core)),
        id_(core_->next_session_id.fetch_add(1)),
        remote_address_(std::move(remote_address)),
        principal_(std::move(principal)) {}

  void Open(std::shared_ptr<WebSocketConnection> connection) {
    {
      absl::MutexLock lock(&mu_);
      connection_ = std::move(connection);
      opened_ms_ = last_frame_ms_ = SystemClock().NowMs();
    }
    core_->Add(shared_from_this(), id_);
    core_->sockets_gauge.Add(1);
  }

  void Closed() {
    std::shared_ptr<EventSubscription> subscription;
    std::string request_id;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      subscription = std::move(subscription_);
      request_id = std::move(pending_request_id_);
      connection_.reset();
    }
    if (subscription != nullptr) subscription->Cancel();
    if (!request_id.empty() && core_->deps.access_requests != nullptr) {
      core_->deps.access_requests->Abandon(request_id);
    }
    core_->Remove(id_);
    core_->sockets_gauge.Add(-1);
  }

  void Message(const std::string& text) {
    {
      absl::MutexLock lock(&mu_);
      last_frame_ms_ = SystemClock().NowMs();
    }
    if (text.size() > core_->options.max_frame_bytes) {
      Refuse(kBadRequest, absl::StrCat("frame of ", text.size(), " bytes exceeds the limit of ",
                                       core_->options.max_frame_bytes, " bytes"));
      return;
    }
    Json frame = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (frame.is_discarded() || !frame.is_object()) {
      Refuse(kBadRequest, "a frame must be a JSON object {\"type\": ..., \"payload\": {...}}");
      return;
    }
    const auto type_it = frame.find("type");
    if (type_it == frame.end() || !type_it->is_string()) {
      Refuse(kBadRequest, "the frame has no string \"type\"");
      return;
    }
    const std::string type = type_it->get<std::string>();
    Json payload = Json::object();
    if (const auto it = frame.find("payload"); it != frame.end() && !it->is_null()) {
      if (!it->is_object()) {
        Refuse(kBadRequest, "\"payload\" must be an object");
        return;
      }
      payload = *it;
    }
    bool helloed;
    {
      absl::MutexLock lock(&mu_);
      helloed = helloed_;
    }
    if (type == "hello") return Hello(payload);
    if (!helloed) return Refuse(kMissingHello, absl::StrCat("send hello before ", type));
    if (type == "request_access") return RequestAccess(payload);
    if (type == "subscribe") return Subscribe(payload);
    if (type == "ack") return Ack(payload);
    if (type == "state") return State();
    Refuse(kBadRequest, absl::StrCat("unknown frame type \"", type, "\""));
  }

  // The timer: hello and idle timeouts.
  void Tick(uint64_t now_ms) {
    bool close = false;
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || connection_ == nullptr || failed_) return;
      if (!helloed_) {
        close = now_ms >= opened_ms_ + core_->options.hello_timeout_ms;
      } else if (subscription_ == nullptr && pending_request_id_.empty()) {
        close = now_ms >= last_frame_ms_ + core_->options.idle_timeout_ms;
      }
    }
    if (!close) return;
    bool helloed;
    {
      absl::MutexLock lock(&mu_);
      helloed = helloed_;
    }
    if (!helloed) {
      Fail(kMissingHello, absl::StrCat("no hello within ", core_->options.hello_timeout_ms, " ms"));
    } else {
      spdlog::debug("integration socket {} idle, closing", remote_address_);
      CloseSocket();
    }
  }

  // An error that ends the socket (revoked key, relay stopping): once.
  void Fail(absl::string_view code, absl::string_view message) {
    std::shared_ptr<WebSocketConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      if (failed_ || connection_ == nullptr) return;
      failed_ = true;
      connection = connection_;
    }
    RefusedFrames(code).Increment();
    connection->Send(Frame("error", {{"code", code}, {"message", message}}));
    connection->Close();
  }

  bool HasKey(const std::string& key_id) {
    absl::MutexLock lock(&mu_);
    return principal_.has_value() && principal_->key_id == key_id;
  }
  bool Subscribed() {
    absl::MutexLock lock(&mu_);
    return subscription_ != nullptr;
  }

  // EventSubscriber: called with the delivery stream's lock held.
  void Deliver(const v1::StreamResponse& event, std::function<void(bool written)> done) override {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;  // lowerCamelCase, 64-bit ints as strings
    if (!google::protobuf::util::MessageToJsonString(event, &json, options).ok() || json.size() < 2) {
      json = "{}";
    }
    // {"eventId": "...", "timestamp": "...", "<kind>": {...}} plus the kind's oneof name.
    std::string payload = absl::StrCat("{\"kind\":\"", EventKind(event), "\"",
                                       json.size() > 2 ? "," : "", json.substr(1));
    std::shared_ptr<WebSocketConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      connection = connection_;
    }
    // When the socket is gone, `done` is never called: Closed() cancels the stream.
    if (connection != nullptr) {
      connection->SendThen(absl::StrCat("{\"type\":\"event\",\"payload\":", payload, "}"),
                           std::move(done));
    }
  }

  void Ended(const absl::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      subscription_.reset();
    }
    if (absl::IsUnauthenticated(status)) {
      Fail(kUnauthorized, status.message());
    } else if (absl::IsCancelled(status)) {
      CloseSocket();
    } else {
      Fail(kNotReady, status.message());
    }
  }

 private:
  void Send(const std::string& frame) {
    std::shared_ptr<WebSocketConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      connection = connection_;
    }
    if (connection != nullptr) connection->Send(frame);
  }

  void Refuse(absl::string_view code, absl::string_view message) {
    RefusedFrames(code).Increment();
    Send(Frame("error", {{"code", code}, {"message", message}}));
  }

  void CloseSocket() {
    std::shared_ptr<WebSocketConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      connection = connection_;
    }
    if (connection != nullptr) connection->Close();
  }

  // A string field: nullopt when absent, Refuse()d (and *bad set) when not a string.
  std::optional<std::string> StringField(const Json& payload, const char* name, bool* bad) {
    const auto it = payload.find(name);
    if (it == payload.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) {
      Refuse(kBadRequest, absl::StrCat("\"", name, "\" must be a string"));
      *bad = true;
      return std::nullopt;
    }
    return it->get<std::string>();
  }

  void Hello(const Json& payload) {
    bool bad = false;
    const std::optional<std::string> client_type = StringField(payload, "clientType", &bad);
    if (bad) return;
    const std::optional<std::string> client_id = StringField(payload, "clientId", &bad);
    if (bad) return;
    const std::optional<std::string> version = StringField(payload, "version", &bad);
    if (bad) return;
    const std::optional<std::string> display_name = StringField(payload, "displayName", &bad);
    if (bad) return;
    const std::optional<std::string> api_key = StringField(payload, "apiKey", &bad);
    if (bad) return;
    bool helloed;
    {
      absl::MutexLock lock(&mu_);
      helloed = helloed_;
    }
    if (helloed) return Refuse(kBadRequest, "hello was already sent on this socket");
    if (client_type.value_or("") != "integration") {
      return Refuse(kInvalidClientType, "clientType must be \"integration\"");
    }
    if (!client_id.has_value() || !IsValidClientId(*client_id)) {
      return Refuse(kInvalidClientId,
                    "clientId must be a slug or reverse-DNS name: 1 to 128 of A-Z a-z 0-9 . - _, "
                    "starting and ending with a letter or digit");
    }
    if (!version.has_value() || !IsSemVer(*version)) {
      return Refuse(kBadRequest, "version must be a semantic version such as 1.0.0");
    }
    if (display_name.has_value() && display_name->size() > kMaxDisplayNameBytes) {
      return Refuse(kBadRequest, absl::StrCat("displayName is longer than ", kMaxDisplayNameBytes,
                                              " bytes"));
    }
    std::optional<Principal> principal;
    if (api_key.has_value()) {
      absl::StatusOr<Principal> authenticated = core_->AuthenticateKey("Bearer " + *api_key);
      if (!authenticated.ok()) return Refuse(kUnauthorized, "the apiKey is not a live API key");
      principal = *std::move(authenticated);
    }
    {
      absl::MutexLock lock(&mu_);
      helloed_ = true;
      client_id_ = *client_id;
      display_name_ = display_name.value_or("");
      if (principal.has_value()) principal_ = std::move(principal);
    }
    Send(Frame("welcome", {{"capabilities", {"events", "state", "integration.auth"}}}));
  }

  void RequestAccess(const Json& payload) {
    bool bad = false;
    std::optional<std::string> client_id = StringField(payload, "clientId", &bad);
    if (bad) return;
    std::optional<std::string> display_name = StringField(payload, "displayName", &bad);
    if (bad) return;
    const auto scopes_it = payload.find("requestedScopes");
    if (scopes_it == payload.end()) return Refuse(kInvalidScope, "requestedScopes is missing");
    const std::optional<std::vector<std::string>> scopes = StringsOf(*scopes_it);
    if (!scopes.has_value()) return Refuse(kBadRequest, "requestedScopes must be a list of strings");
    if (scopes->empty()) return Refuse(kInvalidScope, "requestedScopes is empty (v1 offers rest.full)");
    for (const std::string& scope : *scopes) {
      if (scope != kScopeRestFull) {
        return Refuse(kInvalidScope, absl::StrCat("Unsupported scope: ", scope.substr(0, 100)));
      }
    }
    if (display_name.has_value() && display_name->size() > kMaxDisplayNameBytes) {
      return Refuse(kBadRequest, absl::StrCat("displayName is longer than ", kMaxDisplayNameBytes,
                                              " bytes"));
    }
    AccessRequestInfo info;
    std::string pending;
    {
      absl::MutexLock lock(&mu_);
      info.client_id = client_id_;
      info.display_name = display_name.value_or(display_name_);
      pending = pending_request_id_;
    }
    if (client_id.has_value() && *client_id != info.client_id) {
      return Refuse(kInvalidClientId, "clientId differs from the one sent in hello");
    }
    if (!pending.empty()) {
      return Refuse(kRequestPending, absl::StrCat("this socket already waits for ", pending));
    }
    if (absl::Status ready = core_->Ready(); !ready.ok()) return Refuse(kNotReady, ready.message());
    if (core_->deps.access_requests == nullptr) {
      return Refuse(kNotReady, "this is a fan-out node: request access on the sequencer");
    }
    info.scopes = *scopes;
    std::sort(info.scopes.begin(), info.scopes.end());
    info.scopes.erase(std::unique(info.scopes.begin(), info.scopes.end()), info.scopes.end());
    info.remote_address = remote_address_;
    std::weak_ptr<IntegrationSession> weak = weak_from_this();
    // Holding mu_ across Open keeps the decision (which takes mu_) behind
    // pending_request_id_; Open never calls the sink itself.
    AccessRequests::Opened opened;
    {
      absl::MutexLock lock(&mu_);
      opened = core_->deps.access_requests->Open(
          std::move(info), [weak](const AccessDecision& decision) {
            auto session = weak.lock();
            return session != nullptr && session->Decide(decision);
          });
      if (!opened.request_id.empty()) {
        pending_request_id_ = opened.request_id;
        if (connection_ != nullptr) {
          connection_->Send(Frame("access_pending", {{"requestId", opened.request_id}}));
        }
      }
    }
    if (opened.request_id.empty()) Refuse(opened.error_code, opened.message);
  }

  // The operator's (or the timer's) answer. False when the socket cannot take it.
  bool Decide(const AccessDecision& decision) {
    std::shared_ptr<WebSocketConnection> connection;
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || connection_ == nullptr || pending_request_id_ != decision.request_id) {
        return false;
      }
      pending_request_id_.clear();
      // The idle clock restarts at the answer: a socket that waited minutes
      // for the operator gets the full idle timeout to use what it was told.
      last_frame_ms_ = SystemClock().NowMs();
      connection = connection_;
      if (decision.granted) {
        // The socket may use its new key at once.
        absl::StatusOr<Principal> principal = core_->AuthenticateKey("Bearer " + decision.api_key);
        if (principal.ok()) principal_ = *std::move(principal);
      }
    }
    if (!decision.granted) {
      return connection->Send(Frame(
          "access_denied", {{"requestId", decision.request_id}, {"reason", decision.reason}}));
    }
    ApiKeys* api_keys = core_->deps.api_keys;
    absl::StatusOr<std::string> key_id = ApiKeys::KeyIdOf(decision.api_key);
    const bool sent = connection->SendThen(
        Frame("access_granted", {{"requestId", decision.request_id},
                                 {"apiKey", decision.api_key},
                                 {"scopes", decision.scopes},
                                 {"channelName", core_->options.server_id}}),
        [api_keys, key_id](bool written) {
          // Never seen by anyone: the key must not stay live.
          if (!written && key_id.ok()) (void)api_keys->Revoke(*key_id);
        });
    return sent;
  }

  std::optional<Principal> RequireKey() {
    absl::MutexLock lock(&mu_);
    return principal_;
  }

  void Subscribe(const Json& payload) {
    const std::optional<Principal> principal = RequireKey();
    if (!principal.has_value()) {
      return Refuse(kUnauthorized, "subscribe needs an API key (Authorization header or hello apiKey)");
    }
    if (Subscribed()) return Refuse(kBadRequest, "this socket is already subscribed");
    v1::SubscribeRequest request;
    if (const auto it = payload.find("cursor"); it != payload.end() && !it->is_null()) {
      const std::optional<uint64_t> cursor = U64Of(*it);
      if (!cursor.has_value()) {
        return Refuse(kBadRequest, "cursor must be a decimal event id (string or number)");
      }
      request.set_resume_from_event_id(absl::StrCat(*cursor));
    }
    for (const char* name : {"kinds", "guildIds"}) {
      const auto it = payload.find(name);
      if (it == payload.end() || it->is_null()) continue;
      const std::optional<std::vector<std::string>> values = StringsOf(*it);
      if (!values.has_value()) {
        return Refuse(kBadRequest, absl::StrCat("\"", name, "\" must be a list of strings"));
      }
      for (const std::string& value : *values) {
        *(std::string(name) == "kinds" ? request.add_kinds() : request.add_guild_ids()) = value;
      }
    }
    if (absl::Status running = core_->Running(); !running.ok()) {
      return Refuse(kNotReady, running.message());
    }
    absl::StatusOr<std::shared_ptr<EventSubscription>> subscription =
        core_->deps.delivery->SubscribeEvents(*principal, request, shared_from_this());
    if (!subscription.ok()) {
      return Refuse(absl::IsUnavailable(subscription.status()) ? kNotReady : kBadRequest,
                    WireMessage(subscription.status()));
    }
    bool closed;
    {
      absl::MutexLock lock(&mu_);
      closed = closed_;
      if (!closed) subscription_ = *subscription;
    }
    if (closed) (*subscription)->Cancel();
  }

  void Ack(const Json& payload) {
    const std::optional<Principal> principal = RequireKey();
    if (!principal.has_value()) return Refuse(kUnauthorized, "ack needs an API key");
    const auto it = payload.find("eventId");
    const std::optional<uint64_t> event_id =
        it == payload.end() ? std::nullopt : U64Of(*it);
    if (!event_id.has_value()) {
      return Refuse(kBadRequest, "eventId must be a decimal event id (string or number)");
    }
    absl::StatusOr<uint64_t> cursor = core_->deps.delivery->AcknowledgeEvent(*principal, *event_id);
    if (!cursor.ok()) {
      return Refuse(absl::IsUnavailable(cursor.status()) ? kNotReady : kBadRequest,
                    WireMessage(cursor.status()));
    }
    Send(Frame("ack", {{"eventId", absl::StrCat(*cursor)}}));
  }

  void State() {
    if (!RequireKey().has_value()) return Refuse(kUnauthorized, "state needs an API key");
    if (absl::Status running = core_->Running(); !running.ok()) {
      return Refuse(kNotReady, running.message());
    }
    Json peers = Json::array();
    for (const auto& peer : core_->deps.federation->Peers()) peers.push_back(peer.server_id);
    std::string note;
    if (auto checkpoint = core_->deps.store->LatestCheckpoint()) note = checkpoint->note;
    Send(Frame("state", {{"logSize", core_->deps.store->Size()},
                         {"checkpoint", note},
                         {"peers", peers},
                         {"subscribers", core_->deps.delivery->subscriber_count()}}));
  }

  const std::shared_ptr<IntegrationGateway::Core> core_;
  const uint64_t id_;
  const std::string remote_address_;

  absl::Mutex mu_;
  std::shared_ptr<WebSocketConnection> connection_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool helloed_ ABSL_GUARDED_BY(mu_) = false;
  std::string client_id_ ABSL_GUARDED_BY(mu_);
  std::string display_name_ ABSL_GUARDED_BY(mu_);
  std::optional<Principal> principal_ ABSL_GUARDED_BY(mu_);
  std::string pending_request_id_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<EventSubscription> subscription_ ABSL_GUARDED_BY(mu_);
  uint64_t opened_ms_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_frame_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace {

// The server's handler: forwards to the session and holds the address slot.
class IntegrationHandler final : public WebSocketHandler {
 public:
  IntegrationHandler(std::shared_ptr<IntegrationGateway::Core> core, std::string address,
                     std::shared_ptr<IntegrationSession> session)
      : core_(std::move(core)), address_(std::move(address)), session_(std::move(session)) {}
  ~IntegrationHandler() override { core_->ReleaseSlot(address_); }

  void OnOpen(std::shared_ptr<WebSocketConnection> connection) override {
    session_->Open(std::move(connection));
  }
  void OnMessage(std::string message) override { session_->Message(message); }
  void OnClose() override { session_->Closed(); }

 private:
  const std::shared_ptr<IntegrationGateway::Core> core_;
  const std::string address_;
  const std::shared_ptr<IntegrationSession> session_;
};

}  // namespace

void IntegrationGateway::Core::RunTimer() {
  for (;;) {
    {
      absl::MutexLock lock(&timer_mu);
      if (timer_mu.AwaitWithTimeout(absl::Condition(&timer_stop), absl::FromChrono(kTick))) return;
    }
    if (deps.access_requests != nullptr) deps.access_requests->Expire();
    const uint64_t now = SystemClock().NowMs();
    for (const auto& session : Sessions()) session->Tick(now);
  }
}

IntegrationGateway::IntegrationGateway(Deps deps, IntegrationOptions options)
    : core_(std::make_shared<Core>(std::move(deps), std::move(options))) {
  core_->timer = std::thread([core = core_.get()] { core->RunTimer(); });
  std::weak_ptr<Core> weak = core_;
  core_->deps.api_keys->AddRevocationListener([weak](const std::string& key_id) {
    auto core = weak.lock();
    if (core == nullptr) return;
    for (const auto& session : core->Sessions()) {
      if (session->HasKey(key_id)) session->Fail(kUnauthorized, "the API key was revoked");
    }
  });
}

IntegrationGateway::~IntegrationGateway() { Shutdown(); }

void IntegrationGateway::Register(HttpServer& server) {
  server.HandleWebSocket(kIntegrationPath, SocketFactory());
}

WebSocketFactory IntegrationGateway::SocketFactory() {
  std::weak_ptr<Core> weak = core_;
  return [weak](const HttpRequest& request) -> absl::StatusOr<std::unique_ptr<WebSocketHandler>> {
    auto core = weak.lock();
    if (core == nullptr || core->stopping.load()) {
      return MakeError(ErrorCode::kUnavailable, "the relay is shutting down");
    }
    // A bad key on the upgrade is refused before the socket opens (401).
    std::optional<Principal> principal;
    if (request.Header("authorization").has_value()) {
      ASSIGN_OR_RETURN(Principal authenticated,
                       core->AuthenticateKey(*request.Header("authorization")));
      principal = std::move(authenticated);
    }
    const std::string address = AddressOf(request.remote_address);
    if (!core->TakeSlot(address)) {
      return MakeError(ErrorCode::kRateLimited,
                       absl::StrCat("too many integration sockets from ", address, " (",
                                    core->options.max_sockets_per_address, ")"));
    }
    auto session =
        std::make_shared<IntegrationSession>(core, request.remote_address, std::move(principal));
    return std::make_unique<IntegrationHandler>(core, address, std::move(session));
  };
}

void IntegrationGateway::Shutdown() {
  if (core_->stopping.exchange(true)) return;
  {
    absl::MutexLock lock(&core_->timer_mu);
    core_->timer_stop = true;
  }
  if (core_->timer.joinable()) core_->timer.join();
  if (core_->deps.access_requests != nullptr) core_->deps.access_requests->FailAll();
  for (const auto& session : core_->Sessions()) {
    if (session->Subscribed()) session->Fail(kNotReady, "the relay is shutting down");
  }
}

}  // namespace fedrelay::relay
