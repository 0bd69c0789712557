#include "federation/signing.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/encoding.h"
#include "base/errors.h"

namespace fedrelay::federation {
namespace {

constexpr absl::string_view kSigningPrefix = "fedrelay.v1.";
constexpr absl::string_view kEvidencePrefix = "sha256:";

// HexDecode reports INVALID_ARGUMENT; the wire contract wants the typed code.
absl::StatusOr<std::string> StrictHex(absl::string_view hex, absl::string_view what,
                                      size_t expected_bytes) {
  auto decoded = HexDecode(hex, what, expected_bytes);
  if (!decoded.ok()) return MakeError(ErrorCode::kMalformed, decoded.status().message());
  return decoded;
}

}  // namespace

SigningBytesBuilder::SigningBytesBuilder(absl::string_view tag) {
  bytes_.reserve(128);
  absl::StrAppend(&bytes_, kSigningPrefix, tag);
  bytes_.push_back('\0');
}

SigningBytesBuilder& SigningBytesBuilder::AddString(absl::string_view value) {
  // Protobuf caps fields at 2 GiB, so every wire value fits in u32.
  AppendU32BE(bytes_, static_cast<uint32_t>(value.size()));
  bytes_.append(value.data(), value.size());
  return *this;
}

SigningBytesBuilder& SigningBytesBuilder::AddBytes(absl::string_view value) {
  return AddString(value);
}

SigningBytesBuilder& SigningBytesBuilder::AddU64(uint64_t value) {
  AppendU64BE(bytes_, value);
  return *this;
}

std::string DeviceCertSigningBytes(const v1::DeviceCert& cert) {
  return SigningBytesBuilder(kTagDeviceCert)
      .AddString(cert.pubkey())
      .AddString(cert.device_id())
      .AddU64(cert.issued_at())
      .AddU64(cert.expiry())
      .bytes();
}

std::string FederationRequestSigningBytes(const v1::FederationRequest& request) {
  return SigningBytesBuilder(kTagFederationRequest)
      .AddString(request.origin_server_id())
      .AddString(request.origin_server_pubkey())
      .AddString(request.user_pubkey())
      .AddString(request.user_display_name())
      .AddString(request.guild_id())
      .AddU64(request.timestamp())
      .bytes();
}

std::string BanNotificationSigningBytes(const v1::BanNotification& ban) {
  return SigningBytesBuilder(kTagBanNotification)
      .AddString(ban.origin_server_id())
      .AddString(ban.banned_user_pubkey())
      .AddString(ban.guild_id())
      .AddString(ban.reason())
      .AddString(ban.evidence_hash())
      .AddU64(ban.timestamp())
      .bytes();
}

std::string DMInviteSigningBytes(const v1::DMInvite& invite, absl::string_view token_sha256) {
  return SigningBytesBuilder(kTagDMInvite)
      .AddBytes(token_sha256)
      .AddString(invite.invite_id())
      .AddString(invite.inviter_id())
      .AddString(invite.guild_id())
      .AddString(invite.guild_name())
      .AddString(invite.host_server_url())
      .AddU64(invite.timestamp())
      .AddString(invite.inviter_pubkey())
      .AddString(invite.target_user_id())
      .bytes();
}

std::string DMInviteResponseSigningBytes(absl::string_view invite_id, absl::string_view decision,
                                         uint64_t timestamp) {
  return SigningBytesBuilder(kTagDMInviteResponse)
      .AddString(invite_id)
      .AddString(decision)
      .AddU64(timestamp)
      .bytes();
}

std::string DMInviteResponseSigningBytes(const v1::AcceptDMInviteRequest& request) {
  return DMInviteResponseSigningBytes(request.invite_id(), kDecisionAccepted, request.timestamp());
}

std::string DMInviteResponseSigningBytes(const v1::RejectDMInviteRequest& request) {
  return DMInviteResponseSigningBytes(request.invite_id(), kDecisionRejected, request.timestamp());
}

std::string UpdateHomeServerSigningBytes(const v1::UpdateHomeServerRequest& request) {
  return SigningBytesBuilder(kTagUpdateHomeServer)
      .AddString(request.user_id())
      .AddString(request.new_homeserver())
      .AddU64(request.timestamp())
      .bytes();
}

std::string FederatedProfileSigningBytes(const v1::UpdateFederatedProfileRequest& request) {
  return SigningBytesBuilder(kTagFederatedProfile)
      .AddString(request.user_id())
      .AddString(request.display_name())
      .AddString(request.avatar_url())
      .AddString(request.bio())
      .AddU64(request.timestamp())
      .bytes();
}

std::string MemberSessionSigningBytes(absl::string_view user_id, absl::string_view device_id,
                                      uint64_t timestamp) {
  return SigningBytesBuilder(kTagMemberSession)
      .AddString(user_id)
      .AddString(device_id)
      .AddU64(timestamp)
      .bytes();
}

std::string CallSigningBytes(absl::string_view origin_server_id,
                             absl::string_view destination_server_id, absl::string_view method,
                             uint64_t timestamp) {
  return SigningBytesBuilder(kTagCall)
      .AddString(origin_server_id)
      .AddString(destination_server_id)
      .AddString(method)
      .AddU64(timestamp)
      .bytes();
}

std::string ReceiptSigningBytes(uint64_t event_id, absl::string_view leaf_hash,
                                uint64_t timestamp) {
  return SigningBytesBuilder(kTagReceipt)
      .AddU64(event_id)
      .AddBytes(leaf_hash)
      .AddU64(timestamp)
      .bytes();
}

std::string ReceiptSigningBytes(const v1::RelayReceipt& receipt) {
  return ReceiptSigningBytes(receipt.event_id(), receipt.leaf_hash(), receipt.timestamp());
}

std::string OperatorActionSigningBytes(const v1::OperatorAction& action) {
  return SigningBytesBuilder(kTagOperatorAction)
      .AddString(action.action())
      .AddString(action.server_id())
      .AddString(action.pubkey())
      .AddString(absl::StrJoin(action.may_ban(), ","))
      .AddU64(action.timestamp())
      .bytes();
}

absl::StatusOr<std::string> DMInviteTokenSha256(const v1::DMInvite& invite) {
  if (!invite.token().empty()) {
    std::string digest = Sha256(invite.token());
    if (!invite.token_sha256().empty() && invite.token_sha256() != digest) {
      return MakeError(ErrorCode::kMalformed, "DMInvite token_sha256 is not the SHA-256 of token");
    }
    return digest;
  }
  if (invite.token_sha256().size() != kSha256Bytes) {
    return MakeError(ErrorCode::kMalformed, "DMInvite needs a token or a 32-byte token_sha256");
  }
  return invite.token_sha256();
}

absl::StatusOr<std::string> ParsePublicKeyHex(absl::string_view hex, absl::string_view what) {
  return StrictHex(hex, what, kEd25519PublicKeyBytes);
}

absl::StatusOr<std::string> ParseSignatureHex(absl::string_view hex, absl::string_view what) {
  return StrictHex(hex, what, kEd25519SignatureBytes);
}

absl::Status CheckRawSignature(absl::string_view signature, absl::string_view what) {
  if (signature.size() != kEd25519SignatureBytes) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat(what, " must be ", kEd25519SignatureBytes,
                                                         " raw bytes, got ", signature.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseEvidenceHash(absl::string_view text) {
  if (!absl::StartsWith(text, kEvidencePrefix)) {
    return MakeError(ErrorCode::kMalformed, "evidence_hash must start with \"sha256:\"");
  }
  text.remove_prefix(kEvidencePrefix.size());
  return StrictHex(text, "evidence_hash digest", kSha256Bytes);
}

absl::Status VerifyOrReject(absl::string_view public_key, absl::string_view message,
                            absl::string_view signature, absl::string_view what) {
  if (public_key.size() != kEd25519PublicKeyBytes) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat(what, ": public key must be ", kEd25519PublicKeyBytes, " bytes"));
  }
  if (signature.size() != kEd25519SignatureBytes) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat(what, ": signature must be ", kEd25519SignatureBytes, " bytes"));
  }
  if (!Ed25519Verify(public_key, message, signature)) {
    return MakeError(ErrorCode::kBadSignature, absl::StrCat(what, " does not verify"));
  }
  return absl::OkStatus();
}

