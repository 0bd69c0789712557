#include "relay/auth/downstream_auth.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/signing.h"

namespace fedrelay::relay {
namespace {

constexpr absl::string_view kAuthorizationHeader = "authorization";
using federation::kCallOriginHeader;
using federation::kCallSignatureHeader;
using federation::kCallTimestampHeader;
constexpr absl::string_view kBearer = "bearer ";

absl::Status Unauthenticated(absl::string_view detail) {
  return MakeError(ErrorCode::kUnauthenticated, detail);
}

}  // namespace

DownstreamCredentials DownstreamCredentials::FromGrpc(const grpc::CallbackServerContext& context) {
  DownstreamCredentials credentials;
  const auto& metadata = context.client_metadata();
  auto read = [&](absl::string_view name, std::optional<std::string>* out) {
    const grpc::string_ref key(name.data(), name.size());
    const auto [begin, end] = metadata.equal_range(key);
    for (auto it = begin; it != end; ++it) {
      if (out->has_value()) credentials.ambiguous = true;
      *out = std::string(it->second.data(), it->second.size());
    }
  };
  read(kAuthorizationHeader, &credentials.authorization);
  read(kCallOriginHeader, &credentials.origin);
  read(kCallTimestampHeader, &credentials.timestamp);
  read(kCallSignatureHeader, &credentials.signature);
  return credentials;
}

DownstreamAuthenticator::DownstreamAuthenticator(const federation::Federation* federation,
                                                 const ApiKeys* api_keys, Options options)
    : federation_(federation), api_keys_(api_keys), options_(std::move(options)) {}

absl::StatusOr<Principal> DownstreamAuthenticator::Authenticate(
    const DownstreamCredentials& credentials, absl::string_view method) const {
  if (credentials.ambiguous) return Unauthenticated("a credential header appears more than once");
  if (credentials.authorization.has_value()) return AuthenticateKey(*credentials.authorization);
  if (credentials.origin.has_value() || credentials.timestamp.has_value() ||
      credentials.signature.has_value()) {
    return AuthenticateCall(credentials, method);
  }
  return Unauthenticated(
      "no credential: send 'authorization: Bearer <api key>' or a peer Call signature");
}

absl::StatusOr<Principal> DownstreamAuthenticator::AuthenticateKey(
    absl::string_view authorization) const {
  // The auth scheme is case-insensitive (RFC 9110 section 11.1).
  if (authorization.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(authorization.substr(0, kBearer.size()), kBearer)) {
    return Unauthenticated("authorization must be 'Bearer <api key>'");
  }
  if (api_keys_ == nullptr) return Unauthenticated("API keys are not enabled");
  ASSIGN_OR_RETURN(ApiKeyInfo info, api_keys_->Authenticate(authorization.substr(kBearer.size())));
  Principal principal;
  principal.identity = absl::StrCat("key:", info.key_id);
  principal.key_id = info.key_id;
  principal.full_access = info.HasScope(kScopeRestFull);
  return principal;
}

absl::StatusOr<Principal> DownstreamAuthenticator::AuthenticateCall(
    const DownstreamCredentials& credentials, absl::string_view method) const {
  if (!credentials.origin.has_value() || !credentials.timestamp.has_value() ||
      !credentials.signature.has_value()) {
    return Unauthenticated(absl::StrCat("a Call signature needs ", kCallOriginHeader, ", ",
                                        kCallTimestampHeader, " and ", kCallSignatureHeader));
  }
  const std::string& origin = *credentials.origin;
  const std::optional<uint64_t> timestamp = ParseDecimalU64(*credentials.timestamp);
  if (!timestamp.has_value()) {
    return Unauthenticated(absl::StrCat(kCallTimestampHeader, " must be decimal Unix milliseconds"));
  }
  const uint64_t now = options_.clock->NowMs();
  const uint64_t skew = now > *timestamp ? now - *timestamp : *timestamp - now;
  if (skew > options_.max_clock_skew_ms) {
    return Unauthenticated(absl::StrCat("Call timestamp ", *timestamp, " is ", skew,
                                        " ms away from the relay's clock (limit ",
                                        options_.max_clock_skew_ms, ")"));
  }
  auto signature = federation::ParseSignatureHex(*credentials.signature, kCallSignatureHeader);
  if (!signature.ok()) return Unauthenticated(HumanMessage(signature.status()));
  const std::optional<federation::PeerInfo> peer = federation_->Peer(origin);
  if (!peer.has_value()) return Unauthenticated(absl::StrCat("'", origin, "' is not a known peer"));
  auto public_key = federation::ParsePublicKeyHex(peer->pubkey_hex, "pinned peer key");
  if (!public_key.ok()) return Unauthenticated("the peer's pinned key is unusable");
  const std::string message =
      federation::CallSigningBytes(origin, options_.server_id, method, *timestamp);
  if (!Ed25519Verify(*public_key, message, *signature)) {
    return Unauthenticated(absl::StrCat("Call signature of '", origin, "' for ", method,
                                        " does not verify under its pinned key"));
  }
  Principal principal;
  principal.identity = absl::StrCat("peer:", origin);
  principal.peer_server_id = origin;
  return principal;
}

}  // namespace fedrelay::relay
