// The federation core: verifies every signed message kind (SPEC section 3),
// decides it against the derived state, appends what it accepts to the log
// through the single batched writer, and reports each accepted entry to the
// downstream sink once it is durable.
//
// Flow per submission (STYLE 6: validate -> load -> act -> record metrics):
//   1. Validate, on the caller's thread: shape, encodings, freshness, device
//      certs, signatures; everything that needs no state but the peer table.
//   2. Decide, on the writer thread in log order: seen-request memory, peers and
//      may_ban, bans, migration order/equivocation, profile order, invite
//      status; against the durable state plus the batch's own earlier items.
//   3. Act: build the LogEntry (request as verified, derived downstream events),
//      side writes for the state tables, appended in one synced batch.
//   4. After the batch is durable: apply the state delta, sign the receipt,
//      hand the entry to the EventSink, answer the caller.
// The acceptance rule of each message kind lives in one file: federation/rules/<kind>.cc.
//
// Thread-safety: all public methods are thread-safe.
#ifndef FEDRELAY_FEDERATION_FEDERATION_H_
#define FEDRELAY_FEDERATION_FEDERATION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "store/log_store.h"

namespace fedrelay::federation {

class DerivedState;  // federation/state.h

// One accepted-or-rejected unit of work, as received.
using Submission =
    std::variant<v1::FederationRequest, v1::BanNotification, v1::DMInvite, v1::AcceptDMInviteRequest,
                 v1::RejectDMInviteRequest, v1::UpdateHomeServerRequest,
                 v1::UpdateFederatedProfileRequest>;

struct Accepted {
  v1::RelayReceipt receipt;
  std::shared_ptr<const v1::LogEntry> entry;  // as logged (DM invite token cleared)
  // For AcceptDMInvite's response: the invite as received (token included).
  std::optional<v1::DMInvite> invite;
};
using DoneFn = std::function<void(absl::StatusOr<Accepted>)>;

// A submission that passed Federation::CheckSubmission, waiting for SubmitChecked.
class CheckedSubmission {
 public:
  virtual ~CheckedSubmission() = default;
};

struct PeerInfo {
  std::string server_id;
  std::string pubkey_hex;
  std::vector<std::string> may_ban;  // "*" or guild ids
};

// Where a DM invite stands: pending until its target decides, once.
enum class InviteStatus : uint8_t { kPending, kAccepted, kRejected };
// "pending", "accepted", "rejected": the spelling on the wire and on disk.
absl::string_view InviteStatusName(InviteStatus status);
std::optional<InviteStatus> ParseInviteStatus(absl::string_view name);

// A DM invite as the durable state knows it (visibility, delivery).
struct InviteInfo {
  std::string invite_id;
  InviteStatus status = InviteStatus::kPending;
  std::string target_user_id;
  std::string inviter_id;
  std::string guild_id;
  std::string host_server_url;
  std::string token;      // secret: for the invite's recipients only, never for logs
  uint64_t event_id = 0;  // the entry that logged the invite
};

// An equivocation the relay saw: two migration targets for one user at one timestamp.
struct Equivocation {
  std::string user_id;
  uint64_t timestamp = 0;
  std::string logged_target;    // the target accepted first (in the log)
  std::string rejected_target;  // the conflicting target that was refused
  uint64_t seen_at_ms = 0;
};

// Counts a refused request in fedrelay_rejections_total{code="<machine code>"}:
// the one definition of that metric, for the core's rules and for the checks
// transports make at their edge (rate limits, lengths, malformed input).
void CountRejection(const absl::Status& status);

// Receives every durable entry, in log order, on the writer thread. Must not block.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) = 0;
};

struct FederationOptions {
  std::string server_id;  // this relay's id
  uint64_t max_clock_skew_ms = 300000;
  std::vector<PeerInfo> config_peers;  // reconciled into the log at Open (see Open)
  const Clock* clock = &SystemClock();
  bool sync = true;  // passed through to nothing; the store decides durability
};

class Federation {
 public:
  // Loads the derived state from the store's state table (O(state), never a log
  // replay), starts the writer, and reconciles config peers: every difference
  // between `config_peers` and the logged peer table becomes a relay-signed
  // OperatorAction entry (peer_add / peer_rotate / peer_may_ban / peer_remove
  // for config-sourced peers no longer configured).
  static absl::StatusOr<std::unique_ptr<Federation>> Open(store::LogStore* store,
                                                          const Ed25519PrivateKey* relay_key,
                                                          FederationOptions options, EventSink* sink);
  virtual ~Federation() = default;

