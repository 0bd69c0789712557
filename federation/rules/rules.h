// The acceptance rules of SPEC section 3, one file per message kind.
//
// Each kind has two halves:
//  * Validate<Kind>: stateless, on the caller's thread. Shape and encodings
//    (kMalformed), freshness (kStaleTimestamp), device certs
//    (kInvalidDeviceCert) and signatures (kBadSignature). Checks that need a
//    state lookup (the pinned peer key, an invite's target) are done here
//    against the durable state when Context::hints is set, so the costly
//    verification stays off the writer thread; Decide confirms them.
//  * Decide<Kind>: on the writer thread, in log order, against the durable
//    state plus the batch's earlier items. Peers and keys, may_ban, bans,
//    migration and profile order, invite status. It never writes: it returns
//    the derived events and the state changes.
// The seen-request memory is checked before Decide, the same way for every kind, by
// the one accept step the relay and the audit share (federation/accept.h).
//
// Thread-safety: all functions are thread-safe; they touch only their arguments.
#ifndef FEDRELAY_FEDERATION_RULES_RULES_H_
#define FEDRELAY_FEDERATION_RULES_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federation/federation.h"
#include "federation/state.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::federation::rules {

struct Context {
  uint64_t now_ms = 0;
  uint64_t max_clock_skew_ms = 0;
  // The durable state, for checks that Validate can do ahead of Decide. Null:
  // leave them all to Decide.
  const StateView* hints = nullptr;
  // The request is read back from the log (RederiveLog): a DM invite carries
  // token_sha256 instead of its token.
  bool from_log = false;
};

// A request that passed its stateless checks.
struct Verified {
  v1::LogEntry entry;      // kind and request exactly as they will be logged; no events yet
  std::string signature;   // raw signature identifying the message in the seen-request memory;
                           // empty for operator actions (the relay's own)
  uint64_t timestamp = 0;  // the signed timestamp
  std::string body_hash;   // SHA-256 of the kind and the request as it will be logged
  // The bytes the signature covers, built once by Validate; Decide reuses them
  // when it has to verify against the state itself. Empty where Decide never
  // needs them.
  std::string signing_bytes;
  // The state-dependent signer Validate already verified against: the pinned
  // peer key (hex) for server-signed messages, the invite target's K_id (hex)
  // for DM decisions. Empty: Decide verifies against the state itself.
  std::string verified_signer_hex;
  std::string token;  // DM invite: the secret token, kept out of the entry
  // Operator actions: who made the change (peer_add records it; the others keep
  // the peer's source unless this says kConfig).
  PeerSource peer_source = PeerSource::kUnknown;
};

// What Decide adds to a Verified request.
struct Decision {
  // Derived downstream events; the caller stamps event_id and timestamp.
  std::vector<v1::StreamResponse> events;
  std::vector<StateOp> ops;
  // Set with a kEquivocation error: what to flag to operators (seen_at_ms unset).
  std::optional<Equivocation> equivocation;
  // DM accept: the entry that logged the invite.
  uint64_t invite_event_id = 0;
};

// Dispatch over the kinds. `relay_public_key` (raw) verifies operator actions.
absl::StatusOr<Verified> Validate(const Submission& submission, const Context& ctx);
absl::StatusOr<Verified> ValidateLogged(const v1::LogEntry& entry, absl::string_view relay_public_key,
                                        const Context& ctx);
// `event_id` is the id the entry gets if it is accepted.
absl::Status Decide(const StateView& state, const Verified& verified, uint64_t event_id,
                    Decision* decision);

// Per kind.
absl::StatusOr<Verified> ValidateFederationRequest(const v1::FederationRequest& request,
                                                   const Context& ctx);
absl::Status DecideFederationRequest(const StateView& state, const Verified& verified,
                                     Decision* decision);

absl::StatusOr<Verified> ValidateBan(const v1::BanNotification& ban, const Context& ctx);
absl::Status DecideBan(const StateView& state, const Verified& verified, Decision* decision);

absl::StatusOr<Verified> ValidateDMInvite(const v1::DMInvite& invite, const Context& ctx);
absl::Status DecideDMInvite(const StateView& state, const Verified& verified, uint64_t event_id,
                            Decision* decision);