void SignDeviceCert(v1::DeviceCert* cert, const Ed25519PrivateKey& identity_key) {
  cert->set_signature(HexEncode(identity_key.Sign(DeviceCertSigningBytes(*cert))));
}

void SignFederationRequest(v1::FederationRequest* request, const Ed25519PrivateKey& server_key) {
  request->set_signature(server_key.Sign(FederationRequestSigningBytes(*request)));
}

void SignBanNotification(v1::BanNotification* ban, const Ed25519PrivateKey& server_key) {
  ban->set_signature(server_key.Sign(BanNotificationSigningBytes(*ban)));
}

void SignDMInvite(v1::DMInvite* invite, const Ed25519PrivateKey& device_key) {
  const std::string token_sha256 =
      invite->token().empty() ? invite->token_sha256() : Sha256(invite->token());
  invite->set_signature(device_key.Sign(DMInviteSigningBytes(*invite, token_sha256)));
}

void SignDMDecision(v1::AcceptDMInviteRequest* request, const Ed25519PrivateKey& device_key) {
  request->set_signature(device_key.Sign(DMInviteResponseSigningBytes(*request)));
}

void SignDMDecision(v1::RejectDMInviteRequest* request, const Ed25519PrivateKey& device_key) {
  request->set_signature(device_key.Sign(DMInviteResponseSigningBytes(*request)));
}

