// Which log entries concern which user, for the member channel (SPEC section
// 6): a per-user index in the store's kAux table, written beside the log by a
// background thread, so a poll is a seek in the user's own key range instead
// of a scan of the log.
//
// The index is derived, never authoritative: its watermark ("member/indexed",
// the last event id indexed) is written in the same batch as the records, so
// after a crash or restart the indexer continues from the watermark and reads
// the missing entries back from the log. OnDurable only raises the target
// (the last event id the federation core handed out, whose state is applied),
// so the indexer never judges an entry the federation state does not know.
//
// An entry concerns user U when it is (class, requires_ack):
//   dm_invite        a DMInvite whose target_user_id is U           (ack)
//   ban              a BanNotification of banned_user_pubkey U      (ack)
//   migration        U's UpdateHomeServer
//   profile_update   U's UpdateFederatedProfile
//   dm_invite_status a decision on an invite whose target is U
// (SPEC: dm_invite_status goes to the target's member channel, not the inviter's.)
//
// Keys (kAux), event ids as 20-digit zero-padded decimals so they sort:
//   member/idx/<user>/<event>      -> "<class>\t<guild_id>"
//   member/ackreq/<user>/<event>   -> ""          (events that need an ack)
//   member/ban/<user>/<guild>      -> "<event>"   (the user's bans)
//   member/indexed                 -> "<event>"   (watermark)
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_MEMBER_MEMBER_INDEX_H_
#define FEDRELAY_RELAY_MEMBER_MEMBER_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/federation.h"
#include "store/log_store.h"

namespace fedrelay::relay {

inline constexpr absl::string_view kClassDmInvite = "dm_invite";
inline constexpr absl::string_view kClassBan = "ban";
inline constexpr absl::string_view kClassMigration = "migration";
inline constexpr absl::string_view kClassProfileUpdate = "profile_update";
inline constexpr absl::string_view kClassDmInviteStatus = "dm_invite_status";

// One member-channel event of one user.
struct MemberEventRef {
  std::string user_id;
  std::string event_class;
  std::string guild_id;  // "" for events of no guild (migration, profile_update)
  bool requires_ack = false;
};

// The member-channel events an entry yields (at most one per user).
std::vector<MemberEventRef> MemberEventsOf(const v1::LogEntry& entry,
                                           const federation::Federation& federation);

// Key helpers shared by the channel.
std::string EventKeyPart(uint64_t event_id);  // 20-digit zero-padded
std::string MemberIndexPrefix(absl::string_view user_id);
std::string MemberAckRequiredPrefix(absl::string_view user_id);
std::string MemberBanPrefix(absl::string_view user_id);

struct IndexedEvent {
  uint64_t event_id = 0;
  std::string event_class;
  std::string guild_id;
};

class MemberIndex : public federation::EventSink {
 public:
  explicit MemberIndex(store::LogStore* store);
  ~MemberIndex() override;  // Stop()s

  // Reads the watermark and starts indexing up to the log's current size (the
  // federation state covers it once Federation::Open returned). `federation`
  // must outlive Stop().
  absl::Status Start(const federation::Federation* federation);
  void Stop();

  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override;

  // The last event id handed out by the federation core so far.
  uint64_t target() const;
  // Waits until everything up to `event_id` is indexed or `timeout` passes;
  // returns the indexed watermark.
  uint64_t WaitIndexed(uint64_t event_id, absl::Duration timeout) const;

  // Lookups (read the store).
  absl::StatusOr<std::optional<IndexedEvent>> Find(absl::string_view user_id,
                                                   uint64_t event_id) const;
  // The user's events with id > after, in order, at most `max`; those of
  // `guild_id` only when it is set.
  absl::StatusOr<std::vector<IndexedEvent>> After(absl::string_view user_id, uint64_t after,
                                                  size_t max,
                                                  const std::optional<std::string>& guild_id) const;
  // The user's requires_ack events with id <= up_to, in order.
  absl::StatusOr<std::vector<uint64_t>> AckRequired(absl::string_view user_id,
                                                    uint64_t up_to) const;
  // Guilds the user is banned from (by an indexed ban), sorted.
  absl::StatusOr<std::vector<std::string>> BannedGuilds(absl::string_view user_id) const;

 private:
  void Run();
  absl::Status IndexRange(uint64_t begin, uint64_t end);  // leaf indices [begin, end)

  store::LogStore* const store_;
  const federation::Federation* federation_ = nullptr;
  mutable absl::Mutex mu_;
  uint64_t target_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t indexed_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_MEMBER_MEMBER_INDEX_H_