absl::StatusOr<Verified> ValidateDMAccept(const v1::AcceptDMInviteRequest& request,
                                          const Context& ctx);
absl::StatusOr<Verified> ValidateDMReject(const v1::RejectDMInviteRequest& request,
                                          const Context& ctx);
// Both decisions (entry kind dm_accept or dm_reject).
absl::Status DecideDMDecision(const StateView& state, const Verified& verified, Decision* decision);

absl::StatusOr<Verified> ValidateMigration(const v1::UpdateHomeServerRequest& request,
                                           const Context& ctx);
absl::Status DecideMigration(const StateView& state, const Verified& verified, Decision* decision);

absl::StatusOr<Verified> ValidateProfile(const v1::UpdateFederatedProfileRequest& request,
                                         const Context& ctx);
absl::Status DecideProfile(const StateView& state, const Verified& verified, Decision* decision);

// OperatorAction.action values.
inline constexpr absl::string_view kPeerAdd = "peer_add";
inline constexpr absl::string_view kPeerRemove = "peer_remove";
inline constexpr absl::string_view kPeerRotate = "peer_rotate";
inline constexpr absl::string_view kPeerMayBan = "peer_may_ban";

// Operator actions are signed by the relay key (raw `relay_public_key`) and
// are not subject to freshness: they are the relay's own. Sets the entry kind.
absl::StatusOr<Verified> ValidateOperatorAction(const v1::OperatorAction& action,
                                                absl::string_view relay_public_key);
absl::Status DecideOperatorAction(const StateView& state, const Verified& verified,
                                  Decision* decision);
// Checks an operator's peer fields (server id, key, may_ban) before signing.
absl::Status CheckPeerFields(absl::string_view server_id, absl::string_view pubkey_hex,
                             const std::vector<std::string>& may_ban);
// A key the relay is about to pin (ctl or config) must be a valid Ed25519
// public key, not only 64 hex characters (kMalformed). Checked before signing
// an action, not on re-derivation: the log keeps verifying as it was written.
absl::Status CheckPinnablePeerKey(absl::string_view pubkey_hex);

// The log entry of an accepted request: `verified.entry` with its event id,
// received_at and Decide's events, each stamped with that id and time.
v1::LogEntry MakeEntry(const Verified& verified, std::vector<v1::StreamResponse> events,
                       uint64_t event_id, uint64_t received_at);
// When the seen-request memory may forget a verified request's signature: after
// that, freshness rejects it anyway.
uint64_t SeenRequestExpiry(const Verified& verified, uint64_t max_clock_skew_ms);

// ---------------------------------------------------------------------------
// Helpers shared by the rule files.

// kStaleTimestamp unless |now - timestamp| <= max_clock_skew_ms.
absl::Status CheckFreshness(uint64_t timestamp, const Context& ctx);
// kMalformed naming `what` when `value` is empty.
absl::Status RequireNonEmpty(absl::string_view value, absl::string_view what);

// Server-signed messages. Validate half: when the durable state pins a key
// for `server_id` and it matches `claimed_key_hex` (empty: the message claims
// none), verifies the signature with it and returns the key; else returns ""
// (Decide decides). Decide half: unknown_peer / key_mismatch against `state`,
// then verifies with the pinned key unless Validate already did.
absl::StatusOr<std::string> VerifyWithHintedPeerKey(const Context& ctx, absl::string_view server_id,
                                                    absl::string_view claimed_key_hex,
                                                    absl::string_view signing_bytes,
                                                    absl::string_view signature);
absl::StatusOr<PeerRecord> CheckPeerSigner(const StateView& state, const Verified& verified,
                                           absl::string_view server_id,
                                           absl::string_view claimed_key_hex,
                                           absl::string_view signing_bytes,
                                           absl::string_view signature);

// User{id, id_pubkey} of a federated user (its id is its K_id).
v1::User FederatedUser(absl::string_view user_id);

// The LogEntry oneof field name of a request case ("federation_request", ...).
std::string KindName(v1::LogEntry::RequestCase request_case);

// Deterministic protobuf serialization (leaves and body hashes depend on it).
std::string SerializeDeterministic(const google::protobuf::MessageLite& message);

}  // namespace fedrelay::federation::rules

#endif  // FEDRELAY_FEDERATION_RULES_RULES_H_
