#include "relay/http/member_channel.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/signing.h"
#include "relay/auth/rate_limiter.h"
#include "relay/http/json_body.h"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

using nlohmann::json;

constexpr absl::string_view kEventsPath = "/member/channel/events";
constexpr absl::string_view kEventPathPrefix = "/member/channel/events/";
constexpr absl::string_view kEventIdPrefix = "evt_";
constexpr absl::string_view kDevicePrefix = "member/device/";
constexpr absl::string_view kAckPrefix = "member/ack/";
constexpr size_t kMaxDeviceFieldBytes = 200;
// How long a poll waits for the index to reach the entries already receipted.
constexpr absl::Duration kIndexWait = absl::Seconds(2);

// A fixed pool of worker threads with a bounded queue.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queued) : max_queued_(max_queued) {
    for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // False when the queue is full or the pool stopped.
  bool Post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
    cv_.notify_one();
    return true;
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued is done
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

std::string EventName(uint64_t event_id) { return absl::StrCat(kEventIdPrefix, event_id); }

// "evt_<n>" -> n (strict decimal).
std::optional<uint64_t> ParseEventName(absl::string_view text) {
  if (!absl::StartsWith(text, kEventIdPrefix)) return std::nullopt;
  return ParseDecimalU64(text.substr(kEventIdPrefix.size()));
}

