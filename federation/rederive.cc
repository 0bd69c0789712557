// RederiveLog: re-derives the whole state from the log alone and checks every
// entry against what the rules say it must be, running the relay's own accept
// step (federation/accept.h) on each.
#include <string>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "federation/accept.h"
#include "federation/federation.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "federation/state.h"

namespace fedrelay::federation {
namespace {

absl::Status Divergence(uint64_t event_id, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("event ", event_id, ": ", what));
}

// Names the first difference between the re-derived entry and the logged one.
std::string DescribeDifference(const v1::LogEntry& derived, const v1::LogEntry& logged) {
  if (derived.events_size() != logged.events_size()) {
    return absl::StrCat("the log holds ", logged.events_size(), " derived events, the rules give ",
                        derived.events_size());
  }
  for (int i = 0; i < derived.events_size(); ++i) {
    if (rules::SerializeDeterministic(derived.events(i)) !=
        rules::SerializeDeterministic(logged.events(i))) {
      return absl::StrCat("derived event #", i, " differs from the one the rules give");
    }
  }
  return "the leaf is not the deterministic serialization of the verified request";
}

class LogRederiver {
 public:
  LogRederiver(std::string relay_public_key, uint64_t max_clock_skew_ms)
      : relay_public_key_(std::move(relay_public_key)), max_clock_skew_ms_(max_clock_skew_ms) {}

  absl::Status Apply(uint64_t index, absl::string_view leaf) {
    const uint64_t event_id = index + 1;
    v1::LogEntry logged;
    if (!logged.ParseFromString(std::string(leaf))) {
      return Divergence(event_id, "the leaf is not a LogEntry");
    }
    if (logged.event_id() != event_id) {
      return Divergence(event_id, absl::StrCat("the entry says event_id ", logged.event_id()));
    }

    // Every rule is judged as it stood when the relay received the request.
    const uint64_t now = logged.received_at();
    rules::Context ctx;
    ctx.now_ms = now;
    ctx.max_clock_skew_ms = max_clock_skew_ms_;
    ctx.hints = &state_;
    ctx.from_log = true;
    absl::StatusOr<rules::Verified> verified = rules::ValidateLogged(logged, relay_public_key_, ctx);
    if (!verified.ok()) {
      return Divergence(event_id, absl::StrCat("rejected on re-derivation: ", verified.status().message()));
    }
    if (logged.kind() != verified->entry.kind()) {
      return Divergence(event_id, absl::StrCat("kind '", logged.kind(), "' but the entry carries ",
                                               verified->entry.kind()));
    }
    // The relay's own accept step, against the state the entries before this one left.
    AcceptOutcome outcome =
        AcceptStep(state_, *verified, EntryPlace{event_id, now, max_clock_skew_ms_});
    if (std::holds_alternative<SeenSignature>(outcome)) {
      return Divergence(event_id, "replays the signature of an earlier entry");
    }
    if (const auto* refusal = std::get_if<Refusal>(&outcome)) {
      return Divergence(event_id, absl::StrCat("rejected on re-derivation: ", refusal->status.message()));
    }
    const Admission& admission = std::get<Admission>(outcome);
    if (admission.leaf != leaf) {
      return Divergence(event_id, DescribeDifference(admission.entry, logged));
    }
    for (const StateOp& state_op : admission.ops) state_.Apply(state_op);
    return absl::OkStatus();
  }

  DerivedState& state() { return state_; }

 private:
  const std::string relay_public_key_;
  const uint64_t max_clock_skew_ms_;
  DerivedState state_;
};

}  // namespace

absl::StatusOr<RederiveReport> RederiveLog(
    const store::LogReader& log, const std::string& relay_pubkey_hex,
    const std::string& /*server_id*/, uint64_t max_clock_skew_ms,
    const std::function<void(uint64_t done, uint64_t total)>& progress, DerivedState* derived) {
  RETURN_IF_ERROR(InitCrypto());
  ASSIGN_OR_RETURN(std::string relay_public_key,
                   ParsePublicKeyHex(relay_pubkey_hex, "relay public key"));
  LogRederiver rederiver(std::move(relay_public_key), max_clock_skew_ms);
  const uint64_t total = log.Size();
  uint64_t done = 0;
  absl::Status failure;
  RETURN_IF_ERROR(log.ScanLeaves(0, total, [&](uint64_t index, absl::string_view leaf) {
    failure = rederiver.Apply(index, leaf);
    if (!failure.ok()) return false;
    ++done;
    if (progress && (done % 4096 == 0 || done == total)) progress(done, total);
    return true;
  }));
  RETURN_IF_ERROR(failure);
  if (done != total) {
    return absl::DataLossError(absl::StrCat("the log holds ", total, " entries but only ", done,
                                            " could be read"));
  }

  DerivedState& state = rederiver.state();
  RederiveReport report;
  report.entries = done;
  report.bans = state.ban_count();
  report.users_with_homeserver = state.homeserver_count();
  report.profiles = state.profile_count();
  report.invites = state.invite_count();
  report.peers = state.peers().size();
  if (derived != nullptr) *derived = std::move(state);
  return report;
}

}  // namespace fedrelay::federation
