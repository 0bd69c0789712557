// Pending integration access requests (the /v1/ws `request_access` flow,
// docs/integrations.md): an integration asks, the operator answers with
// `fedrelay-ctl access approve|deny REQUEST_ID`, and the waiting socket learns
// the outcome. Requests live in memory only: a request dies with its socket
// (Abandon) or with the relay (FailAll), so a key is only ever minted for a
// socket that is still there to receive it.
//
// Rules: one pending request per clientId (`request_pending`); after a
// clientId's request ended, a new one inside `cooldown_ms` is `rate_limited`,
// and so is any request while kMaxPendingRequests are pending. A request no
// operator answers within `timeout_ms` is denied with reason `timeout` (Expire).
//
// Thread-safety: all methods are thread-safe. Decision callbacks run on the
// deciding thread (admin RPC, Expire's caller) with no internal lock held.
#ifndef FEDRELAY_RELAY_HTTP_ACCESS_REQUESTS_H_
#define FEDRELAY_RELAY_HTTP_ACCESS_REQUESTS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "relay/auth/api_keys.h"

namespace fedrelay::relay {

// access_denied reasons (SPEC 6).
inline constexpr char kDeniedByOperator[] = "user_denied";
inline constexpr char kDeniedTimeout[] = "timeout";
inline constexpr char kDeniedNotReady[] = "not_ready";

struct AccessRequestInfo {
  std::string request_id;    // "req_<ulid>"
  std::string client_id;     // validated slug or reverse-DNS name
  std::string display_name;  // as the integration sent it: shown, never trusted
  std::vector<std::string> scopes;
  std::string remote_address;  // "ip:port" of the requesting socket
  uint64_t created_at_ms = 0;
};

// What the waiting socket learns. `api_key` is set only when granted.
struct AccessDecision {
  std::string request_id;
  bool granted = false;
  std::string api_key;  // the secret, shown this once
  std::vector<std::string> scopes;
  std::string reason;  // when denied: kDeniedByOperator, kDeniedTimeout, kDeniedNotReady
};

// Delivers a decision to the socket. Returns false when the socket can no
// longer take it (closed): a granted key is then revoked again.
using AccessDecisionSink = std::function<bool(const AccessDecision&)>;

class AccessRequests {
 public:
  static constexpr size_t kMaxPendingRequests = 256;

  struct Options {
    uint64_t timeout_ms = 600000;
    uint64_t cooldown_ms = 30000;
    const Clock* clock = &SystemClock();
  };
  // `api_keys` mints granted keys and must outlive this.
  AccessRequests(ApiKeys* api_keys, Options options);

  // Why Open refused, as the integration error code.
  struct Opened {
    std::string request_id;  // set on success
    std::string error_code;  // "request_pending" or "rate_limited" on refusal
    std::string message;
  };
  Opened Open(AccessRequestInfo info, AccessDecisionSink sink);

  // The requesting socket went away: the request is dropped (and remembered
  // as abandoned so that an operator approving it learns why nothing happens).
  void Abandon(const std::string& request_id);

  std::vector<AccessRequestInfo> List() const;

  // Mints a key (name "integration:<clientId>", the request's scopes) and
  // hands it to the socket. kNotFound for an unknown or already decided id,
  // and (minting nothing, or revoking the key again) when the socket is gone;
  // the message tells which.
  absl::StatusOr<ApiKeyInfo> Approve(const std::string& request_id);
  // Denies with reason user_denied. kNotFound as Approve.
  absl::Status Deny(const std::string& request_id);

  // Denies (timeout) every request older than timeout_ms.
  void Expire();
  // Denies every pending request with reason not_ready (the relay stops).
  void FailAll();

 private:
  struct Pending {
    AccessRequestInfo info;
    AccessDecisionSink sink;
  };
  // Removes a pending request, starting its clientId's cooldown.
  bool TakeLocked(const std::string& request_id, Pending* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status GoneOrUnknownLocked(const std::string& request_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void CountOutcome(const char* outcome);

  ApiKeys* const api_keys_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);  // by request id
  absl::flat_hash_map<std::string, std::string> by_client_ ABSL_GUARDED_BY(mu_);  // client -> id
  absl::flat_hash_map<std::string, uint64_t> ended_at_ ABSL_GUARDED_BY(mu_);  // client -> ms
  // Recently abandoned request ids (bounded), for Approve's answer.
  absl::flat_hash_set<std::string> abandoned_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> abandoned_order_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_ACCESS_REQUESTS_H_
