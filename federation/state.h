// The derived federation state: what the accepted log implies for the rules
// (peers, bans, homeservers, profile and migration order, DM invites) plus the
// seen-request memory. It is persisted in the store's kState / kSeenRequests tables by side
// writes in the same batch as the leaf that caused it, so the persisted state
// is always exactly the durable log's. The relay reads it from those tables
// on demand (federation/stored_state.h: point reads and a bounded cache), so
// start-up and memory do not grow with it; DerivedState holds it all in
// memory, for the auditor's re-derivation and for tests.
//
// Every change is a StateOp. One op is applied in four places with the same
// meaning: to a DerivedState (memory), to a StoredState (after AddWrites made
// it durable), to a StateOverlay (a batch's pending changes) and, through
// AddWrites, to the store.
//
// Thread-safety: none; DerivedState and StateOverlay are plain values. The
// Federation guards its durable instance with a mutex.
#ifndef FEDRELAY_FEDERATION_STATE_H_
#define FEDRELAY_FEDERATION_STATE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "store/key_value_store.h"

namespace fedrelay::federation {

// Where a peer entry came from. Reconciliation at start-up removes config
// peers that are no longer configured and leaves ctl peers alone. The log does
// not record the source, so a state re-derived from the log has kUnknown.
enum class PeerSource : uint8_t { kUnknown = 0, kConfig = 1, kCtl = 2 };
absl::string_view PeerSourceName(PeerSource source);

struct PeerRecord {
  std::string pubkey_hex;
  std::vector<std::string> may_ban;  // "*" or guild ids
  PeerSource source = PeerSource::kUnknown;
  bool operator==(const PeerRecord&) const = default;
};

struct MigrationRecord {
  uint64_t timestamp = 0;
  std::string target;
  bool operator==(const MigrationRecord&) const = default;
};

inline constexpr absl::string_view kInvitePending = "pending";

struct InviteRecord {
  InviteStatus status = InviteStatus::kPending;
  std::string target_user_id;
  std::string inviter_id;
  std::string guild_id;
  std::string host_server_url;
  std::string body_hash;  // SHA-256 of the invite's signing bytes (what its signature covers)
  uint64_t event_id = 0;  // the entry that logged the invite
  bool operator==(const InviteRecord&) const = default;
};

// The seen-request memory's record of one accepted signature. A DerivedState keeps
// only the expiry per signature hash, a StoredState nothing; the whole record is
// read from the store on a hit.
// Everything in it follows from the log entry, so re-deriving the log
// rebuilds the same records (a duplicate's receipt is re-signed from the
// leaf: Ed25519 signatures are deterministic).
struct SeenRequest {
  uint64_t expiry_ms = 0;  // the signed timestamp + max clock skew: later, freshness rejects it
  uint64_t event_id = 0;
  std::string body_hash;   // SHA-256 of the request as received
};

// ---------------------------------------------------------------------------
// Changes.

namespace op {
struct PutPeer {
  std::string server_id;
  PeerRecord record;
};
struct RemovePeer {
  std::string server_id;
};
struct AddBan {
  std::string guild_id;
  std::string user_id;
};
struct SetHomeserver {
  std::string user_id;
  std::string homeserver;
};
struct SetProfileTimestamp {
  std::string user_id;
  uint64_t timestamp = 0;
};
struct SetMigration {
  std::string user_id;
  MigrationRecord record;
};
struct PutInvite {  // a new invite or its status change
  std::string invite_id;
  InviteRecord record;
};
// The invite's secret token: written to kAux only, never held in memory.
struct PutInviteToken {
  std::string invite_id;
  std::string token;
};
struct RememberRequest {
  std::string signature_hash;  // SHA-256 of the raw signature
  SeenRequest record;
  // The expiry of the expired, not yet purged record this one replaces, if
  // any: its entry in the store's expiry index goes with it.
  std::optional<uint64_t> replaces_expiry_ms;
};
struct ForgetRequest {  // purge of an expired record
  std::string signature_hash;
  uint64_t expiry_ms = 0;  // the record's expiry (its place in the expiry index)
};
struct SetLogSize {  // number of leaves the state covers
  uint64_t size = 0;
};
// The seen-request memory's horizon (federation/accept.h): signatures that expire
// before it are forgotten, and a request that old is refused as stale.
struct SetForgetHorizon {
  uint64_t horizon_ms = 0;
};
}  // namespace op

using StateOp =
    std::variant<op::PutPeer, op::RemovePeer, op::AddBan, op::SetHomeserver,
                 op::SetProfileTimestamp, op::SetMigration, op::PutInvite, op::PutInviteToken,
                 op::RememberRequest, op::ForgetRequest, op::SetLogSize, op::SetForgetHorizon>;

// Adds the store writes that persist `op` to `writes`.
void AddWrites(const StateOp& op, store::WriteSet& writes);

// The kAux key of an invite's token.
std::string InviteTokenKey(absl::string_view invite_id);
// The invite as Federation::Invite answers it: `record` plus the token read
// from `store` (empty when there is none, or when the read fails: then
// `*token_read` says why).
InviteInfo ToInviteInfo(const std::string& invite_id, InviteRecord record,
                        const store::KeyValueStore& store, absl::Status* token_read);
// The kSeenRequests key of a seen-request record, and the record's (de)serialization.
// Beside each record the table holds an expiry index entry, "exp/<u64be
// expiry><signature hash>", so the purge reads expired records in order from
// the store instead of keeping an ordered copy in memory.
std::string SeenRequestKey(absl::string_view signature_hash);
std::string SeenExpiryIndexKey(uint64_t expiry_ms, absl::string_view signature_hash);
absl::StatusOr<SeenRequest> ParseSeenRequest(absl::string_view bytes);

// Equivocations flagged to operators: not log entries (they were refused),
// kept in kAux under a sequence number.
void AddEquivocationWrite(uint64_t sequence, const Equivocation& equivocation,
                          store::WriteSet& writes);
absl::StatusOr<std::vector<Equivocation>> LoadEquivocations(const store::KeyValueStore& store);

// ---------------------------------------------------------------------------
// Reading.

// An expired seen-request record the purge may forget.
struct ForgettableRequest {
  uint64_t expiry_ms = 0;
  std::string signature_hash;
  auto operator<=>(const ForgettableRequest&) const = default;
};

// The lookups the acceptance rules decide against.
class StateView {
 public:
  virtual ~StateView() = default;
  virtual std::optional<PeerRecord> FindPeer(absl::string_view server_id) const = 0;
  virtual bool IsBanned(absl::string_view guild_id, absl::string_view user_id) const = 0;
  virtual std::optional<std::string> FindHomeserver(absl::string_view user_id) const = 0;
  virtual std::optional<uint64_t> LastProfileTimestamp(absl::string_view user_id) const = 0;
  virtual std::optional<MigrationRecord> LastMigration(absl::string_view user_id) const = 0;
  virtual std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const = 0;
  // The expiry of the seen-request record for `signature_hash`, if there is one
  // (live or not yet purged).
  virtual std::optional<uint64_t> SeenRequestExpiry(absl::string_view signature_hash) const = 0;
  // The seen-request memory's horizon (0 until the first signed entry).
  virtual uint64_t ForgetHorizon() const = 0;
  // Records that expire before `before_ms`, oldest first (by expiry, then
  // hash: the same order wherever the state was built), at most `max`; only
  // those after `after` (in that order) when it is set. The purge forgets
  // records in this order, so a batch that forgot up to `after` asks its base
  // for what follows instead of stepping over what it forgot.
  virtual std::vector<ForgettableRequest> ForgettableRequests(
      uint64_t before_ms, size_t max, const ForgettableRequest* after = nullptr) const = 0;
};

class DerivedState : public StateView {
 public:
  DerivedState() = default;

