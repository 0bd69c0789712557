// fedrelay's typed errors (SPEC section 5). Every rejection is an absl::Status
// whose message starts with a machine code ("stale_timestamp: ...") and whose
// canonical code is the gRPC code the spec assigns to that machine code. Each
// transport turns a Status into its wire error in one place using these helpers.
#ifndef FEDRELAY_BASE_ERRORS_H_
#define FEDRELAY_BASE_ERRORS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedrelay {

// Machine codes. The table in errors.cc gives each its canonical code and HTTP status.
enum class ErrorCode {
  kMalformed,          // INVALID_ARGUMENT: unparsable or out-of-contract input
  kBadSignature,       // UNAUTHENTICATED: signature does not verify
  kUnknownPeer,        // UNAUTHENTICATED: origin_server_id is not a known peer
  kKeyMismatch,        // UNAUTHENTICATED: origin_server_pubkey is not the pinned key
  kInvalidDeviceCert,  // UNAUTHENTICATED: cert signature bad, wrong K_id, or outside its validity
  kUnauthenticated,    // UNAUTHENTICATED: missing or bad credential (API key, Call signature, session)
  kNotAuthorized,      // PERMISSION_DENIED: e.g. ban from a peer without may_ban for the guild
  kBanned,             // PERMISSION_DENIED: (user, guild) is banned
  kNotInviteTarget,    // PERMISSION_DENIED: decision signed by someone other than the invite's target
  kWrongInviter,       // PERMISSION_DENIED: inviter_id / inviter_pubkey / cert owner disagree
  kMembershipInactive, // PERMISSION_DENIED: member channel call for a guild the user is banned from
  kStaleTimestamp,     // FAILED_PRECONDITION: outside the freshness window
  kReplayed,           // FAILED_PRECONDITION: same signature seen within the window
  kStaleMigration,     // FAILED_PRECONDITION: migration timestamp not newer than the last
  kEquivocation,       // FAILED_PRECONDITION: two migration targets at the same timestamp
  kStaleUpdate,        // FAILED_PRECONDITION: profile timestamp not newer than the last
  kAlreadyDecided,     // FAILED_PRECONDITION: invite is no longer pending
  kUnknownInvite,      // FAILED_PRECONDITION: no such invite
  kDuplicateInvite,    // FAILED_PRECONDITION: invite_id reused with a different body
  kInvalidCursor,      // INVALID_ARGUMENT: cursor ahead of the log or for another user
  kNotFound,           // NOT_FOUND: no such resource (HTTP 404)
  kPayloadTooLarge,    // INVALID_ARGUMENT (HTTP 413)
  kRateLimited,        // RESOURCE_EXHAUSTED: with a retry delay
  kUnavailable,        // UNAVAILABLE: shutting down or not ready
  kInternal,           // INTERNAL: a bug or a storage failure
  kConflict,           // FAILED_PRECONDITION: an operator change that clashes with the current state
                       //   (admin service only: peer exists, no such change to make)
};

// "stale_timestamp" etc.
absl::string_view ErrorCodeName(ErrorCode code);

// A Status with the canonical code for `code` and message "<name>: <detail>".
absl::Status MakeError(ErrorCode code, absl::string_view detail);
// As MakeError(kRateLimited, ...), carrying the retry delay (see RetryAfterMs).
absl::Status RateLimitedError(absl::string_view detail, uint64_t retry_after_ms);

// The machine code at the start of a Status message; for a Status not made
// here, a code derived from its canonical code (e.g. INVALID_ARGUMENT -> "malformed").
std::string MachineCode(const absl::Status& status);
// The message without its machine-code prefix.
std::string HumanMessage(const absl::Status& status);
// The message as a transport sends it: always "<machine code>: <text>" (SPEC
// section 5), also for a Status that did not come from MakeError, e.g. a
// storage error passed up unchanged.
std::string WireMessage(const absl::Status& status);
// The retry delay of a RateLimitedError, if any.
std::optional<uint64_t> RetryAfterMs(const absl::Status& status);
// HTTP status for a Status (400/401/403/404/409/413/429/503/500).
int HttpStatusFor(const absl::Status& status);

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_ERRORS_H_
