// Canonical signing bytes (SPEC section 2), strict parsing of the key and
// signature encodings (SPEC section 1), and signature verification/creation.
//
// Every signature in fedrelay covers
//     SB(tag, f1..fn) = "fedrelay.v1." || tag || 0x00 || enc(f1) || ... || enc(fn)
//     enc(string | bytes) = u32be(byte length) || bytes;  enc(uint64) = u64be
// never serialized protobuf or JSON. The per-tag functions below fix each
// tag's field order; docs/protocol-notes.md ("Signing bytes") lists them.
//
// Strings are signed exactly as they appear on the wire: hex keys are signed as
// their 64-character text, not as the decoded 32 bytes. Only the fields the
// spec marks as bytes (DMInvite token_sha256, Receipt leaf_hash) are raw.
//
// Thread-safety: every free function is thread-safe (InitCrypto() must have run).
// A SigningBytesBuilder is a plain value; do not share one between threads.
#ifndef FEDRELAY_FEDERATION_SIGNING_H_
#define FEDRELAY_FEDERATION_SIGNING_H_

#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/crypto.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::federation {

// Tags of SPEC section 2, plus kTagOperatorAction (fedrelay's own, for the
// relay-signed operator entries of the log).
inline constexpr absl::string_view kTagDeviceCert = "DeviceCert";
inline constexpr absl::string_view kTagFederationRequest = "FederationRequest";
inline constexpr absl::string_view kTagBanNotification = "BanNotification";
inline constexpr absl::string_view kTagDMInvite = "DMInvite";
inline constexpr absl::string_view kTagDMInviteResponse = "DMInviteResponse";
inline constexpr absl::string_view kTagUpdateHomeServer = "UpdateHomeServer";
inline constexpr absl::string_view kTagFederatedProfile = "FederatedProfile";
inline constexpr absl::string_view kTagMemberSession = "MemberSession";
inline constexpr absl::string_view kTagCall = "Call";
inline constexpr absl::string_view kTagReceipt = "Receipt";
inline constexpr absl::string_view kTagOperatorAction = "OperatorAction";

// The `decision` field values of DMInviteResponse.
inline constexpr absl::string_view kDecisionAccepted = "accepted";
inline constexpr absl::string_view kDecisionRejected = "rejected";

// Builds SB(tag, ...) field by field, in the order the fields are added.
class SigningBytesBuilder {
 public:
  explicit SigningBytesBuilder(absl::string_view tag);

  // u32be(length) || value. Strings and bytes encode identically; the two
  // names keep call sites aligned with the spec's field table.
  SigningBytesBuilder& AddString(absl::string_view value);
  SigningBytesBuilder& AddBytes(absl::string_view value);
  // u64be(value).
  SigningBytesBuilder& AddU64(uint64_t value);

