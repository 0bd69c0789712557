#include "base/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fedrelay {
namespace {

struct ErrorInfo {
  ErrorCode code;
  absl::string_view name;
  absl::StatusCode status_code;
  int http_status;
};

// The one table of machine codes: name, gRPC code, HTTP status.
constexpr ErrorInfo kErrors[] = {
    {ErrorCode::kMalformed, "malformed", absl::StatusCode::kInvalidArgument, 400},
    {ErrorCode::kBadSignature, "bad_signature", absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kUnknownPeer, "unknown_peer", absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kKeyMismatch, "key_mismatch", absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kInvalidDeviceCert, "invalid_device_cert", absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kUnauthenticated, "unauthenticated", absl::StatusCode::kUnauthenticated, 401},
    {ErrorCode::kNotAuthorized, "not_authorized", absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kBanned, "banned", absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kNotInviteTarget, "not_invite_target", absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kWrongInviter, "wrong_inviter", absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kMembershipInactive, "membership_inactive", absl::StatusCode::kPermissionDenied, 403},
    {ErrorCode::kStaleTimestamp, "stale_timestamp", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kReplayed, "replayed", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kStaleMigration, "stale_migration", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kEquivocation, "equivocation", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kStaleUpdate, "stale_update", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kAlreadyDecided, "already_decided", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kUnknownInvite, "unknown_invite", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kDuplicateInvite, "duplicate_invite", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kInvalidCursor, "invalid_cursor", absl::StatusCode::kInvalidArgument, 400},
    {ErrorCode::kNotFound, "not_found", absl::StatusCode::kNotFound, 404},
    {ErrorCode::kPayloadTooLarge, "payload_too_large", absl::StatusCode::kInvalidArgument, 413},
    {ErrorCode::kRateLimited, "rate_limited", absl::StatusCode::kResourceExhausted, 429},
    {ErrorCode::kUnavailable, "unavailable", absl::StatusCode::kUnavailable, 503},
    {ErrorCode::kConflict, "conflict", absl::StatusCode::kFailedPrecondition, 409},
    {ErrorCode::kInternal, "internal", absl::StatusCode::kInternal, 500},
};

constexpr absl::string_view kRetryPayloadUrl = "fedrelay/retry_after_ms";

const ErrorInfo& InfoFor(ErrorCode code) {
  for (const auto& info : kErrors) {
    if (info.code == code) return info;
  }
  return kErrors[sizeof(kErrors) / sizeof(kErrors[0]) - 1];
}

const ErrorInfo* InfoForName(absl::string_view name) {
  for (const auto& info : kErrors) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

// The fallback machine code of a Status that did not come from MakeError.
ErrorCode CodeForStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return ErrorCode::kMalformed;
    case absl::StatusCode::kUnauthenticated:
      return ErrorCode::kUnauthenticated;
    case absl::StatusCode::kPermissionDenied:
      return ErrorCode::kNotAuthorized;
    case absl::StatusCode::kNotFound:
      return ErrorCode::kNotFound;
    case absl::StatusCode::kResourceExhausted:
      return ErrorCode::kRateLimited;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

// The "<name>" prefix of a message when it names a known machine code.
const ErrorInfo* PrefixInfo(const absl::Status& status) {
  const absl::string_view message = status.message();
  const size_t colon = message.find(':');
  if (colon == absl::string_view::npos) return nullptr;
  return InfoForName(message.substr(0, colon));
}

}  // namespace

absl::string_view ErrorCodeName(ErrorCode code) { return InfoFor(code).name; }

absl::Status MakeError(ErrorCode code, absl::string_view detail) {
  const ErrorInfo& info = InfoFor(code);
  return absl::Status(info.status_code, absl::StrCat(info.name, ": ", detail));
}

absl::Status RateLimitedError(absl::string_view detail, uint64_t retry_after_ms) {
  absl::Status status = MakeError(ErrorCode::kRateLimited,
                                  absl::StrCat(detail, " (retry after ", retry_after_ms, " ms)"));
  status.SetPayload(kRetryPayloadUrl, absl::Cord(absl::StrCat(retry_after_ms)));
  return status;
}

std::string MachineCode(const absl::Status& status) {
  if (status.ok()) return "ok";
  if (const ErrorInfo* info = PrefixInfo(status)) return std::string(info->name);
  return std::string(ErrorCodeName(CodeForStatus(status.code())));
}

std::string HumanMessage(const absl::Status& status) {
  if (PrefixInfo(status) == nullptr) return std::string(status.message());
  absl::string_view message = status.message();
  message.remove_prefix(message.find(':') + 1);
  if (!message.empty() && message.front() == ' ') message.remove_prefix(1);
  return std::string(message);
}

std::string WireMessage(const absl::Status& status) {
  if (PrefixInfo(status) != nullptr) return std::string(status.message());
  return absl::StrCat(MachineCode(status), ": ", status.message());
}

std::optional<uint64_t> RetryAfterMs(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryPayloadUrl);
  uint64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms)) return std::nullopt;
  return ms;
}

int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  if (const ErrorInfo* info = PrefixInfo(status)) return info->http_status;
  return InfoFor(CodeForStatus(status.code())).http_status;
}

}  // namespace fedrelay
