// FederationRequest: a peer server vouches for one of its users joining a guild.
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::StatusOr<Verified> ValidateFederationRequest(const v1::FederationRequest& request,
                                                   const Context& ctx) {
  RETURN_IF_ERROR(RequireNonEmpty(request.origin_server_id(), "origin_server_id"));
  RETURN_IF_ERROR(ParsePublicKeyHex(request.origin_server_pubkey(), "origin_server_pubkey").status());
  RETURN_IF_ERROR(ParsePublicKeyHex(request.user_pubkey(), "user_pubkey").status());
  RETURN_IF_ERROR(RequireNonEmpty(request.guild_id(), "guild_id"));
  RETURN_IF_ERROR(CheckRawSignature(request.signature(), "signature"));
  RETURN_IF_ERROR(CheckFreshness(request.timestamp(), ctx));

  Verified verified;
  verified.signing_bytes = FederationRequestSigningBytes(request);
  ASSIGN_OR_RETURN(verified.verified_signer_hex,
                   VerifyWithHintedPeerKey(ctx, request.origin_server_id(),
                                           request.origin_server_pubkey(), verified.signing_bytes,
                                           request.signature()));
  *verified.entry.mutable_federation_request() = request;
  verified.signature = request.signature();
  verified.timestamp = request.timestamp();
  return verified;
}

absl::Status DecideFederationRequest(const StateView& state, const Verified& verified,
                                     Decision* decision) {
  const v1::FederationRequest& request = verified.entry.federation_request();
  RETURN_IF_ERROR(CheckPeerSigner(state, verified, request.origin_server_id(),
                                  request.origin_server_pubkey(), verified.signing_bytes,
                                  request.signature())
                      .status());
  if (state.IsBanned(request.guild_id(), request.user_pubkey())) {
    return MakeError(ErrorCode::kBanned, absl::StrCat("user ", request.user_pubkey(),
                                                      " is banned from guild '",
                                                      request.guild_id(), "'"));
  }

  // The user's homeserver is the origin of its latest accepted join.
  decision->ops.push_back(op::SetHomeserver{request.user_pubkey(), request.origin_server_id()});
  v1::GuildMemberJoined* joined = decision->events.emplace_back().mutable_member_joined();
  joined->set_guild_id(request.guild_id());
  v1::User* user = joined->mutable_user();
  *user = FederatedUser(request.user_pubkey());
  user->set_name(request.user_display_name());
  user->set_homeserver(request.origin_server_id());
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
