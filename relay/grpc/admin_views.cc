#include "relay/grpc/admin_views.h"

#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "relay/grpc/grpc_status.h"
#include "relay/grpc/recent_rejections.h"

namespace fedrelay::relay {
namespace {

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context, const absl::Status& status) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status, context));
  return reactor;
}

absl::Status CheckUserId(const std::string& user_id) {
  return HexDecode(user_id, "user id", 32).status();
}

// Every user's bans: "member/ban/<user>/<guild>" without the user part.
std::string AllBansPrefix() {
  const std::string one_user = MemberBanPrefix("");  // "member/ban//"
  return one_user.substr(0, one_user.size() - 1);
}

}  // namespace

AdminViewsService::AdminViewsService(const store::LogStore* store,
                                     const federation::Federation* federation,
                                     const Delivery* delivery, const MemberIndex* member_index)
    : store_(store), federation_(federation), delivery_(delivery), member_index_(member_index) {}

void AdminViewsService::WaitForIndex() const {
  member_index_->WaitIndexed(member_index_->target(), kIndexWait);
}

absl::StatusOr<v1::LogEntry> AdminViewsService::Entry(uint64_t event_id) const {
  ASSIGN_OR_RETURN(const std::string leaf, store_->GetLeaf(event_id - 1));
  v1::LogEntry entry;
  if (!entry.ParseFromString(leaf)) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("log entry ", event_id, " does not parse"));
  }
  return entry;
}

absl::Status AdminViewsService::Tail(const v1::TailLogRequest& request,
                                     v1::TailLogResponse* response) const {
  const uint64_t size = store_->Size();
  response->set_log_size(size);
  const uint32_t max = request.max() == 0 ? kMaxTailEntries : std::min(request.max(), kMaxTailEntries);
  absl::Status parse_status;
  // Collects the entries of [begin, end) that match, in order.
  auto scan = [&](uint64_t begin, uint64_t end, size_t limit, std::vector<v1::LogEntry>* out,
                  uint64_t* through) -> absl::Status {
    RETURN_IF_ERROR(store_->ScanLeaves(begin, end, [&](uint64_t index, absl::string_view leaf) {
      v1::LogEntry entry;
      if (!entry.ParseFromString(std::string(leaf))) {
        parse_status = MakeError(ErrorCode::kInternal,
                                 absl::StrCat("log entry ", index + 1, " does not parse"));
        return false;
      }
      *through = index + 1;
      if (request.kind().empty() || entry.kind() == request.kind()) out->push_back(std::move(entry));
      return out->size() < limit;
    }));
    return parse_status;
  };
  if (request.last() > 0) {
    // Backwards in chunks until `last` matching entries (or the scan bound).
    const size_t want = std::min<size_t>(request.last(), max);
    constexpr uint64_t kChunk = 1024;
    std::deque<v1::LogEntry> found;
    uint64_t end = size;
    while (end > 0 && found.size() < want && size - end < kMaxTailScan) {
      const uint64_t begin = end > kChunk ? end - kChunk : 0;
      std::vector<v1::LogEntry> chunk;
      uint64_t ignored = 0;
      RETURN_IF_ERROR(scan(begin, end, SIZE_MAX, &chunk, &ignored));
      for (auto it = chunk.rbegin(); it != chunk.rend() && found.size() < want; ++it) {
        found.push_front(std::move(*it));
      }
      end = begin;
    }
    for (auto& entry : found) *response->add_entries() = std::move(entry);
    response->set_scanned_through(size);
    return absl::OkStatus();
  }
  if (request.after_event_id() > size) {
    return MakeError(ErrorCode::kInvalidCursor, absl::StrCat("event ", request.after_event_id(),
                                                             " is beyond the log (", size, " events)"));
  }
  std::vector<v1::LogEntry> entries;
  uint64_t through = request.after_event_id();
  RETURN_IF_ERROR(scan(request.after_event_id(),
                       std::min(size, request.after_event_id() + kMaxTailScan), max, &entries,
                       &through));
  for (auto& entry : entries) *response->add_entries() = std::move(entry);
  response->set_scanned_through(through);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminViewsService::TailLog(grpc::CallbackServerContext* context,
                                                     const v1::TailLogRequest* request,
                                                     v1::TailLogResponse* response) {
  return Finish(context, Tail(*request, response));
}

grpc::ServerUnaryReactor* AdminViewsService::ListSubscribers(
    grpc::CallbackServerContext* context, const v1::ListSubscribersRequest*,
    v1::ListSubscribersResponse* response) {
  for (const SubscriberInfo& info : delivery_->Subscribers()) {
    auto* out = response->add_subscribers();
    out->set_identity(info.identity);
    out->set_transport(info.transport);
    for (const auto& guild : info.guild_ids) out->add_guild_ids(guild);
    for (const auto& kind : info.kinds) out->add_kinds(kind);
    out->set_acked_event_id(info.acked_event_id);
    out->set_sent_through(info.sent_through);
    out->set_lag_events(info.lag_events);
    out->set_lag_seconds(info.lag_seconds);
    out->set_connected_since(info.connected_since_ms);
  }
  return Finish(context, absl::OkStatus());
}

absl::Status AdminViewsService::Bans(const std::string& guild_id, const std::string& user_id,
                                     google::protobuf::RepeatedPtrField<v1::AdminBan>* out) const {
  // One user's bans are one key range; every user's are the whole ban range.
  const std::string prefix = user_id.empty() ? AllBansPrefix() : MemberBanPrefix(user_id);
  const std::string all = AllBansPrefix();
  return store_->Scan(store::Table::kAux, prefix, [&](absl::string_view key, absl::string_view value) {
    const absl::string_view rest = key.substr(all.size());  // "<user>/<guild>"
    const size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) return true;
    const absl::string_view guild = rest.substr(slash + 1);
    if (!guild_id.empty() && guild != guild_id) return true;
    auto* ban = out->Add();
    ban->set_user_id(std::string(rest.substr(0, slash)));
    ban->set_guild_id(std::string(guild));
    uint64_t event_id = 0;
    if (absl::SimpleAtoi(value, &event_id)) ban->set_event_id(event_id);
    return true;
  });
}