  // Validates, decides, logs; `done` runs exactly once, after the entry is
  // durable or with the typed error (base/errors.h), on the caller's thread
  // (refused before queueing) or on the core's completer thread; it must not
  // block for long. Never blocks on I/O.
  // An identical resubmission of an accepted request (same signature, same
  // request as logged) within its freshness window gets the original Accepted
  // back (same receipt and entry) and logs nothing; the same signature with
  // other bytes is `replayed`. docs/protocol-notes.md lists every such choice.
  virtual void Submit(Submission submission, DoneFn done) = 0;
  // Submit in two halves, for a transport that checks submissions on several
  // threads but hands them to the writer in the order it received them
  // (relay/grpc/verify_pool.h). CheckSubmission is Submit's first step (shape,
  // encodings, freshness, device certs, signatures), on any thread, counting
  // what it refuses; SubmitChecked is the rest and never blocks: `done` as for
  // Submit. Submit(s, done) is exactly CheckSubmission then SubmitChecked.
  // The defaults (a core that takes no writes) defer everything to Submit.
  virtual absl::StatusOr<std::unique_ptr<CheckedSubmission>> CheckSubmission(Submission submission);
  virtual void SubmitChecked(std::unique_ptr<CheckedSubmission> checked, DoneFn done);
  // Blocking convenience for tools and tests.
  absl::StatusOr<Accepted> SubmitAndWait(Submission submission);

  // Operator actions (fedrelay-ctl), each a relay-signed log entry. `done`
  // runs exactly once, as for Submit: on the caller's thread when refused
  // before queueing, else on the core's completer thread once the entry is
  // durable. Never blocks on I/O, so a gRPC callback thread may call them.
  virtual void AddPeer(const PeerInfo& peer, DoneFn done) = 0;
  virtual void RemovePeer(const std::string& server_id, DoneFn done) = 0;
  virtual void RotatePeerKey(const std::string& server_id, const std::string& new_pubkey_hex,
                             DoneFn done) = 0;
  virtual void SetPeerMayBan(const std::string& server_id, const std::vector<std::string>& may_ban,
                             DoneFn done) = 0;
  // Blocking conveniences for tools and tests.
  absl::StatusOr<Accepted> AddPeer(const PeerInfo& peer);
  absl::StatusOr<Accepted> RemovePeer(const std::string& server_id);
  absl::StatusOr<Accepted> RotatePeerKey(const std::string& server_id,
                                         const std::string& new_pubkey_hex);
  absl::StatusOr<Accepted> SetPeerMayBan(const std::string& server_id,
                                         const std::vector<std::string>& may_ban);

  // Durable-state queries (what is in the log so far).
  virtual std::vector<PeerInfo> Peers() const = 0;
  virtual std::optional<PeerInfo> Peer(const std::string& server_id) const = 0;
  virtual std::optional<std::string> HomeserverOf(const std::string& user_id) const = 0;
  // True also when the ban cannot be read from the store (fails closed).
  virtual bool IsBanned(const std::string& guild_id, const std::string& user_id) const = 0;
  // Reads the token from the store (one point read).
  virtual std::optional<InviteInfo> Invite(const std::string& invite_id) const = 0;
  virtual std::vector<Equivocation> Equivocations() const = 0;
  // The relay's own log entry kinds and counters for metrics are in base/metrics.

  // Finishes in-flight work and stops the writer. Later Submits get UNAVAILABLE.
  virtual void Stop() = 0;
};

// Replays a whole log from scratch (auditors, tests): re-verifies every
// signature under the rules as they stood at each entry, recomputes the derived
// state, and compares each entry's derived events. Returns the first
// divergence as DATA_LOSS naming the event id.
struct RederiveReport {
  uint64_t entries = 0;
  uint64_t bans = 0;
  uint64_t users_with_homeserver = 0;
  uint64_t profiles = 0;
  uint64_t invites = 0;
  uint64_t peers = 0;
};
absl::StatusOr<RederiveReport> RederiveLog(
    const store::LogReader& log, const std::string& relay_pubkey_hex, const std::string& server_id,
    uint64_t max_clock_skew_ms,
    const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr,
    DerivedState* derived = nullptr);  // if set, receives the re-derived state

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_FEDERATION_H_
