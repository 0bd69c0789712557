// OperatorAction: the relay's own, signed entries that change the peer table.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::Status CheckPeerFields(absl::string_view server_id, absl::string_view pubkey_hex,
                             const std::vector<std::string>& may_ban) {
  RETURN_IF_ERROR(RequireNonEmpty(server_id, "peer server_id"));
  if (!pubkey_hex.empty()) RETURN_IF_ERROR(ParsePublicKeyHex(pubkey_hex, "peer pubkey").status());
  for (const std::string& guild : may_ban) {
    // The signing bytes join may_ban with ",": a comma inside would be ambiguous.
    if (guild.empty() || absl::StrContains(guild, ',')) {
      return MakeError(ErrorCode::kMalformed,
                       absl::StrCat("may_ban entry '", guild, "' must be \"*\" or a guild id without ','"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPinnablePeerKey(absl::string_view pubkey_hex) {
  ASSIGN_OR_RETURN(const std::string key, ParsePublicKeyHex(pubkey_hex, "peer pubkey"));
  if (!Ed25519IsValidPublicKey(key)) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("peer pubkey ", pubkey_hex,
                                  " is not a valid Ed25519 public key (no point of the curve's "
                                  "prime-order subgroup); check that it was copied correctly"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Verified> ValidateOperatorAction(const v1::OperatorAction& action,
                                                absl::string_view relay_public_key) {
  const std::vector<std::string> may_ban(action.may_ban().begin(), action.may_ban().end());
  if (action.action() == kPeerAdd || action.action() == kPeerRotate) {
    RETURN_IF_ERROR(ParsePublicKeyHex(action.pubkey(), "peer pubkey").status());
  } else if (action.action() != kPeerRemove && action.action() != kPeerMayBan) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("unknown operator action '", action.action(), "'"));
  }
  RETURN_IF_ERROR(CheckPeerFields(action.server_id(), action.pubkey(), may_ban));
  RETURN_IF_ERROR(CheckRawSignature(action.signature(), "operator action signature"));
  RETURN_IF_ERROR(VerifyOrReject(relay_public_key, OperatorActionSigningBytes(action),
                                 action.signature(), "operator action signature"));
  Verified verified;
  *verified.entry.mutable_operator_action() = action;
  verified.entry.set_kind(KindName(v1::LogEntry::kOperatorAction));
  verified.timestamp = action.timestamp();
  return verified;
}

absl::Status DecideOperatorAction(const StateView& state, const Verified& verified,
                                  Decision* decision) {
  const v1::OperatorAction& action = verified.entry.operator_action();
  std::optional<PeerRecord> peer = state.FindPeer(action.server_id());
  if (action.action() == kPeerAdd) {
    if (peer.has_value()) {
      return MakeError(ErrorCode::kConflict,
          absl::StrCat("peer '", action.server_id(), "' already exists (rotate its key or change may_ban)"));
    }
    PeerRecord added;
    added.pubkey_hex = action.pubkey();
    added.may_ban.assign(action.may_ban().begin(), action.may_ban().end());
    added.source = verified.peer_source;
    decision->ops.push_back(op::PutPeer{action.server_id(), std::move(added)});
    return absl::OkStatus();
  }
  if (!peer.has_value()) {
    return MakeError(ErrorCode::kNotFound, absl::StrCat("no peer '", action.server_id(), "'"));
  }
  if (action.action() == kPeerRemove) {
    decision->ops.push_back(op::RemovePeer{action.server_id()});
    return absl::OkStatus();
  }
  // A change that changes nothing is refused rather than logged.
  if (action.action() == kPeerRotate) {
    if (peer->pubkey_hex == action.pubkey()) {
      return MakeError(ErrorCode::kConflict,
                       absl::StrCat("peer '", action.server_id(), "' already has that key"));
    }
    peer->pubkey_hex = action.pubkey();
  } else {
    std::vector<std::string> may_ban(action.may_ban().begin(), action.may_ban().end());
    if (peer->may_ban == may_ban) {
      return MakeError(ErrorCode::kConflict,
                       absl::StrCat("peer '", action.server_id(), "' already has that may_ban list"));
    }
    peer->may_ban = std::move(may_ban);
  }
  // The peer keeps the owner that added it (see ReconcileConfigPeers).
  decision->ops.push_back(op::PutPeer{action.server_id(), *std::move(peer)});
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
