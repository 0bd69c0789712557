// AcceptDMInviteRequest / RejectDMInviteRequest: the invite's target decides,
// once, through a device certified by its K_id.
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/device_cert.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {
namespace {

// kNotInviteTarget unless `cert` is signed by `target_hex` (its validity
// window was checked by Validate).
absl::Status CheckCertOwner(const v1::DeviceCert& cert, absl::string_view target_hex) {
  absl::Status owner = VerifyDeviceCertOwner(cert, target_hex);
  if (owner.ok() || MachineCode(owner) != ErrorCodeName(ErrorCode::kInvalidDeviceCert)) return owner;
  return MakeError(ErrorCode::kNotInviteTarget,
                   "the device cert is not signed by the invite's target_user_id");
}

template <typename Request>
absl::StatusOr<Verified> ValidateDecision(const Request& request, absl::string_view decision,
                                          const Context& ctx) {
  RETURN_IF_ERROR(RequireNonEmpty(request.invite_id(), "invite_id"));
  RETURN_IF_ERROR(CheckRawSignature(request.signature(), "signature"));
  if (!request.has_device_cert()) return MakeError(ErrorCode::kMalformed, "device_cert is missing");
  const v1::DeviceCert& cert = request.device_cert();
  RETURN_IF_ERROR(CheckFreshness(request.timestamp(), ctx));
  // Who must have signed the cert depends on the invite (state); its
  // encodings and validity window do not.
  ASSIGN_OR_RETURN(const std::string device_key, DeviceKeyValidAt(cert, ctx.now_ms));
  RETURN_IF_ERROR(VerifyOrReject(
      device_key, DMInviteResponseSigningBytes(request.invite_id(), decision, request.timestamp()),
      request.signature(), "decision signature"));

  Verified verified;
  if (ctx.hints != nullptr) {
    if (std::optional<InviteRecord> invite = ctx.hints->FindInvite(request.invite_id())) {
      RETURN_IF_ERROR(CheckCertOwner(cert, invite->target_user_id));
      verified.verified_signer_hex = invite->target_user_id;
    }
  }
  verified.signature = request.signature();
  verified.timestamp = request.timestamp();
  return verified;
}

}  // namespace

absl::StatusOr<Verified> ValidateDMAccept(const v1::AcceptDMInviteRequest& request,
                                          const Context& ctx) {
  ASSIGN_OR_RETURN(Verified verified, ValidateDecision(request, kDecisionAccepted, ctx));
  *verified.entry.mutable_dm_accept() = request;
  return verified;
}

absl::StatusOr<Verified> ValidateDMReject(const v1::RejectDMInviteRequest& request,
                                          const Context& ctx) {
  ASSIGN_OR_RETURN(Verified verified, ValidateDecision(request, kDecisionRejected, ctx));
  *verified.entry.mutable_dm_reject() = request;
  return verified;
}

absl::Status DecideDMDecision(const StateView& state, const Verified& verified, Decision* decision) {
  const bool accept = verified.entry.has_dm_accept();
  const std::string& invite_id =
      accept ? verified.entry.dm_accept().invite_id() : verified.entry.dm_reject().invite_id();
  const v1::DeviceCert& cert =
      accept ? verified.entry.dm_accept().device_cert() : verified.entry.dm_reject().device_cert();

  std::optional<InviteRecord> invite = state.FindInvite(invite_id);
  if (!invite.has_value()) {
    return MakeError(ErrorCode::kUnknownInvite, absl::StrCat("no invite '", invite_id, "'"));
  }
  if (verified.verified_signer_hex != invite->target_user_id) {
    RETURN_IF_ERROR(CheckCertOwner(cert, invite->target_user_id));
  }
  if (invite->status != InviteStatus::kPending) {
    return MakeError(ErrorCode::kAlreadyDecided, absl::StrCat("invite '", invite_id, "' is already ",
                                                              InviteStatusName(invite->status)));
  }

  const absl::string_view status = accept ? kDecisionAccepted : kDecisionRejected;
  decision->invite_event_id = invite->event_id;
  invite->status = accept ? InviteStatus::kAccepted : InviteStatus::kRejected;
  decision->ops.push_back(op::PutInvite{invite_id, *std::move(invite)});
  v1::DMInviteStatus* event = decision->events.emplace_back().mutable_dm_invite_status();
  event->set_invite_id(invite_id);
  event->set_status(std::string(status));
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
