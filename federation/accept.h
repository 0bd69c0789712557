// The accept step: what happens to one verified request at its place in the
// log. The relay's writer (federation.cc) and the auditor's re-derivation of a
// log (rederive.cc) both run exactly this function, so an audit that agrees
// with the log proves the relay applied these rules, seen-request memory included.
//
//   seen-request memory -> decide (rules::Decide) -> build the entry and its leaf
//   -> leaf size -> seen-request record -> forget horizon and purge -> log size
//
// The seen-request memory (SPEC: the same signature twice within the freshness
// window is refused) keeps, per accepted signature, a record until its expiry
// (the signed timestamp + max clock skew; later, freshness refuses the request
// anyway). Forgetting is a function of the log alone: each entry moves the
// forget horizon to max(horizon, received_at - max skew) and purges up to
// kMaxForgottenPerEntry records expiring before the horizon, oldest first
// (expiry, then signature hash). A request whose own record would already be
// behind the horizon is refused as stale_timestamp, so a purged record can
// never let a replay through, whatever the order requests reach the writer.
//
// Thread-safety: pure; touches only its arguments.
#ifndef FEDRELAY_FEDERATION_ACCEPT_H_
#define FEDRELAY_FEDERATION_ACCEPT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "federation/federation.h"
#include "federation/rules/rules.h"
#include "federation/state.h"
#include "fedrelay/v1/fedrelay.pb.h"

namespace fedrelay::federation {

// Expired seen-request records purged per entry: bounded work per entry, still more
// than the one record an entry adds.
inline constexpr size_t kMaxForgottenPerEntry = 16;

struct EntryPlace {
  uint64_t event_id = 0;     // the id the entry gets if it is admitted (leaf index + 1)
  uint64_t received_at = 0;  // when the relay validated the request; every rule is judged then
  uint64_t max_clock_skew_ms = 0;
};

// Admitted: the entry as it will be logged and everything that changes with it.
struct Admission {
  v1::LogEntry entry;
  std::string leaf;          // SerializeDeterministic(entry)
  std::vector<StateOp> ops;  // in order: the rule's changes, seen-request record, horizon, purge, size
  std::string signature_hash;  // SHA-256 of the signature; empty for operator actions
  uint64_t invite_event_id = 0;  // a DM accept: the entry that logged the invite
};

// The signature is in the seen-request memory: the request is either a byte-identical
// resubmission (the caller answers with the original) or `replayed`. The step
// cannot tell: the record's body hash is in the store, not in memory.
struct SeenSignature {
  std::string signature_hash;
};

// Refused with a typed error (base/errors.h); nothing changes.
struct Refusal {
  absl::Status status;
  // Set with kEquivocation: what to flag to operators (seen_at_ms = received_at).
  std::optional<Equivocation> equivocation;
};

using AcceptOutcome = std::variant<Admission, SeenSignature, Refusal>;

// Judges `verified` against `state` (the durable state plus the entries
// admitted before it). Never writes; the caller applies Admission::ops.
AcceptOutcome AcceptStep(const StateView& state, const rules::Verified& verified,
                         const EntryPlace& place);

// The seen-request record an admitted signed request leaves.
SeenRequest MakeSeenRequest(const rules::Verified& verified, const EntryPlace& place);

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_ACCEPT_H_
