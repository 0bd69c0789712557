// BanNotification: a peer bans a user from a guild it may ban in.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::StatusOr<Verified> ValidateBan(const v1::BanNotification& ban, const Context& ctx) {
  RETURN_IF_ERROR(RequireNonEmpty(ban.origin_server_id(), "origin_server_id"));
  RETURN_IF_ERROR(ParsePublicKeyHex(ban.banned_user_pubkey(), "banned_user_pubkey").status());
  RETURN_IF_ERROR(RequireNonEmpty(ban.guild_id(), "guild_id"));
  // A ban may come without evidence; evidence that is given must be well-formed.
  if (!ban.evidence_hash().empty()) RETURN_IF_ERROR(ParseEvidenceHash(ban.evidence_hash()).status());
  RETURN_IF_ERROR(CheckRawSignature(ban.signature(), "signature"));
  RETURN_IF_ERROR(CheckFreshness(ban.timestamp(), ctx));

  Verified verified;
  verified.signing_bytes = BanNotificationSigningBytes(ban);
  // The message names no key: the pinned key of origin_server_id signs it.
  ASSIGN_OR_RETURN(verified.verified_signer_hex,
                   VerifyWithHintedPeerKey(ctx, ban.origin_server_id(), /*claimed_key_hex=*/"",
                                           verified.signing_bytes, ban.signature()));
  *verified.entry.mutable_ban() = ban;
  verified.signature = ban.signature();
  verified.timestamp = ban.timestamp();
  return verified;
}

absl::Status DecideBan(const StateView& state, const Verified& verified, Decision* decision) {
  const v1::BanNotification& ban = verified.entry.ban();
  ASSIGN_OR_RETURN(const PeerRecord peer,
                   CheckPeerSigner(state, verified, ban.origin_server_id(), /*claimed_key_hex=*/"",
                                   verified.signing_bytes, ban.signature()));
  const bool may_ban = std::any_of(peer.may_ban.begin(), peer.may_ban.end(), [&](const auto& g) {
    return g == "*" || g == ban.guild_id();
  });
  if (!may_ban) {
    return MakeError(ErrorCode::kNotAuthorized,
                     absl::StrCat("peer '", ban.origin_server_id(), "' may not ban in guild '",
                                  ban.guild_id(), "'"));
  }

  decision->ops.push_back(op::AddBan{ban.guild_id(), ban.banned_user_pubkey()});
  *decision->events.emplace_back().mutable_ban() = ban;
  v1::GuildMemberRemoved* removed = decision->events.emplace_back().mutable_member_removed();
  removed->set_guild_id(ban.guild_id());
  removed->set_user_id(ban.banned_user_pubkey());
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
