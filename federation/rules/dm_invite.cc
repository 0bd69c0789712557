// DMInvite: a user invites another through a device of theirs.
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/device_cert.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::StatusOr<Verified> ValidateDMInvite(const v1::DMInvite& invite, const Context& ctx) {
  RETURN_IF_ERROR(RequireNonEmpty(invite.invite_id(), "invite_id"));
  RETURN_IF_ERROR(ParsePublicKeyHex(invite.inviter_id(), "inviter_id").status());
  RETURN_IF_ERROR(ParsePublicKeyHex(invite.inviter_pubkey(), "inviter_pubkey").status());
  RETURN_IF_ERROR(ParsePublicKeyHex(invite.target_user_id(), "target_user_id").status());
  // status is not signed; a new invite is pending by definition.
  if (!invite.status().empty() && invite.status() != kInvitePending) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("a new invite's status must be empty or \"pending\", not \"",
                                  invite.status(), "\""));
  }
  // The token is what the target redeems; a submitted invite must carry it.
  // Only a logged invite has it replaced by token_sha256.
  if (!ctx.from_log) RETURN_IF_ERROR(RequireNonEmpty(invite.token(), "token"));
  ASSIGN_OR_RETURN(const std::string token_sha256, DMInviteTokenSha256(invite));
  RETURN_IF_ERROR(CheckRawSignature(invite.signature(), "signature"));
  if (!invite.has_device_cert()) return MakeError(ErrorCode::kMalformed, "device_cert is missing");
  RETURN_IF_ERROR(CheckFreshness(invite.timestamp(), ctx));

  if (invite.inviter_id() != invite.inviter_pubkey()) {
    return MakeError(ErrorCode::kWrongInviter, "inviter_id differs from inviter_pubkey");
  }
  ASSIGN_OR_RETURN(const std::string device_key,
                   ValidatedDeviceKey(invite.device_cert(), invite.inviter_pubkey(), ctx.now_ms));
  Verified verified;
  verified.signing_bytes = DMInviteSigningBytes(invite, token_sha256);
  RETURN_IF_ERROR(
      VerifyOrReject(device_key, verified.signing_bytes, invite.signature(), "invite signature"));

  v1::DMInvite* logged = verified.entry.mutable_dm_invite();
  *logged = invite;
  logged->clear_token();  // the log is public
  logged->set_token_sha256(token_sha256);
  verified.token = invite.token();
  verified.signature = invite.signature();
  verified.timestamp = invite.timestamp();
  return verified;
}

absl::Status DecideDMInvite(const StateView& state, const Verified& verified, uint64_t event_id,
                            Decision* decision) {
  const v1::DMInvite& invite = verified.entry.dm_invite();
  // What the signature covers identifies the invite (a logged one too: its
  // signing bytes hold the token's hash, never the token).
  const std::string body_hash = Sha256(verified.signing_bytes);
  if (std::optional<InviteRecord> existing = state.FindInvite(invite.invite_id())) {
    if (existing->body_hash == body_hash) {
      return MakeError(ErrorCode::kReplayed,
                       absl::StrCat("invite '", invite.invite_id(), "' is already logged"));
    }
    return MakeError(ErrorCode::kDuplicateInvite,
                     absl::StrCat("invite_id '", invite.invite_id(),
                                  "' is already used by a different invite"));
  }

  InviteRecord record;
  record.status = InviteStatus::kPending;
  record.target_user_id = invite.target_user_id();
  record.inviter_id = invite.inviter_id();
  record.guild_id = invite.guild_id();
  record.host_server_url = invite.host_server_url();
  record.body_hash = body_hash;
  record.event_id = event_id;
  decision->ops.push_back(op::PutInvite{invite.invite_id(), std::move(record)});
  if (!verified.token.empty()) {
    decision->ops.push_back(op::PutInviteToken{invite.invite_id(), verified.token});
  }
  *decision->events.emplace_back().mutable_dm_invite() = invite;
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
