#include "federation/accept.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "store/log_store.h"

namespace fedrelay::federation {

SeenRequest MakeSeenRequest(const rules::Verified& verified, const EntryPlace& place) {
  SeenRequest record;
  record.expiry_ms = rules::SeenRequestExpiry(verified, place.max_clock_skew_ms);
  record.event_id = place.event_id;
  record.body_hash = verified.body_hash;
  return record;
}

AcceptOutcome AcceptStep(const StateView& state, const rules::Verified& verified,
                         const EntryPlace& place) {
  // 1. Seen-request memory.
  std::string signature_hash;
  std::optional<uint64_t> seen;  // an expired record of the signature not purged yet
  if (!verified.signature.empty()) {
    const uint64_t expiry = rules::SeenRequestExpiry(verified, place.max_clock_skew_ms);
    if (expiry < state.ForgetHorizon()) {
      return Refusal{MakeError(ErrorCode::kStaleTimestamp,
                               absl::StrCat("timestamp ", verified.timestamp,
                                            " is older than the replay memory reaches (it forgets "
                                            "signatures expiring before ",
                                            state.ForgetHorizon(), ")")),
                     std::nullopt};
    }
    signature_hash = Sha256(verified.signature);
    seen = state.SeenRequestExpiry(signature_hash);
    if (seen.has_value() && *seen >= place.received_at) {
      return SeenSignature{std::move(signature_hash)};
    }
  }

  // 2. Decide.
  rules::Decision decision;
  if (absl::Status status = rules::Decide(state, verified, place.event_id, &decision);
      !status.ok()) {
    if (decision.equivocation.has_value()) decision.equivocation->seen_at_ms = place.received_at;
    return Refusal{std::move(status), std::move(decision.equivocation)};
  }

  // 3. The entry, and whether the log can hold it.
  Admission admission;
  admission.entry =
      rules::MakeEntry(verified, std::move(decision.events), place.event_id, place.received_at);
  admission.leaf = rules::SerializeDeterministic(admission.entry);
  if (admission.leaf.size() > store::kMaxLeafBytes) {
    return Refusal{MakeError(ErrorCode::kPayloadTooLarge,
                             absl::StrCat("the log entry would be ", admission.leaf.size(),
                                          " bytes; a log entry holds at most ",
                                          store::kMaxLeafBytes)),
                   std::nullopt};
  }

  // 4. What changes with it.
  admission.ops = std::move(decision.ops);
  if (!signature_hash.empty()) {
    admission.ops.push_back(
        op::RememberRequest{signature_hash, MakeSeenRequest(verified, place), seen});
  }
  const uint64_t floor =
      place.received_at > place.max_clock_skew_ms ? place.received_at - place.max_clock_skew_ms : 0;
  const uint64_t horizon = std::max(state.ForgetHorizon(), floor);
  if (horizon != state.ForgetHorizon()) admission.ops.push_back(op::SetForgetHorizon{horizon});
  // This entry's own record expires at or after received_at > horizon: never purged here.
  for (ForgettableRequest& expired : state.ForgettableRequests(horizon, kMaxForgottenPerEntry)) {
    admission.ops.push_back(op::ForgetRequest{std::move(expired.signature_hash), expired.expiry_ms});
  }
  admission.ops.push_back(op::SetLogSize{place.event_id});
  admission.signature_hash = std::move(signature_hash);
  admission.invite_event_id = decision.invite_event_id;
  return admission;
}

}  // namespace fedrelay::federation
