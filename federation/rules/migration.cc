// UpdateHomeServerRequest: a user moves to another homeserver, signed by K_id.
#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"

namespace fedrelay::federation::rules {

absl::StatusOr<Verified> ValidateMigration(const v1::UpdateHomeServerRequest& request,
                                           const Context& ctx) {
  ASSIGN_OR_RETURN(const std::string identity_key, ParsePublicKeyHex(request.user_id(), "user_id"));
  RETURN_IF_ERROR(RequireNonEmpty(request.new_homeserver(), "new_homeserver"));
  ASSIGN_OR_RETURN(std::string signature, ParseSignatureHex(request.signature(), "signature"));
  RETURN_IF_ERROR(CheckFreshness(request.timestamp(), ctx));
  RETURN_IF_ERROR(VerifyOrReject(identity_key, UpdateHomeServerSigningBytes(request), signature,
                                 "migration signature"));

  Verified verified;
  *verified.entry.mutable_migration() = request;
  verified.signature = std::move(signature);
  verified.timestamp = request.timestamp();
  return verified;
}

absl::Status DecideMigration(const StateView& state, const Verified& verified, Decision* decision) {
  const v1::UpdateHomeServerRequest& request = verified.entry.migration();
  if (std::optional<MigrationRecord> last = state.LastMigration(request.user_id())) {
    if (request.timestamp() == last->timestamp && request.new_homeserver() != last->target) {
      Equivocation seen;
      seen.user_id = request.user_id();
      seen.timestamp = request.timestamp();
      seen.logged_target = last->target;
      seen.rejected_target = request.new_homeserver();
      decision->equivocation = std::move(seen);
      return MakeError(ErrorCode::kEquivocation,
                       absl::StrCat("user ", request.user_id(), " already migrated to '",
                                    last->target, "' at timestamp ", last->timestamp));
    }
    if (request.timestamp() <= last->timestamp) {
      return MakeError(ErrorCode::kStaleMigration,
                       absl::StrCat("timestamp ", request.timestamp(),
                                    " is not after the user's last migration at ",
                                    last->timestamp));
    }
  }

  decision->ops.push_back(
      op::SetMigration{request.user_id(), {request.timestamp(), request.new_homeserver()}});
  decision->ops.push_back(op::SetHomeserver{request.user_id(), request.new_homeserver()});
  v1::User* user = decision->events.emplace_back().mutable_user_updated()->mutable_user();
  *user = FederatedUser(request.user_id());
  user->set_homeserver(request.new_homeserver());
  return absl::OkStatus();
}

}  // namespace fedrelay::federation::rules