std::string ClientHost(const HttpRequest& request) {
  const std::string& address = request.remote_address;
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

absl::Status CheckBodySize(const HttpRequest& request) {
  if (request.body.size() > kMaxMemberBodyBytes) {
    return MakeError(ErrorCode::kPayloadTooLarge,
                     absl::StrCat("member channel bodies are at most ", kMaxMemberBodyBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> BoundedOptionalString(const json& body, const char* name) {
  ASSIGN_OR_RETURN(auto value, OptionalString(body, name));
  if (value.has_value() && value->size() > kMaxDeviceFieldBytes) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("field '", name, "' is longer than ", kMaxDeviceFieldBytes, " bytes"));
  }
  return value;
}

// acknowledged_at: Unix ms (number or decimal string, SPEC JSON conventions);
// an RFC 3339 string as in the member-channel reference is accepted too.
absl::StatusOr<uint64_t> ParseAcknowledgedAt(const json& body) {
  const auto it = body.find("acknowledged_at");
  if (it != body.end() && it->is_string()) {
    const std::string& text = it->get_ref<const std::string&>();
    if (!ParseDecimalU64(text).has_value()) {
      absl::Time time;
      std::string error;
      if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error) || time < absl::UnixEpoch()) {
        return MakeError(ErrorCode::kMalformed,
                         "field 'acknowledged_at' must be Unix ms or an RFC 3339 time");
      }
      return static_cast<uint64_t>(absl::ToUnixMillis(time));
    }
  }
  return RequiredU64(body, "acknowledged_at");
}

class MemberChannelImpl final : public MemberChannel {
 public:
  explicit MemberChannelImpl(const MemberChannelOptions& options)
      : options_(options),
        login_limiter_("login_rate_limit", options.rate_limits.login_rate_limit, options.clock),
        login_host_limiter_("login_rate_limit", options.rate_limits.login_rate_limit, options.clock),
        register_limiter_("register_rate_limit", options.rate_limits.register_rate_limit,
                          options.clock),
        events_limiter_("sync_mailbox_rate_limit", options.rate_limits.sync_mailbox_rate_limit,
                        options.clock),
        ticket_limiter_("ticket rate", kTicketsPerMinute, options.clock),
        pool_(options.threads, options.max_queued_requests) {}

  void Register(HttpServer& server) {
    Route(server, "POST", "/member/session", &MemberChannelImpl::Session, false);
    Route(server, "POST", "/member/channel/device/register", &MemberChannelImpl::RegisterDevice, false);
    Route(server, "GET", kEventsPath, &MemberChannelImpl::Events, false);
    Route(server, "POST", kEventPathPrefix, &MemberChannelImpl::Ack, true);
    Route(server, "POST", "/member/channel/support/ticket", &MemberChannelImpl::SupportTicket, false);
  }

  void Stop() override { pool_.Stop(); }

 private:
  using Handler = absl::StatusOr<HttpResponse> (MemberChannelImpl::*)(const HttpRequest&);

  void Route(HttpServer& server, absl::string_view method, absl::string_view path, Handler handler,
             bool prefix) {
    AsyncHttpHandler async = [this, handler](const HttpRequest& request, HttpResponder respond) {
      auto copy = std::make_shared<HttpRequest>(request);
      auto shared_respond = std::make_shared<HttpResponder>(std::move(respond));
      const bool queued = pool_.Post([this, handler, copy, shared_respond] {
        absl::StatusOr<HttpResponse> result = (this->*handler)(*copy);
        Finish(*copy, std::move(result), *shared_respond);
      });
      if (!queued) {
        Finish(*copy, MakeError(ErrorCode::kUnavailable, "the member channel is busy; retry"),
               *shared_respond);
      }
    };
    if (prefix) {
      server.HandlePrefixAsync(method, path, std::move(async));
    } else {
      server.HandleAsync(method, path, std::move(async));
    }
  }

  static void Finish(const HttpRequest& request, absl::StatusOr<HttpResponse> result,
                     const HttpResponder& respond) {
    if (!result.ok()) {
      CountRejection(result.status());
      spdlog::info("member {} {} {}: {}", request.method, request.path, request.correlation_id,
                   WireMessage(result.status()));
    }
    respond(std::move(result));
  }

  static void CountRejection(const absl::Status& status) { federation::CountRejection(status); }

  uint64_t Now() const { return options_.clock->NowMs(); }

  absl::StatusOr<MemberSession> Authenticate(const HttpRequest& request) const {
    const auto token = request.BearerToken();
    if (!token.has_value()) {
      return MakeError(ErrorCode::kUnauthenticated,
                       "missing Authorization: Bearer <session token> (POST /member/session)");
    }
    return options_.sessions->Authenticate(*token);
  }

  static absl::Status CheckDevice(const MemberSession& session, absl::string_view device_id) {
    if (device_id != session.device_id) {
      return MakeError(ErrorCode::kNotAuthorized,
                       "device_id is not the device of this session's certificate");
    }
    return absl::OkStatus();
  }

  // POST /member/session
  absl::StatusOr<HttpResponse> Session(const HttpRequest& request) {
    RETURN_IF_ERROR(CheckBodySize(request));
    ASSIGN_OR_RETURN(const json body, ParseJsonObject(request.body));
    MemberLogin login;
    ASSIGN_OR_RETURN(login.user_id, RequiredString(body, "user_id"));
    ASSIGN_OR_RETURN(login.timestamp, RequiredU64(body, "timestamp"));
    ASSIGN_OR_RETURN(login.signature_hex, RequiredString(body, "signature"));
    const auto cert = body.find("device_cert");
    if (cert == body.end() || !cert->is_object()) {
      return MakeError(ErrorCode::kMalformed, "field 'device_cert' must be a DeviceCert object");
    }
    google::protobuf::util::JsonParseOptions parse_options;
    parse_options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(cert->dump(), &login.device_cert, parse_options)
             .ok()) {
      return MakeError(ErrorCode::kMalformed,
                       "field 'device_cert' is not a DeviceCert (proto3 JSON mapping)");
    }
    RETURN_IF_ERROR(login_host_limiter_.Allow(ClientHost(request)));
    RETURN_IF_ERROR(login_limiter_.Allow(login.user_id));
    ASSIGN_OR_RETURN(const MemberSessions::Created created, options_.sessions->Login(login));
    spdlog::info("member session for user {} device {} until {}", created.session.user_id,
                 created.session.device_id, created.session.expires_at_ms);
    return HttpResponse::Json(DumpJson(json{{"session_token", created.token},
                                            {"expires_at", created.session.expires_at_ms},
                                            {"user_id", created.session.user_id},
                                            {"device_id", created.session.device_id}}));
  }

  // POST /member/channel/device/register
  absl::StatusOr<HttpResponse> RegisterDevice(const HttpRequest& request) {
    RETURN_IF_ERROR(CheckBodySize(request));
    ASSIGN_OR_RETURN(const MemberSession session, Authenticate(request));
    ASSIGN_OR_RETURN(const json body, ParseJsonObject(request.body));
    ASSIGN_OR_RETURN(const std::string device_id, RequiredString(body, "device_id"));
    ASSIGN_OR_RETURN(const auto platform, BoundedOptionalString(body, "platform"));
    ASSIGN_OR_RETURN(const auto app_version, BoundedOptionalString(body, "app_version"));
    ASSIGN_OR_RETURN(const auto push_provider, BoundedOptionalString(body, "push_provider"));
    RETURN_IF_ERROR(CheckDevice(session, device_id));
    RETURN_IF_ERROR(register_limiter_.Allow(session.user_id));

    const std::string key = absl::StrCat(kDevicePrefix, session.user_id, "/", device_id);
    std::lock_guard<std::mutex> lock(device_mu_);
    ASSIGN_OR_RETURN(auto existing, options_.store->Get(store::Table::kAux, key));
    std::string binding_id;
    uint64_t registered_at = Now();
    if (existing.has_value()) {
      const json record = json::parse(*existing, nullptr, false);
      if (record.is_object()) {
        binding_id = record.value("channel_binding_id", "");
        registered_at = record.value("registered_at", registered_at);
      }
    }
    // The binding of a device never changes: re-registering updates the details.
    if (binding_id.empty()) binding_id = absl::StrCat("ch_", NewUlid());
    const json record = {{"channel_binding_id", binding_id},
                         {"platform", platform.value_or("")},
                         {"app_version", app_version.value_or("")},
                         {"push_provider", push_provider.value_or("")},
                         {"registered_at", registered_at},
                         {"updated_at", Now()}};
    store::WriteSet writes;
    writes.Put(store::Table::kAux, key, DumpJson(record));
    RETURN_IF_ERROR(options_.store->Write(writes));
    return HttpResponse::Json(DumpJson(json{{"channel_binding_id", binding_id},
                                            {"status", "active"},
                                            {"poll_interval_seconds", kMemberPollIntervalSeconds},
                                            {"server_time", Now()}}));
  }

  // GET /member/channel/events
  absl::StatusOr<HttpResponse> Events(const HttpRequest& request) {
    ASSIGN_OR_RETURN(const MemberSession session, Authenticate(request));
    const auto query = [&](const char* name) -> std::optional<std::string> {
      const auto it = request.query.find(name);
      if (it == request.query.end()) return std::nullopt;
      return it->second;
    };
    const auto device_id = query("device_id");
    if (!device_id.has_value() || device_id->empty()) {
      return MakeError(ErrorCode::kMalformed, "missing query parameter device_id");
    }
    uint64_t limit = kMemberDefaultLimit;
    if (const auto text = query("limit"); text.has_value()) {
      const auto parsed = ParseDecimalU64(*text);
      if (!parsed.has_value() || *parsed < 1 || *parsed > kMemberMaxLimit) {
        return MakeError(ErrorCode::kMalformed,
                         absl::StrCat("limit must be a whole number 1..", kMemberMaxLimit));
      }
      limit = *parsed;
    }
    std::optional<std::string> guild_id = query("guild_id");
    if (guild_id.has_value() && guild_id->empty()) guild_id.reset();
    RETURN_IF_ERROR(CheckDevice(session, *device_id));
    if (guild_id.has_value() && options_.federation->IsBanned(*guild_id, session.user_id)) {
      return MakeError(ErrorCode::kMembershipInactive,
                       absl::StrCat("banned from guild '", *guild_id, "'"));
    }
    RETURN_IF_ERROR(events_limiter_.Allow(absl::StrCat(session.user_id, "/", session.device_id)));

    // Everything receipted so far is in the index before we answer.
    const uint64_t indexed = options_.index->WaitIndexed(options_.index->target(), kIndexWait);
    uint64_t cursor = 0;
    if (const auto text = query("cursor"); text.has_value() && !text->empty()) {
      ASSIGN_OR_RETURN(cursor, CheckCursor(session.user_id, *text, indexed));
    }

    // Re-deliveries first: requires_ack events at or before the cursor that
    // this device has not acknowledged, then the events after the cursor.
    std::vector<IndexedEvent> page;
    ASSIGN_OR_RETURN(const auto pending, options_.index->AckRequired(session.user_id, cursor));
    for (uint64_t event_id : pending) {
      if (page.size() >= limit) break;
      ASSIGN_OR_RETURN(auto acked, FindAck(session.user_id, session.device_id, event_id));
      if (acked.has_value()) continue;
      ASSIGN_OR_RETURN(auto event, options_.index->Find(session.user_id, event_id));
      if (!event.has_value()) continue;
      if (guild_id.has_value() && event->guild_id != *guild_id) continue;
      page.push_back(*std::move(event));
    }
    ASSIGN_OR_RETURN(auto fresh, options_.index->After(session.user_id, cursor,
                                                       limit - page.size(), guild_id));
    uint64_t next_cursor = cursor;
    for (auto& event : fresh) {
      if (event.event_id > indexed) break;
      next_cursor = event.event_id;
      page.push_back(std::move(event));
    }

    json events = json::array();
    for (const IndexedEvent& event : page) {
      ASSIGN_OR_RETURN(json rendered, Render(session.user_id, event));
      events.push_back(std::move(rendered));
    }
    ASSIGN_OR_RETURN(const auto banned, options_.index->BannedGuilds(session.user_id));
    const json response = {{"user_id", session.user_id},
                           {"device_id", session.device_id},
                           {"membership_status", banned.empty() ? "active" : "banned"},
                           {"banned_guild_ids", banned},
                           {"events", std::move(events)},
                           {"next_cursor", EventName(next_cursor)},
                           {"server_time", Now()}};
    return HttpResponse::Json(DumpJson(response));
  }

  // A cursor is evt_0 or the id of one of this user's events (every
  // next_cursor the channel hands out is one of those).
  absl::StatusOr<uint64_t> CheckCursor(const std::string& user_id, absl::string_view text,
                                       uint64_t indexed) const {
    const auto cursor = ParseEventName(text);
    if (!cursor.has_value()) {
      return MakeError(ErrorCode::kInvalidCursor, "a cursor is evt_<n> as next_cursor gave it");
    }
    if (*cursor == 0) return *cursor;
    if (*cursor > indexed) return MakeError(ErrorCode::kInvalidCursor, "cursor is ahead of the log");
    ASSIGN_OR_RETURN(const auto event, options_.index->Find(user_id, *cursor));
    if (!event.has_value()) {
      return MakeError(ErrorCode::kInvalidCursor, "cursor is not one of this user's positions");
    }
    return *cursor;
  }

  static std::string AckKey(absl::string_view user_id, absl::string_view device_id,
                            uint64_t event_id) {
    return absl::StrCat(kAckPrefix, user_id, "/", EventKeyPart(event_id), "/", device_id);
  }

  absl::StatusOr<std::optional<uint64_t>> FindAck(absl::string_view user_id,
                                                  absl::string_view device_id,
                                                  uint64_t event_id) const {
    ASSIGN_OR_RETURN(auto value,
                     options_.store->Get(store::Table::kAux, AckKey(user_id, device_id, event_id)));
    if (!value.has_value()) return std::optional<uint64_t>();
    return ParseDecimalU64(*value);
  }

  // One member-channel event in the JSON of SPEC section 6.
  absl::StatusOr<json> Render(const std::string& user_id, const IndexedEvent& event) const {
    ASSIGN_OR_RETURN(const std::string leaf, options_.store->GetLeaf(event.event_id - 1));
    v1::LogEntry entry;
    if (!entry.ParseFromString(leaf)) {
      return MakeError(ErrorCode::kInternal, absl::StrCat("unparsable leaf ", event.event_id - 1));
    }
    json out = {{"event_id", EventName(event.event_id)},
                {"class", event.event_class},
                {"created_at", entry.received_at()},
                {"visibility_scope", "member"}};
    json payload;
    std::string title, body, dedupe_key;
    bool requires_ack = false;
    if (event.event_class == kClassDmInvite && entry.has_dm_invite()) {
      const v1::DMInvite& invite = entry.dm_invite();
      const auto state = options_.federation->Invite(invite.invite_id());
      title = "Direct message invite";
      body = absl::StrCat(invite.inviter_id(), " invited you to ",
                          invite.guild_name().empty() ? invite.guild_id() : invite.guild_name());
      dedupe_key = absl::StrCat("dm_invite:", invite.invite_id());
      requires_ack = true;
      payload = {{"invite_id", invite.invite_id()},
                 {"inviter_id", invite.inviter_id()},
                 {"inviter_pubkey", invite.inviter_pubkey()},
                 {"target_user_id", invite.target_user_id()},
                 {"guild_id", invite.guild_id()},
                 {"guild_name", invite.guild_name()},
                 {"host_server_url", invite.host_server_url()},
                 {"timestamp", invite.timestamp()},
                 // This channel is one of the invite's recipients (SPEC 4).
                 {"token", state.has_value() ? state->token : ""},
                 {"status", std::string(federation::InviteStatusName(
                                 state.has_value() ? state->status : federation::InviteStatus::kPending))}};
    } else if (event.event_class == kClassBan && entry.has_ban()) {
      const v1::BanNotification& ban = entry.ban();
      title = "Banned from a guild";
      body = absl::StrCat("You were banned from ", ban.guild_id(), " by ", ban.origin_server_id(),
                          ban.reason().empty() ? "" : absl::StrCat(": ", ban.reason()));
      dedupe_key = absl::StrCat("ban:", ban.guild_id(), ":", event.event_id);
      requires_ack = true;
      payload = {{"guild_id", ban.guild_id()},
                 {"origin_server_id", ban.origin_server_id()},
                 {"reason", ban.reason()},
                 {"evidence_hash", ban.evidence_hash()},
                 {"timestamp", ban.timestamp()}};
    } else if (event.event_class == kClassMigration && entry.has_migration()) {
      const v1::UpdateHomeServerRequest& migration = entry.migration();
      title = "Homeserver changed";
      body = absl::StrCat("Your homeserver is now ", migration.new_homeserver());
      dedupe_key = absl::StrCat("migration:", migration.timestamp());
      payload = {{"new_homeserver", migration.new_homeserver()},
                 {"timestamp", migration.timestamp()}};
    } else if (event.event_class == kClassProfileUpdate && entry.has_profile()) {
      const v1::UpdateFederatedProfileRequest& profile = entry.profile();
      title = "Profile updated";
      body = absl::StrCat("Your federated profile is now '", profile.display_name(), "'");
      dedupe_key = absl::StrCat("profile_update:", profile.timestamp());
      payload = {{"display_name", profile.display_name()},
                 {"avatar_url", profile.avatar_url()},
                 {"bio", profile.bio()},
                 {"device_id", profile.device_cert().device_id()},
                 {"timestamp", profile.timestamp()}};
    } else if (event.event_class == kClassDmInviteStatus &&
               (entry.has_dm_accept() || entry.has_dm_reject())) {
      const bool accepted = entry.has_dm_accept();
      const std::string& invite_id =
          accepted ? entry.dm_accept().invite_id() : entry.dm_reject().invite_id();
      const std::string status(accepted ? federation::kDecisionAccepted
                                        : federation::kDecisionRejected);
      title = "Invite answered";
      body = absl::StrCat("Invite ", invite_id, " was ", status);
      dedupe_key = absl::StrCat("dm_invite_status:", invite_id);
      payload = {{"invite_id", invite_id},
                 {"status", status},
                 {"guild_id", event.guild_id},
                 {"timestamp", accepted ? entry.dm_accept().timestamp() : entry.dm_reject().timestamp()}};
    } else {
      return MakeError(ErrorCode::kInternal,
                       absl::StrCat("index entry ", event.event_id, " for ", user_id,
                                    " does not match its leaf"));
    }
    out["title"] = title;
    out["body"] = body;
    out["dedupe_key"] = dedupe_key;
    out["requires_ack"] = requires_ack;
    out["payload"] = std::move(payload);
    return out;
  }

  // POST /member/channel/events/{event_id}/ack
  absl::StatusOr<HttpResponse> Ack(const HttpRequest& request) {
    RETURN_IF_ERROR(CheckBodySize(request));
    absl::string_view rest = request.path;
    rest.remove_prefix(kEventPathPrefix.size());
    if (!absl::ConsumeSuffix(&rest, "/ack") || rest.find('/') != absl::string_view::npos) {
      return MakeError(ErrorCode::kNotFound, "no such endpoint");
    }
    ASSIGN_OR_RETURN(const MemberSession session, Authenticate(request));
    const auto event_id = ParseEventName(rest);
    if (!event_id.has_value() || *event_id == 0) {
      return MakeError(ErrorCode::kMalformed, "event ids are evt_<n>");
    }
    ASSIGN_OR_RETURN(const json body, ParseJsonObject(request.body));
    ASSIGN_OR_RETURN(const std::string device_id, RequiredString(body, "device_id"));
    ASSIGN_OR_RETURN(uint64_t acknowledged_at, ParseAcknowledgedAt(body));
    RETURN_IF_ERROR(CheckDevice(session, device_id));
    options_.index->WaitIndexed(options_.index->target(), kIndexWait);
    ASSIGN_OR_RETURN(const auto event, options_.index->Find(session.user_id, *event_id));
    if (!event.has_value()) {
      return MakeError(ErrorCode::kNotFound,
                       absl::StrCat("no event ", EventName(*event_id), " for this user"));
    }
    const std::string key = AckKey(session.user_id, device_id, *event_id);
    {
      std::lock_guard<std::mutex> lock(ack_mu_);
      ASSIGN_OR_RETURN(const auto previous, FindAck(session.user_id, device_id, *event_id));
      if (previous.has_value()) {
        acknowledged_at = *previous;  // idempotent: the first ack's answer again
      } else {
        store::WriteSet writes;
        writes.Put(store::Table::kAux, key, absl::StrCat(acknowledged_at));
        RETURN_IF_ERROR(options_.store->Write(writes));
      }
    }
    return HttpResponse::Json(DumpJson(json{{"status", "acknowledged"},
                                            {"event_id", EventName(*event_id)},
                                            {"acknowledged_at", acknowledged_at}}));
  }

  // POST /member/channel/support/ticket
  absl::StatusOr<HttpResponse> SupportTicket(const HttpRequest& request) {
    RETURN_IF_ERROR(CheckBodySize(request));
    ASSIGN_OR_RETURN(const MemberSession session, Authenticate(request));
    ASSIGN_OR_RETURN(const json body, ParseJsonObject(request.body));
    Ticket ticket;
    ticket.user_id = session.user_id;
    ticket.device_id = session.device_id;
    ASSIGN_OR_RETURN(ticket.category, RequiredString(body, "category"));
    ASSIGN_OR_RETURN(ticket.summary, RequiredString(body, "summary"));
    ASSIGN_OR_RETURN(const auto event_name, OptionalString(body, "event_id"));
    ASSIGN_OR_RETURN(const auto guild_id, OptionalString(body, "guild_id"));
    RETURN_IF_ERROR(MemberTickets::Validate(ticket));
    if (ticket.category == kTicketCategoryBanAppeal) {
      // An appeal names the ban's event; the guild is the ban's.
      if (!event_name.has_value()) {
        return MakeError(ErrorCode::kMalformed, "a ban_appeal names the ban's event_id");
      }
      const auto event_id = ParseEventName(*event_name);
      if (!event_id.has_value()) return MakeError(ErrorCode::kMalformed, "event ids are evt_<n>");
      options_.index->WaitIndexed(options_.index->target(), kIndexWait);
      ASSIGN_OR_RETURN(const auto event, options_.index->Find(session.user_id, *event_id));
      if (!event.has_value() || event->event_class != kClassBan) {
        return MakeError(ErrorCode::kNotFound,
                         absl::StrCat(*event_name, " is not a ban of this user"));
      }
      if (guild_id.has_value() && *guild_id != event->guild_id) {
        return MakeError(ErrorCode::kMalformed, "guild_id is not the guild of the appealed ban");
      }
      ticket.event_id = EventName(*event_id);
      ticket.guild_id = event->guild_id;
    } else {
      if (event_name.has_value()) ticket.event_id = *event_name;
      if (guild_id.has_value()) {
        ticket.guild_id = *guild_id;
        if (options_.federation->IsBanned(*guild_id, session.user_id)) {
          return MakeError(ErrorCode::kMembershipInactive,
                           absl::StrCat("banned from guild '", *guild_id,
                                        "'; category ban_appeal is the only ticket about it"));
        }
      }
    }
    RETURN_IF_ERROR(ticket_limiter_.Allow(session.user_id));
    ASSIGN_OR_RETURN(const Ticket created, options_.tickets->Create(std::move(ticket)));
    spdlog::info("member ticket {} ({}) from user {}", created.ticket_id, created.category,
                 created.user_id);
    return HttpResponse::Json(DumpJson(json{{"status", "accepted"},
                                            {"ticket_id", created.ticket_id},
                                            {"created_at", created.created_at_ms}}));
  }

  const MemberChannelOptions options_;
  RateLimiter login_limiter_;       // per user
  RateLimiter login_host_limiter_;  // per client address
  RateLimiter register_limiter_;    // per user
  RateLimiter events_limiter_;      // per user and device
  RateLimiter ticket_limiter_;      // per user
  std::mutex device_mu_;            // serializes read-modify-write of device records
  std::mutex ack_mu_;               // serializes check-and-set of acks
  WorkerPool pool_;                 // last: its workers use everything above
};

}  // namespace

std::unique_ptr<MemberChannel> RegisterMemberChannel(HttpServer& server,
                                                     const MemberChannelOptions& options) {
  auto channel = std::make_unique<MemberChannelImpl>(options);
  channel->Register(server);
  return channel;
}

}  // namespace fedrelay::relay