  const std::string& bytes() const { return bytes_; }
  std::string Take() && { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// ---------------------------------------------------------------------------
// Signing bytes per tag. Each reads only the signed fields of the message (the
// signature field and unsigned fields such as DMInvite.status are ignored).

// pubkey, device_id, issued_at, expiry.
std::string DeviceCertSigningBytes(const v1::DeviceCert& cert);
// origin_server_id, origin_server_pubkey, user_pubkey, user_display_name, guild_id, timestamp.
std::string FederationRequestSigningBytes(const v1::FederationRequest& request);
// origin_server_id, banned_user_pubkey, guild_id, reason, evidence_hash, timestamp.
std::string BanNotificationSigningBytes(const v1::BanNotification& ban);
// token_sha256 (raw 32 bytes, passed in: see DMInviteTokenSha256), invite_id,
// inviter_id, guild_id, guild_name, host_server_url, timestamp, inviter_pubkey,
// target_user_id.
std::string DMInviteSigningBytes(const v1::DMInvite& invite, absl::string_view token_sha256);
// invite_id, decision ("accepted" / "rejected"), timestamp.
std::string DMInviteResponseSigningBytes(absl::string_view invite_id, absl::string_view decision,
                                         uint64_t timestamp);
// The same for the request messages, with the decision their type implies.
std::string DMInviteResponseSigningBytes(const v1::AcceptDMInviteRequest& request);
std::string DMInviteResponseSigningBytes(const v1::RejectDMInviteRequest& request);
// user_id, new_homeserver, timestamp.
std::string UpdateHomeServerSigningBytes(const v1::UpdateHomeServerRequest& request);
// user_id, display_name, avatar_url, bio, timestamp.
std::string FederatedProfileSigningBytes(const v1::UpdateFederatedProfileRequest& request);
// user_id, device_id, timestamp.
std::string MemberSessionSigningBytes(absl::string_view user_id, absl::string_view device_id,
                                      uint64_t timestamp);
// origin_server_id, destination_server_id, method (full gRPC path), timestamp.
std::string CallSigningBytes(absl::string_view origin_server_id,
                             absl::string_view destination_server_id, absl::string_view method,
                             uint64_t timestamp);
// event_id (u64), leaf_hash (raw 32 bytes), timestamp.
std::string ReceiptSigningBytes(uint64_t event_id, absl::string_view leaf_hash, uint64_t timestamp);
std::string ReceiptSigningBytes(const v1::RelayReceipt& receipt);
// action, server_id, pubkey, may_ban joined by ",", timestamp.
std::string OperatorActionSigningBytes(const v1::OperatorAction& action);

// The token hash a DMInvite's signature covers: SHA-256(token) when the token
// is present (then a non-empty token_sha256 must agree with it), else the
// token_sha256 field, which must then be exactly 32 bytes (a logged invite).
// Errors are kMalformed.
absl::StatusOr<std::string> DMInviteTokenSha256(const v1::DMInvite& invite);

// ---------------------------------------------------------------------------
// Strict parsing (SPEC section 1). Errors are kMalformed naming `what`; nothing
// is fixed up (uppercase, whitespace, "0x" and wrong lengths are all rejected).

// 64 lowercase hex characters -> raw 32-byte public key.
absl::StatusOr<std::string> ParsePublicKeyHex(absl::string_view hex, absl::string_view what);
// 128 lowercase hex characters -> raw 64-byte signature.
absl::StatusOr<std::string> ParseSignatureHex(absl::string_view hex, absl::string_view what);
// A signature carried in a `bytes` field must be exactly 64 bytes.
absl::Status CheckRawSignature(absl::string_view signature, absl::string_view what);
// "sha256:" + 64 lowercase hex characters -> raw 32-byte digest.
absl::StatusOr<std::string> ParseEvidenceHash(absl::string_view text);

// ---------------------------------------------------------------------------
// Verification.

// OK when `signature` (raw 64 bytes) is a strict Ed25519 signature (libsodium
// crypto_sign_verify_detached: canonical S, no small-order key or R) of
// `message` under `public_key` (raw 32 bytes); else kBadSignature naming
// `what`. Raw inputs of the wrong length are kMalformed (callers should have
// parsed them with the helpers above).
absl::Status VerifyOrReject(absl::string_view public_key, absl::string_view message,
                            absl::string_view signature, absl::string_view what);

// ---------------------------------------------------------------------------
// Signing, for tools, benchmarks and tests (the relay itself signs only
// receipts and operator actions). Each fills the message's signature field in
// the encoding SPEC section 1 gives it, over the message's current fields.

void SignDeviceCert(v1::DeviceCert* cert, const Ed25519PrivateKey& identity_key);  // hex
void SignFederationRequest(v1::FederationRequest* request, const Ed25519PrivateKey& server_key);
void SignBanNotification(v1::BanNotification* ban, const Ed25519PrivateKey& server_key);
// Signs with the device key over DMInviteSigningBytes(invite, SHA-256(token)).
// With an empty token it signs over the token_sha256 field as it stands.
void SignDMInvite(v1::DMInvite* invite, const Ed25519PrivateKey& device_key);
void SignDMDecision(v1::AcceptDMInviteRequest* request, const Ed25519PrivateKey& device_key);
void SignDMDecision(v1::RejectDMInviteRequest* request, const Ed25519PrivateKey& device_key);
void SignMigration(v1::UpdateHomeServerRequest* request,
                   const Ed25519PrivateKey& identity_key);  // hex
void SignProfile(v1::UpdateFederatedProfileRequest* request, const Ed25519PrivateKey& device_key);
void SignReceipt(v1::RelayReceipt* receipt, const Ed25519PrivateKey& relay_key);
void SignOperatorAction(v1::OperatorAction* action, const Ed25519PrivateKey& relay_key);
// Hex signatures that travel outside protobuf messages.
std::string MakeCallSignatureHex(absl::string_view origin_server_id,
                                 absl::string_view destination_server_id, absl::string_view method,
                                 uint64_t timestamp, const Ed25519PrivateKey& server_key);
std::string MakeMemberSessionSignatureHex(absl::string_view user_id, absl::string_view device_id,
                                          uint64_t timestamp, const Ed25519PrivateKey& device_key);

// A peer's Call signature travels as gRPC metadata (SPEC section 4); `method`
// is the full gRPC method path.
inline constexpr absl::string_view kCallOriginHeader = "x-fedrelay-origin";
inline constexpr absl::string_view kCallTimestampHeader = "x-fedrelay-timestamp";
inline constexpr absl::string_view kCallSignatureHeader = "x-fedrelay-signature";
inline constexpr absl::string_view kSubscribeMethod = "/fedrelay.v1.FederationRelay/Subscribe";
inline constexpr absl::string_view kAcknowledgeMethod = "/fedrelay.v1.FederationRelay/Acknowledge";
// The three (name, value) metadata pairs of a Call signature made now-ish.
std::array<std::pair<std::string, std::string>, 3> CallSignatureMetadata(
    absl::string_view origin_server_id, absl::string_view destination_server_id,
    absl::string_view method, uint64_t timestamp, const Ed25519PrivateKey& server_key);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_SIGNING_H_
