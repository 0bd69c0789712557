#include "relay/member/member_sessions.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/status_macros.h"
#include "federation/device_cert.h"
#include "federation/rules/rules.h"
#include "federation/signing.h"
#include "nlohmann/json.hpp"

namespace fedrelay::relay {
namespace {

constexpr absl::string_view kTokenPrefix = "ms_";
constexpr size_t kTokenSecretBytes = 32;
constexpr absl::string_view kSessionPrefix = "member/session/";
constexpr absl::string_view kLoginPrefix = "member/login/";
constexpr uint64_t kPurgeIntervalMs = 60000;

std::string SessionKey(absl::string_view token) {
  return absl::StrCat(kSessionPrefix, HexEncode(Sha256(token)));
}

absl::Status Unauthenticated() {
  return MakeError(ErrorCode::kUnauthenticated, "unknown, malformed or expired session token");
}

std::string Serialize(const MemberSession& session) {
  return nlohmann::json{{"user_id", session.user_id},
                        {"device_id", session.device_id},
                        {"device_pubkey", session.device_pubkey},
                        {"created_at", session.created_at_ms},
                        {"expires_at", session.expires_at_ms}}
      .dump();
}

absl::StatusOr<MemberSession> Parse(absl::string_view bytes) {
  const auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return MakeError(ErrorCode::kInternal, "corrupt member session record");
  }
  MemberSession session;
  session.user_id = json.value("user_id", "");
  session.device_id = json.value("device_id", "");
  session.device_pubkey = json.value("device_pubkey", "");
  session.created_at_ms = json.value("created_at", uint64_t{0});
  session.expires_at_ms = json.value("expires_at", uint64_t{0});
  return session;
}

}  // namespace

MemberSessions::MemberSessions(store::KeyValueStore* store, uint64_t session_ttl_ms,
                               uint64_t max_clock_skew_ms, const Clock* clock)
    : store_(store),
      session_ttl_ms_(session_ttl_ms),
      max_clock_skew_ms_(max_clock_skew_ms),
      clock_(clock) {}

absl::StatusOr<MemberSessions::Created> MemberSessions::Login(const MemberLogin& login) {
  // Validate: encodings first, so a garbled request is malformed, not stale.
  RETURN_IF_ERROR(federation::ParsePublicKeyHex(login.user_id, "user_id").status());
  ASSIGN_OR_RETURN(const std::string signature,
                   federation::ParseSignatureHex(login.signature_hex, "signature"));
  if (login.device_cert.device_id().empty()) {
    return MakeError(ErrorCode::kMalformed, "device_cert.device_id is empty");
  }
  const uint64_t now = clock_->NowMs();
  federation::rules::Context freshness;
  freshness.now_ms = now;
  freshness.max_clock_skew_ms = max_clock_skew_ms_;
  RETURN_IF_ERROR(federation::rules::CheckFreshness(login.timestamp, freshness));
  ASSIGN_OR_RETURN(const std::string device_key,
                   federation::ValidatedDeviceKey(login.device_cert, login.user_id, now));
  RETURN_IF_ERROR(federation::VerifyOrReject(
      device_key,
      federation::MemberSessionSigningBytes(login.user_id, login.device_cert.device_id(),
                                            login.timestamp),
      signature, "signature"));

  // Act: the replay check and the session are one synced write.
  Created created;
  created.token = absl::StrCat(kTokenPrefix, HexEncode(RandomBytes(kTokenSecretBytes)));
  MemberSession& session = created.session;
  session.user_id = login.user_id;
  session.device_id = login.device_cert.device_id();
  session.device_pubkey = login.device_cert.pubkey();
  session.created_at_ms = now;
  session.expires_at_ms = std::min(now + session_ttl_ms_, login.device_cert.expiry());

  const std::string login_key = absl::StrCat(kLoginPrefix, HexEncode(Sha256(signature)));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(auto seen, store_->Get(store::Table::kAux, login_key));
  if (seen.has_value()) {
    return MakeError(ErrorCode::kReplayed, "this login signature was already used");
  }
  store::WriteSet writes;
  // Kept until the signed timestamp leaves the freshness window; later the
  // freshness check refuses the signature anyway.
  writes.Put(store::Table::kAux, login_key, absl::StrCat(login.timestamp + max_clock_skew_ms_));
  writes.Put(store::Table::kAux, SessionKey(created.token), Serialize(session));
  RETURN_IF_ERROR(store_->Write(writes));
  if (now - last_purge_ms_ >= kPurgeIntervalMs) {
    last_purge_ms_ = now;
    // A failed purge only leaves expired records behind for the next one.
    (void)PurgeExpired(now);
  }
  return created;
}

absl::StatusOr<MemberSession> MemberSessions::Authenticate(absl::string_view token) const {
  if (!absl::StartsWith(token, kTokenPrefix) ||
      !HexDecode(token.substr(kTokenPrefix.size()), "session token", kTokenSecretBytes).ok()) {
    return Unauthenticated();
  }
  ASSIGN_OR_RETURN(auto bytes, store_->Get(store::Table::kAux, SessionKey(token)));
  if (!bytes.has_value()) return Unauthenticated();
  ASSIGN_OR_RETURN(MemberSession session, Parse(*bytes));
  if (clock_->NowMs() >= session.expires_at_ms) return Unauthenticated();
  return session;
}

absl::Status MemberSessions::PurgeExpired(uint64_t now_ms) {
  store::WriteSet writes;
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kSessionPrefix,
                               [&](absl::string_view key, absl::string_view value) {
                                 auto session = Parse(value);
                                 if (!session.ok() || session->expires_at_ms <= now_ms) {
                                   writes.Delete(store::Table::kAux, key);
                                 }
                                 return true;
                               }));
  RETURN_IF_ERROR(store_->Scan(store::Table::kAux, kLoginPrefix,
                               [&](absl::string_view key, absl::string_view value) {
                                 const auto expiry = ParseDecimalU64(value);
                                 if (!expiry.has_value() || *expiry < now_ms) {
                                   writes.Delete(store::Table::kAux, key);
                                 }
                                 return true;
                               }));
  return store_->Write(writes);
}

}  // namespace fedrelay::relay
