#include "relay/downstream/visibility.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "federation/kinds.h"

namespace fedrelay::relay {
namespace {

const google::protobuf::OneofDescriptor& EventOneof() {
  static const google::protobuf::OneofDescriptor* const oneof =
      v1::StreamResponse::descriptor()->FindOneofByName("event");
  return *oneof;
}

// The StreamResponse::EventCase of a kind name; 0 when it names no event.
int EventCaseOf(absl::string_view kind) {
  const google::protobuf::OneofDescriptor& oneof = EventOneof();
  for (int i = 0; i < oneof.field_count(); ++i) {
    if (oneof.field(i)->name() == kind) return oneof.field(i)->number();
  }
  return 0;
}

}  // namespace

absl::string_view EventKind(const v1::StreamResponse& event) {
  if (event.event_case() == v1::StreamResponse::EVENT_NOT_SET) return "";
  const google::protobuf::FieldDescriptor* field =
      v1::StreamResponse::descriptor()->FindFieldByNumber(event.event_case());
  return field == nullptr ? absl::string_view() : absl::string_view(field->name());
}

bool IsEventKind(absl::string_view kind) { return EventCaseOf(kind) != 0; }

std::string HomeserverHost(absl::string_view homeserver) {
  absl::string_view rest = homeserver;
  if (const size_t scheme = rest.find("://"); scheme != absl::string_view::npos) {
    rest.remove_prefix(scheme + 3);
  }
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) rest.remove_prefix(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    // An IPv6 literal keeps its brackets; only a port after them goes.
    rest = rest.substr(0, rest.find(']') == absl::string_view::npos ? rest.size() : rest.find(']') + 1);
  } else if (const size_t colon = rest.find(':'); colon != absl::string_view::npos) {
    rest = rest.substr(0, colon);
  }
  while (!rest.empty() && rest.back() == '.') rest.remove_suffix(1);
  return absl::AsciiStrToLower(rest);
}

absl::StatusOr<EventFilter> EventFilter::Make(const std::vector<std::string>& guild_ids,
                                              const std::vector<std::string>& kinds) {
  EventFilter filter;
  for (const std::string& guild : guild_ids) {
    if (guild.empty()) return MakeError(ErrorCode::kMalformed, "guild_ids contains an empty id");
    filter.guild_ids_.insert(guild);
  }
  for (const std::string& kind : kinds) {
    const int event_case = EventCaseOf(kind);
    if (event_case == 0) {
      return MakeError(ErrorCode::kMalformed,
                       absl::StrCat("unknown kind '", kind,
                                    "' (kinds are StreamResponse event field names, e.g. "
                                    "member_joined, ban, dm_invite)"));
    }
    filter.kind_cases_.insert(event_case);
  }
  return filter;
}

absl::StatusOr<EventFilter> EventFilter::FromRequest(const v1::SubscribeRequest& request) {
  return Make({request.guild_ids().begin(), request.guild_ids().end()},
              {request.kinds().begin(), request.kinds().end()});
}

namespace {

// The guild an event names itself; nullopt for an event of no guild and for
// dm_invite_status, whose guild only its invite in the state knows.
std::optional<absl::string_view> GuildNamedBy(const v1::StreamResponse& event) {
  switch (event.event_case()) {
    case v1::StreamResponse::kMemberJoined:
      return event.member_joined().guild_id();
    case v1::StreamResponse::kMemberRemoved:
      return event.member_removed().guild_id();
    case v1::StreamResponse::kBan:
      return event.ban().guild_id();
    case v1::StreamResponse::kDmInvite:
      return event.dm_invite().guild_id();
    default:
      return std::nullopt;
  }
}

}  // namespace

bool EventFilter::Matches(absl::string_view kind, std::optional<absl::string_view> guild) const {
  return MatchesCase(EventCaseOf(kind), guild);
}

bool EventFilter::Matches(const v1::StreamResponse& event,
                          std::optional<absl::string_view> guild) const {
  return MatchesCase(event.event_case(), guild);
}

bool EventFilter::MatchesCase(int event_case, std::optional<absl::string_view> guild) const {
  if (!kind_cases_.empty() && !kind_cases_.contains(event_case)) return false;
  if (!guild_ids_.empty() && guild.has_value() && !guild_ids_.contains(*guild)) return false;
  return true;
}

