// UpdateFederatedProfileRequest: a user's device publishes their profile.
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/device_cert.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::StatusOr<Verified> ValidateProfile(const v1::UpdateFederatedProfileRequest& request,
                                         const Context& ctx) {
  RETURN_IF_ERROR(ParsePublicKeyHex(request.user_id(), "user_id").status());
  RETURN_IF_ERROR(CheckRawSignature(request.signature(), "signature"));
  if (!request.has_device_cert()) return MakeError(ErrorCode::kMalformed, "device_cert is missing");
  RETURN_IF_ERROR(CheckFreshness(request.timestamp(), ctx));
  ASSIGN_OR_RETURN(const std::string device_key,
                   ValidatedDeviceKey(request.device_cert(), request.user_id(), ctx.now_ms));
  RETURN_IF_ERROR(VerifyOrReject(device_key, FederatedProfileSigningBytes(request),
                                 request.signature(), "profile signature"));

  Verified verified;
  *verified.entry.mutable_profile() = request;
  verified.signature = request.signature();
  verified.timestamp = request.timestamp();
  return verified;
}

absl::Status DecideProfile(const StateView& state, const Verified& verified, Decision* decision) {
  const v1::UpdateFederatedProfileRequest& request = verified.entry.profile();
  if (std::optional<uint64_t> last = state.LastProfileTimestamp(request.user_id());
      last.has_value() && request.timestamp() <= *last) {
    return MakeError(ErrorCode::kStaleUpdate,
                     absl::StrCat("timestamp ", request.timestamp(),
                                  " is not after the user's last profile update at ", *last));
  }

  decision->ops.push_back(op::SetProfileTimestamp{request.user_id(), request.timestamp()});
  v1::User* user = decision->events.emplace_back().mutable_user_updated()->mutable_user();
  *user = FederatedUser(request.user_id());
  user->set_name(request.display_name());
  user->set_avatar_url(request.avatar_url());
  user->set_bio(request.bio());
  user->set_homeserver(state.FindHomeserver(request.user_id()).value_or(""));
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
