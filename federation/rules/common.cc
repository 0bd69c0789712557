// Dispatch over the message kinds and the helpers the rule files share.
#include <variant>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/kinds.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace fedrelay::federation::rules {
namespace {

// SHA-256 of the kind and the deterministic serialization of the request as
// it is logged (a DM invite: token replaced by token_sha256): two submissions
// share it exactly when they log the same bytes, and re-deriving the log
// computes the same hash the relay stored in its seen-request memory.
std::string BodyHash(const v1::LogEntry& logged_request) {
  return Sha256(absl::StrCat(logged_request.kind(), absl::string_view("\0", 1),
                             SerializeDeterministic(logged_request)));
}

}  // namespace

absl::StatusOr<Verified> Validate(const Submission& submission, const Context& ctx) {
  return std::visit(
      [&ctx](const auto& request) -> absl::StatusOr<Verified> {
        using Traits = KindTraits<std::decay_t<decltype(request)>>;  // federation/kinds.h
        absl::StatusOr<Verified> verified = Traits::Validate(request, ctx);
        if (!verified.ok()) return verified;
        verified->entry.set_kind(std::string(Traits::kName));
        verified->body_hash = BodyHash(verified->entry);
        return verified;
      },
      submission);
}

absl::StatusOr<Verified> ValidateLogged(const v1::LogEntry& entry, absl::string_view relay_public_key,
                                        const Context& ctx) {
  switch (entry.request_case()) {
    case v1::LogEntry::kFederationRequest:
      return Validate(entry.federation_request(), ctx);
    case v1::LogEntry::kBan:
      return Validate(entry.ban(), ctx);
    case v1::LogEntry::kDmInvite:
      return Validate(entry.dm_invite(), ctx);
    case v1::LogEntry::kDmAccept:
      return Validate(entry.dm_accept(), ctx);
    case v1::LogEntry::kDmReject:
      return Validate(entry.dm_reject(), ctx);
    case v1::LogEntry::kMigration:
      return Validate(entry.migration(), ctx);
    case v1::LogEntry::kProfile:
      return Validate(entry.profile(), ctx);
    case v1::LogEntry::kOperatorAction:
      return ValidateOperatorAction(entry.operator_action(), relay_public_key);
    case v1::LogEntry::REQUEST_NOT_SET:
      break;
  }
  return MakeError(ErrorCode::kMalformed, "log entry carries no request");
}

absl::Status Decide(const StateView& state, const Verified& verified, uint64_t event_id,
                    Decision* decision) {
  switch (verified.entry.request_case()) {
    case v1::LogEntry::kFederationRequest:
      return DecideFederationRequest(state, verified, decision);
    case v1::LogEntry::kBan:
      return DecideBan(state, verified, decision);
    case v1::LogEntry::kDmInvite:
      return DecideDMInvite(state, verified, event_id, decision);
    case v1::LogEntry::kDmAccept:
    case v1::LogEntry::kDmReject:
      return DecideDMDecision(state, verified, decision);
    case v1::LogEntry::kMigration:
      return DecideMigration(state, verified, decision);
    case v1::LogEntry::kProfile:
      return DecideProfile(state, verified, decision);
    case v1::LogEntry::kOperatorAction:
      return DecideOperatorAction(state, verified, decision);
    case v1::LogEntry::REQUEST_NOT_SET:
      break;
  }
  return MakeError(ErrorCode::kInternal, "verified request without a kind");
}

v1::LogEntry MakeEntry(const Verified& verified, std::vector<v1::StreamResponse> events,
                       uint64_t event_id, uint64_t received_at) {
  v1::LogEntry entry = verified.entry;
  entry.set_event_id(event_id);
  entry.set_received_at(received_at);
  for (v1::StreamResponse& event : events) {
    event.set_event_id(event_id);
    event.mutable_timestamp()->set_seconds(static_cast<int64_t>(received_at / 1000));
    event.mutable_timestamp()->set_nanos(static_cast<int32_t>(received_at % 1000) * 1000000);
    *entry.add_events() = std::move(event);
  }
  return entry;
}

uint64_t SeenRequestExpiry(const Verified& verified, uint64_t max_clock_skew_ms) {
  return verified.timestamp + max_clock_skew_ms;
}

absl::Status CheckFreshness(uint64_t timestamp, const Context& ctx) {
  const uint64_t distance =
      timestamp > ctx.now_ms ? timestamp - ctx.now_ms : ctx.now_ms - timestamp;
  if (distance <= ctx.max_clock_skew_ms) return absl::OkStatus();
  return MakeError(ErrorCode::kStaleTimestamp,
                   absl::StrCat("timestamp ", timestamp, " is ", distance, " ms ",
                                timestamp > ctx.now_ms ? "ahead of" : "behind", " relay time ",
                                ctx.now_ms, " (max skew ", ctx.max_clock_skew_ms, " ms)"));
}

absl::Status RequireNonEmpty(absl::string_view value, absl::string_view what) {
  if (!value.empty()) return absl::OkStatus();
  return MakeError(ErrorCode::kMalformed, absl::StrCat(what, " is empty"));
}

absl::StatusOr<std::string> VerifyWithHintedPeerKey(const Context& ctx, absl::string_view server_id,
                                                    absl::string_view claimed_key_hex,
                                                    absl::string_view signing_bytes,
                                                    absl::string_view signature) {
  if (ctx.hints == nullptr) return std::string();
  std::optional<PeerRecord> peer = ctx.hints->FindPeer(server_id);
  if (!peer.has_value() || (!claimed_key_hex.empty() && claimed_key_hex != peer->pubkey_hex)) {
    return std::string();  // Decide names the peer problem
  }
  ASSIGN_OR_RETURN(const std::string key, ParsePublicKeyHex(peer->pubkey_hex, "pinned peer key"));
  RETURN_IF_ERROR(VerifyOrReject(key, signing_bytes, signature, "server signature"));
  return std::move(peer->pubkey_hex);
}

absl::StatusOr<PeerRecord> CheckPeerSigner(const StateView& state, const Verified& verified,
                                           absl::string_view server_id,
                                           absl::string_view claimed_key_hex,
                                           absl::string_view signing_bytes,
                                           absl::string_view signature) {
  std::optional<PeerRecord> peer = state.FindPeer(server_id);
  if (!peer.has_value()) {
    return MakeError(ErrorCode::kUnknownPeer,
                     absl::StrCat("origin_server_id '", server_id, "' is not a known peer"));
  }
  if (!claimed_key_hex.empty() && claimed_key_hex != peer->pubkey_hex) {
    return MakeError(ErrorCode::kKeyMismatch,
                     absl::StrCat("origin_server_pubkey is not the key pinned for '", server_id,
                                  "'"));
  }
  if (verified.verified_signer_hex != peer->pubkey_hex) {
    // The peer was added or re-keyed after Validate looked: verify here.
    ASSIGN_OR_RETURN(const std::string key, ParsePublicKeyHex(peer->pubkey_hex, "pinned peer key"));
    RETURN_IF_ERROR(VerifyOrReject(key, signing_bytes, signature, "server signature"));
  }
  return *std::move(peer);
}

v1::User FederatedUser(absl::string_view user_id) {
  v1::User user;
  user.set_id(std::string(user_id));
  user.set_id_pubkey(std::string(user_id));
  return user;
}

std::string KindName(v1::LogEntry::RequestCase request_case) {
  const google::protobuf::FieldDescriptor* field =
      v1::LogEntry::descriptor()->FindFieldByNumber(static_cast<int>(request_case));
  return field == nullptr ? std::string() : field->name();
}

std::string SerializeDeterministic(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace fedrelay::federation::rules