bool EventFilter::MayMatch(const v1::LogEntry& entry) const {
  if (kind_cases_.empty() && guild_ids_.empty()) return true;
  for (const v1::StreamResponse& event : entry.events()) {
    // Without the state, a dm_invite_status may belong to any guild.
    if (Matches(event, GuildNamedBy(event))) return true;
  }
  return false;
}

std::vector<EntryFacts::PartyHosts> EntryFacts::HostsAsOf(
    uint64_t state_as_of, const federation::Federation& federation) const {
  absl::MutexLock lock(&mu_);
  if (hosts_as_of_ != state_as_of) {
    auto host_of = [&](const std::string& user_id) -> std::string {
      if (user_id.empty()) return "";
      const std::optional<std::string> homeserver = federation.HomeserverOf(user_id);
      return homeserver.has_value() ? HomeserverHost(*homeserver) : "";
    };
    hosts_.assign(events.size(), PartyHosts{});
    for (size_t i = 0; i < events.size(); ++i) {
      if (!events[i].invite_parties_only) continue;
      hosts_[i] = PartyHosts{host_of(events[i].target), host_of(events[i].inviter)};
    }
    hosts_as_of_ = state_as_of;
  }
  return hosts_;
}

std::shared_ptr<const EntryFacts> Visibility::Resolve(const v1::LogEntry& entry) const {
  auto facts = std::make_shared<EntryFacts>();
  facts->events.reserve(static_cast<size_t>(entry.events_size()));
  // Who may see them is the kind's (the per-kind table); below, each event
  // only contributes what that check needs: its guild and its invite's parties.
  const bool invite_parties_only =
      federation::AudienceOf(entry.request_case()) == federation::Audience::kInviteParties;
  facts->has_invite_parties_only = invite_parties_only && entry.events_size() > 0;
  for (const v1::StreamResponse& event : entry.events()) {
    EventFacts& fact = facts->events.emplace_back();
    fact.invite_parties_only = invite_parties_only;
    if (std::optional<absl::string_view> guild = GuildNamedBy(event)) fact.guild = std::string(*guild);
    if (event.has_dm_invite()) {
      fact.target = event.dm_invite().target_user_id();
      fact.inviter = event.dm_invite().inviter_id();
      // Its recipients get the token back (the log holds the invite without it).
      const std::optional<federation::InviteInfo> invite =
          federation_->Invite(event.dm_invite().invite_id());
      auto with_token = std::make_shared<v1::StreamResponse>(event);
      if (invite.has_value() && !invite->token.empty()) {
        with_token->mutable_dm_invite()->set_token(invite->token);
      }
      fact.with_token = std::move(with_token);
    } else if (event.has_dm_invite_status()) {
      const std::optional<federation::InviteInfo> invite =
          federation_->Invite(event.dm_invite_status().invite_id());
      if (invite.has_value()) {
        fact.guild = invite->guild_id;
        fact.target = invite->target_user_id;
        fact.inviter = invite->inviter_id;
      }
    }
  }
  return facts;
}

void Visibility::Select(const Principal& principal, const EventFilter& filter,
                        const std::shared_ptr<const v1::LogEntry>& entry, const EntryFacts& facts,
                        uint64_t state_as_of, std::vector<OutgoingEvent>* out) const {
  // Only a peer without full access needs the homeservers.
  std::vector<EntryFacts::PartyHosts> hosts;
  std::string peer_host;
  if (facts.has_invite_parties_only && !principal.full_access && principal.is_peer()) {
    hosts = facts.HostsAsOf(state_as_of, *federation_);
    peer_host = HomeserverHost(principal.peer_server_id);
  }
  for (int index = 0; index < entry->events_size(); ++index) {
    const v1::StreamResponse& event = entry->events(index);
    const EventFacts& fact = facts.events[static_cast<size_t>(index)];
    if (!filter.Matches(event, fact.guild)) continue;
    if (fact.invite_parties_only && !principal.full_access) {
      if (!principal.is_peer()) continue;
      const EntryFacts::PartyHosts& party = hosts[static_cast<size_t>(index)];
      const bool recipient = (!party.target.empty() && party.target == peer_host) ||
                             (!party.inviter.empty() && party.inviter == peer_host);
      if (!recipient) continue;
    }
    OutgoingEvent outgoing;
    outgoing.entry = entry;
    outgoing.shared = &event;
    outgoing.index = index;
    outgoing.own = fact.with_token;
    out->push_back(std::move(outgoing));
  }
}

}  // namespace fedrelay::relay