  // Reads the whole kState and kSeenRequests tables (O(state): for tools and
  // tests; the relay reads the state on demand through StoredState).
  static absl::StatusOr<DerivedState> Load(const store::KeyValueStore& store);

  void Apply(const StateOp& op);

  std::optional<PeerRecord> FindPeer(absl::string_view server_id) const override;
  bool IsBanned(absl::string_view guild_id, absl::string_view user_id) const override;
  std::optional<std::string> FindHomeserver(absl::string_view user_id) const override;
  std::optional<uint64_t> LastProfileTimestamp(absl::string_view user_id) const override;
  std::optional<MigrationRecord> LastMigration(absl::string_view user_id) const override;
  std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const override;
  std::optional<uint64_t> SeenRequestExpiry(absl::string_view signature_hash) const override;
  uint64_t ForgetHorizon() const override { return forget_horizon_ms_; }
  std::vector<ForgettableRequest> ForgettableRequests(
      uint64_t before_ms, size_t max, const ForgettableRequest* after = nullptr) const override;

  const std::map<std::string, PeerRecord>& peers() const { return peers_; }
  uint64_t log_size() const { return log_size_; }
  size_t ban_count() const { return bans_.size(); }
  size_t homeserver_count() const { return homeservers_.size(); }
  size_t profile_count() const { return profile_timestamps_.size(); }
  size_t invite_count() const { return invites_.size(); }
  size_t seen_request_count() const { return seen_expiry_.size(); }

