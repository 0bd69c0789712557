// Member channel sessions (POST /member/session, SPEC section 6): a device
// proves it holds K_dev of a cert that user_id's K_id signed, by signing
// SB("MemberSession", user_id, device_id, timestamp), and gets a bearer token.
//
// * The token is "ms_" + 64 lowercase hex (32 bytes from the kernel CSPRNG);
//   the relay stores only its SHA-256 (kAux "member/session/<sha256 hex>", JSON,
//   synced), so sessions survive a restart and a stolen store yields no token.
// * A session lives min(member.session_ttl_ms, the cert's expiry - now).
// * The same login signature twice within the freshness window is `replayed`
//   (kAux "member/login/<sha256 of signature>"), so a captured request cannot
//   mint a second session.
// * Expired sessions and login records are purged at most once a minute, by
//   the next login.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_MEMBER_MEMBER_SESSIONS_H_
#define FEDRELAY_RELAY_MEMBER_MEMBER_SESSIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "fedrelay/v1/fedrelay.pb.h"
#include "store/key_value_store.h"

namespace fedrelay::relay {

struct MemberSession {
  std::string user_id;    // hex K_id
  std::string device_id;  // the cert's device_id
  std::string device_pubkey;
  uint64_t created_at_ms = 0;
  uint64_t expires_at_ms = 0;
};

struct MemberLogin {
  std::string user_id;
  v1::DeviceCert device_cert;
  uint64_t timestamp = 0;
  std::string signature_hex;
};

class MemberSessions {
 public:
  MemberSessions(store::KeyValueStore* store, uint64_t session_ttl_ms, uint64_t max_clock_skew_ms,
                 const Clock* clock = &SystemClock());

  struct Created {
    std::string token;  // the secret: returned once, never stored or logged
    MemberSession session;
  };
  // Validates the login (encodings -> freshness -> device cert -> signature ->
  // replay) and stores a new session. Errors: kMalformed, kStaleTimestamp,
  // kInvalidDeviceCert, kBadSignature, kReplayed.
  absl::StatusOr<Created> Login(const MemberLogin& login);

  // The live session of a bearer token; kUnauthenticated for a malformed,
  // unknown or expired one (one message, so the answer reveals nothing).
  absl::StatusOr<MemberSession> Authenticate(absl::string_view token) const;

 private:
  absl::Status PurgeExpired(uint64_t now_ms);

  store::KeyValueStore* const store_;
  const uint64_t session_ttl_ms_;
  const uint64_t max_clock_skew_ms_;
  const Clock* const clock_;
  absl::Mutex mu_;  // serializes the replay check-and-set and purges
  uint64_t last_purge_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_MEMBER_MEMBER_SESSIONS_H_