grpc::ServerUnaryReactor* AdminViewsService::ListBans(grpc::CallbackServerContext* context,
                                                      const v1::ListBansRequest* request,
                                                      v1::ListBansResponse* response) {
  if (!request->user_id().empty()) {
    if (absl::Status valid = CheckUserId(request->user_id()); !valid.ok()) {
      return Finish(context, MakeError(ErrorCode::kMalformed, valid.message()));
    }
  }
  WaitForIndex();
  return Finish(context, Bans(request->guild_id(), request->user_id(), response->mutable_bans()));
}

absl::Status AdminViewsService::User(const std::string& user_id, v1::AdminUser* response) const {
  response->set_user_id(user_id);
  response->set_homeserver(federation_->HomeserverOf(user_id).value_or(""));
  RETURN_IF_ERROR(Bans("", user_id, response->mutable_bans()));
  uint64_t after = 0, profile_event = 0;
  std::vector<uint64_t> invite_events;
  for (;;) {
    ASSIGN_OR_RETURN(auto page, member_index_->After(user_id, after, 1024, std::nullopt));
    for (const IndexedEvent& event : page) {
      if (event.event_class == kClassProfileUpdate) profile_event = event.event_id;
      if (event.event_class == kClassDmInvite) invite_events.push_back(event.event_id);
      after = event.event_id;
    }
    if (page.size() < 1024) break;
  }
  if (profile_event != 0) {
    ASSIGN_OR_RETURN(const v1::LogEntry entry, Entry(profile_event));
    response->set_profile_event_id(profile_event);
    response->set_display_name(entry.profile().display_name());
    response->set_avatar_url(entry.profile().avatar_url());
    response->set_bio(entry.profile().bio());
  }
  for (const uint64_t event_id : invite_events) {
    ASSIGN_OR_RETURN(const v1::LogEntry entry, Entry(event_id));
    const auto invite = federation_->Invite(entry.dm_invite().invite_id());
    if (!invite.has_value() || invite->status != federation::InviteStatus::kPending) continue;
    auto* out = response->add_pending_invites();  // never the token
    out->set_invite_id(invite->invite_id);
    out->set_inviter_id(invite->inviter_id);
    out->set_guild_id(invite->guild_id);
    out->set_host_server_url(invite->host_server_url);
    out->set_event_id(invite->event_id);
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminViewsService::GetUser(grpc::CallbackServerContext* context,
                                                     const v1::GetUserRequest* request,
                                                     v1::AdminUser* response) {
  if (absl::Status valid = CheckUserId(request->user_id()); !valid.ok()) {
    return Finish(context, MakeError(ErrorCode::kMalformed, valid.message()));
  }
  WaitForIndex();
  return Finish(context, User(request->user_id(), response));
}

grpc::ServerUnaryReactor* AdminViewsService::ListRejections(
    grpc::CallbackServerContext* context, const v1::ListRejectionsRequest*,
    v1::ListRejectionsResponse* response) {
  const RecentRejections& ring = RecentRejections::Default();
  for (const RecentRejection& rejection : ring.Snapshot()) {
    auto* out = response->add_rejections();
    out->set_at_ms(rejection.at_ms);
    out->set_code(rejection.code);
    out->set_peer(rejection.peer);
    out->set_kind(rejection.kind);
    out->set_message(rejection.message);
  }
  response->set_capacity(RecentRejections::kCapacity);
  response->set_total(ring.total());
  return Finish(context, absl::OkStatus());
}

}  // namespace fedrelay::relay