  // A canonical text of the whole state, one sorted line per fact, so two
  // derivations compare with ==. Replay records count only if still live at
  // `seen_live_at_ms`; peer sources only if `with_peer_source`.
  std::string Describe(uint64_t seen_live_at_ms, bool with_peer_source) const;

 private:
  // Unsigned bytes: ordered like std::string, so every view purges in one order.
  using SignatureHash = std::array<uint8_t, 32>;

  std::map<std::string, PeerRecord> peers_;
  absl::flat_hash_set<std::string> bans_;  // BanKey(guild, user)
  absl::flat_hash_map<std::string, std::string> homeservers_;
  absl::flat_hash_map<std::string, uint64_t> profile_timestamps_;
  absl::flat_hash_map<std::string, MigrationRecord> migrations_;
  absl::flat_hash_map<std::string, InviteRecord> invites_;
  absl::flat_hash_map<SignatureHash, uint64_t> seen_expiry_;
  // Purge order: (expiry, signature hash), smallest first.
  std::set<std::pair<uint64_t, SignatureHash>> seen_order_;
  uint64_t forget_horizon_ms_ = 0;
  uint64_t log_size_ = 0;
};

// A batch's pending changes on top of the durable state: lookups see the
// batch's own earlier items first. Dropped when the batch fails.
class StateOverlay : public StateView {
 public:
  explicit StateOverlay(const StateView* base) : base_(base) {}
  // Reads `base` from now on; it must show what the old base showed (the
  // writer rebases a batch once the batch under it is durable).
  void Rebase(const StateView* base) { base_ = base; }

  void Apply(const StateOp& op);
  const std::vector<StateOp>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  void Clear();

  std::optional<PeerRecord> FindPeer(absl::string_view server_id) const override;
  bool IsBanned(absl::string_view guild_id, absl::string_view user_id) const override;
  std::optional<std::string> FindHomeserver(absl::string_view user_id) const override;
  std::optional<uint64_t> LastProfileTimestamp(absl::string_view user_id) const override;
  std::optional<MigrationRecord> LastMigration(absl::string_view user_id) const override;
  std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const override;
  std::optional<uint64_t> SeenRequestExpiry(absl::string_view signature_hash) const override;
  uint64_t ForgetHorizon() const override;
  std::vector<ForgettableRequest> ForgettableRequests(
      uint64_t before_ms, size_t max, const ForgettableRequest* after = nullptr) const override;

 private:
  const StateView* base_;
  DerivedState changes_;
  absl::flat_hash_set<std::string> removed_peers_;
  absl::flat_hash_set<std::string> forgotten_requests_;  // records purged by the batch
  // The last record the batch purged: every record before it (in purge
  // order) is purged or re-recorded (the purge takes the oldest first).
  std::optional<ForgettableRequest> last_forgotten_;
  // Records the batch re-recorded over an expired one, which may still sit in
  // the base's list under their old expiry.
  size_t rerecorded_ = 0;
  bool horizon_set_ = false;
  std::vector<StateOp> ops_;
};

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_STATE_H_
