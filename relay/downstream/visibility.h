// Which downstream events a subscriber receives (SPEC section 4 "Visibility",
// plus the SubscribeRequest filters), shared by every downstream transport.
//
// * Who may see an event is its entry kind's audience in the per-kind table
//   (federation/kinds.h, AudienceOf): member_joined, member_removed,
//   user_updated and ban go to every authenticated subscriber.
// * dm_invite and dm_invite_status (audience kInviteParties) go only to
//   full-access API keys (rest.full) and to the peers that are the current
//   homeserver of the invite's target or of its inviter; when the parties are
//   unknown, only to full-access keys. "Current" is evaluated when the event is delivered, against
//   the federation core's durable state. Homeservers and peer ids are compared
//   by host (HomeserverHost), because a migration names its target as a URL.
// * The dm_invite those recipients get carries the invite's token again (the
//   log holds the invite with the token cleared).
// * Filters: an empty list selects everything; a guild filter lets through
//   events that belong to no guild (user_updated), because the relay cannot
//   tell which guilds a profile change concerns and a gap would be worse than
//   an extra event. dm_invite_status belongs to its invite's guild.
//
// The federation state visibility consults is looked up once per entry, not
// per subscriber: Resolve gathers an entry's facts (an invite event's guild
// and parties, a dm_invite's token) before the fan-out, and the parties'
// current homeservers are looked up at most once per `state_as_of` and shared
// by every subscriber (EntryFacts::HostsAsOf).
//
// Thread-safety: EventFilter is immutable; Visibility and EntryFacts are thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_VISIBILITY_H_
#define FEDRELAY_RELAY_DOWNSTREAM_VISIBILITY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "relay/auth/downstream_auth.h"

namespace fedrelay::relay {

// The StreamResponse oneof field name of an event ("member_joined", ...); ""
// when no event is set.
absl::string_view EventKind(const v1::StreamResponse& event);
// Whether `kind` names a field of the StreamResponse `event` oneof.
bool IsEventKind(absl::string_view kind);

// The host a homeserver or server id names: lower-cased, without scheme,
// user info, port, path, query or a trailing dot. "https://Beta.example:8443/x"
// and "beta.example" both give "beta.example".
std::string HomeserverHost(absl::string_view homeserver);

class EventFilter {
 public:
  // kMalformed for an unknown kind or an empty guild id.
  static absl::StatusOr<EventFilter> Make(const std::vector<std::string>& guild_ids,
                                          const std::vector<std::string>& kinds);
  static absl::StatusOr<EventFilter> FromRequest(const v1::SubscribeRequest& request);

  // `guild` is the guild the event belongs to, nullopt when none.
  bool Matches(absl::string_view kind, std::optional<absl::string_view> guild) const;
  // The same for `event` (its kind by oneof case: no name lookup per event).
  bool Matches(const v1::StreamResponse& event, std::optional<absl::string_view> guild) const;
  // Cheap, conservative pre-check run by the fan-out for every subscriber:
  // false only when no event of `entry` can pass this filter. Needs no state
  // lookup (an event whose guild needs one, dm_invite_status, may match).
  bool MayMatch(const v1::LogEntry& entry) const;

 private:
  bool MatchesCase(int event_case, std::optional<absl::string_view> guild) const;

  absl::flat_hash_set<std::string> guild_ids_;
  absl::flat_hash_set<int> kind_cases_;  // StreamResponse::EventCase values
};

// One event on its way to one subscriber: the entry's event itself (pointing
// into the entry, which it keeps alive) or the copy only its recipients get
// (a dm_invite with its token), shared by all of them.
struct OutgoingEvent {
  std::shared_ptr<const v1::LogEntry> entry;
  const v1::StreamResponse* shared = nullptr;
  int index = -1;  // in entry->events(), so a transport can reuse its encoding
  std::shared_ptr<const v1::StreamResponse> own;  // set: send this instead of `shared`

  const v1::StreamResponse& event() const { return own != nullptr ? *own : *shared; }
};

// What visibility needs of one entry's events beyond the events themselves,
// from the federation state (Visibility::Resolve).
struct EventFacts {
  std::optional<std::string> guild;  // the guild it belongs to; nullopt: none (or unknown)
  bool invite_parties_only = false;  // its kind's audience is kInviteParties
  std::string target, inviter;       // the invite's parties (empty when unknown)
  std::shared_ptr<const v1::StreamResponse> with_token;  // a dm_invite as its recipients get it
};

class EntryFacts {
 public:
  std::vector<EventFacts> events;  // by index in the entry's events
  bool has_invite_parties_only = false;  // any event's invite_parties_only

  // The hosts (HomeserverHost) of each invite event's parties' current
  // homeservers; "" when unknown. Looked up when `state_as_of` differs from
  // the last lookup's, so subscribers of one state share one lookup.
  struct PartyHosts {
    std::string target, inviter;
  };
  std::vector<PartyHosts> HostsAsOf(uint64_t state_as_of,
                                    const federation::Federation& federation) const;

 private:
  mutable absl::Mutex mu_;
  mutable std::optional<uint64_t> hosts_as_of_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<PartyHosts> hosts_ ABSL_GUARDED_BY(mu_);
};

class Visibility {
 public:
  // `federation` must outlive this.
  explicit Visibility(const federation::Federation* federation) : federation_(federation) {}

  // Looks up what Select needs of `entry` (one store read for a dm_invite's
  // token); once per entry, shared by every subscriber.
  std::shared_ptr<const EntryFacts> Resolve(const v1::LogEntry& entry) const;

  // Appends to `out`, in order, the events of `entry` that `principal` may see
  // and `filter` selects. `facts` is Resolve(*entry); `state_as_of` names the
  // federation state the homeservers are taken from (the delivery passes the
  // last entry id it made ready: the state knows at least that much).
  void Select(const Principal& principal, const EventFilter& filter,
              const std::shared_ptr<const v1::LogEntry>& entry, const EntryFacts& facts,
              uint64_t state_as_of, std::vector<OutgoingEvent>* out) const;

 private:
  const federation::Federation* const federation_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_VISIBILITY_H_