void SignMigration(v1::UpdateHomeServerRequest* request, const Ed25519PrivateKey& identity_key) {
  request->set_signature(HexEncode(identity_key.Sign(UpdateHomeServerSigningBytes(*request))));
}

void SignProfile(v1::UpdateFederatedProfileRequest* request, const Ed25519PrivateKey& device_key) {
  request->set_signature(device_key.Sign(FederatedProfileSigningBytes(*request)));
}

void SignReceipt(v1::RelayReceipt* receipt, const Ed25519PrivateKey& relay_key) {
  receipt->set_signature(relay_key.Sign(ReceiptSigningBytes(*receipt)));
}

void SignOperatorAction(v1::OperatorAction* action, const Ed25519PrivateKey& relay_key) {
  action->set_signature(relay_key.Sign(OperatorActionSigningBytes(*action)));
}

std::string MakeCallSignatureHex(absl::string_view origin_server_id,
                                 absl::string_view destination_server_id, absl::string_view method,
                                 uint64_t timestamp, const Ed25519PrivateKey& server_key) {
  return HexEncode(server_key.Sign(
      CallSigningBytes(origin_server_id, destination_server_id, method, timestamp)));
}

std::array<std::pair<std::string, std::string>, 3> CallSignatureMetadata(
    absl::string_view origin_server_id, absl::string_view destination_server_id,
    absl::string_view method, uint64_t timestamp, const Ed25519PrivateKey& server_key) {
  return {{{std::string(kCallOriginHeader), std::string(origin_server_id)},
           {std::string(kCallTimestampHeader), absl::StrCat(timestamp)},
           {std::string(kCallSignatureHeader),
            MakeCallSignatureHex(origin_server_id, destination_server_id, method, timestamp,
                                 server_key)}}};
}

std::string MakeMemberSessionSignatureHex(absl::string_view user_id, absl::string_view device_id,
                                          uint64_t timestamp, const Ed25519PrivateKey& device_key) {
  return HexEncode(device_key.Sign(MemberSessionSigningBytes(user_id, device_id, timestamp)));
}

}  // namespace fedrelay::federation
