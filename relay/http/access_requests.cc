#include "relay/http/access_requests.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

// Abandoned request ids remembered for Approve's answer.
constexpr size_t kRememberedAbandoned = 1024;

}  // namespace

AccessRequests::AccessRequests(ApiKeys* api_keys, Options options)
    : api_keys_(api_keys), options_(options) {}

void AccessRequests::CountOutcome(const char* outcome) {
  MetricsRegistry::Default()
      .GetCounter("fedrelay_integration_access_requests_total",
                  "Integration access requests by outcome: pending (opened), granted, denied, "
                  "timeout, abandoned (socket closed first), not_ready (relay stopped).",
                  {{"outcome", outcome}})
      .Increment();
}

AccessRequests::Opened AccessRequests::Open(AccessRequestInfo info, AccessDecisionSink sink) {
  Opened opened;
  const uint64_t now = options_.clock->NowMs();
  {
    absl::MutexLock lock(&mu_);
    if (by_client_.contains(info.client_id)) {
      opened.error_code = "request_pending";
      opened.message = absl::StrCat("clientId ", info.client_id,
                                    " already has an access request waiting for the operator");
      return opened;
    }
    if (auto it = ended_at_.find(info.client_id);
        it != ended_at_.end() && now < it->second + options_.cooldown_ms) {
      opened.error_code = "rate_limited";
      opened.message = absl::StrCat("clientId ", info.client_id, " may ask again in ",
                                    it->second + options_.cooldown_ms - now, " ms");
      return opened;
    }
    if (pending_.size() >= kMaxPendingRequests) {
      opened.error_code = "rate_limited";
      opened.message = "too many access requests are waiting for the operator";
      return opened;
    }
    info.request_id = NewCorrelationId();
    info.created_at_ms = now;
    opened.request_id = info.request_id;
    by_client_[info.client_id] = info.request_id;
    spdlog::info("integration access request {} from clientId {} at {} (scopes {})",
                 info.request_id, info.client_id, info.remote_address, info.scopes.size());
    const std::string id = info.request_id;  // `info` moves below
    pending_[id] = Pending{std::move(info), std::move(sink)};
  }
  CountOutcome("pending");
  return opened;
}

bool AccessRequests::TakeLocked(const std::string& request_id, Pending* out) {
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return false;
  *out = std::move(it->second);
  pending_.erase(it);
  by_client_.erase(out->info.client_id);
  ended_at_[out->info.client_id] = options_.clock->NowMs();
  return true;
}

void AccessRequests::Abandon(const std::string& request_id) {
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    if (!TakeLocked(request_id, &pending)) return;
    abandoned_.insert(request_id);
    abandoned_order_.push_back(request_id);
    while (abandoned_order_.size() > kRememberedAbandoned) {
      abandoned_.erase(abandoned_order_.front());
      abandoned_order_.pop_front();
    }
  }
  spdlog::info("integration access request {} abandoned: its socket closed", request_id);
  CountOutcome("abandoned");
}

std::vector<AccessRequestInfo> AccessRequests::List() const {
  std::vector<AccessRequestInfo> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, pending] : pending_) out.push_back(pending.info);
  }
  std::sort(out.begin(), out.end(), [](const AccessRequestInfo& a, const AccessRequestInfo& b) {
    return a.request_id < b.request_id;  // ULIDs sort by creation time
  });
  return out;
}

absl::Status AccessRequests::GoneOrUnknownLocked(const std::string& request_id) const {
  if (abandoned_.contains(request_id)) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("access request ", request_id,
                                  ": the integration's socket has closed; nothing was granted"));
  }
  return MakeError(ErrorCode::kNotFound,
                   absl::StrCat("no pending access request ", request_id,
                                " (unknown, already decided or timed out)"));
}

absl::StatusOr<ApiKeyInfo> AccessRequests::Approve(const std::string& request_id) {
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    if (!TakeLocked(request_id, &pending)) return GoneOrUnknownLocked(request_id);
  }
  absl::StatusOr<ApiKeys::Created> created =
      api_keys_->Create(absl::StrCat("integration:", pending.info.client_id), pending.info.scopes);
  if (!created.ok()) {
    // The socket still waits: it learns that the relay could not finish.
    pending.sink(AccessDecision{request_id, false, "", {}, kDeniedNotReady});
    CountOutcome("not_ready");
    return created.status();
  }
  AccessDecision decision{request_id, true, created->key, pending.info.scopes, ""};
  if (!pending.sink(decision)) {
    (void)api_keys_->Revoke(created->info.key_id);
    CountOutcome("abandoned");
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat("access request ", request_id,
                                  ": the integration's socket has closed; the key minted for it "
                                  "was revoked again"));
  }
  spdlog::info("integration access request {} granted: key {} for clientId {}", request_id,
               created->info.key_id, pending.info.client_id);
  CountOutcome("granted");
  return created->info;
}

absl::Status AccessRequests::Deny(const std::string& request_id) {
  Pending pending;
  {
    absl::MutexLock lock(&mu_);
    if (!TakeLocked(request_id, &pending)) return GoneOrUnknownLocked(request_id);
  }
  pending.sink(AccessDecision{request_id, false, "", {}, kDeniedByOperator});
  spdlog::info("integration access request {} denied by the operator", request_id);
  CountOutcome("denied");
  return absl::OkStatus();
}

void AccessRequests::Expire() {
  std::vector<Pending> expired;
  const uint64_t now = options_.clock->NowMs();
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    for (const auto& [id, pending] : pending_) {
      if (now >= pending.info.created_at_ms + options_.timeout_ms) ids.push_back(id);
    }
    for (const std::string& id : ids) {
      Pending pending;
      if (TakeLocked(id, &pending)) expired.push_back(std::move(pending));
    }
  }
  for (Pending& pending : expired) {
    spdlog::info("integration access request {} timed out", pending.info.request_id);
    pending.sink(AccessDecision{pending.info.request_id, false, "", {}, kDeniedTimeout});
    CountOutcome("timeout");
  }
}

void AccessRequests::FailAll() {
  std::vector<Pending> failed;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    for (const auto& [id, pending] : pending_) ids.push_back(id);
    for (const std::string& id : ids) {
      Pending pending;
      if (TakeLocked(id, &pending)) failed.push_back(std::move(pending));
    }
  }
  for (Pending& pending : failed) {
    pending.sink(AccessDecision{pending.info.request_id, false, "", {}, kDeniedNotReady});
    CountOutcome("not_ready");
  }
}

}  // namespace fedrelay::relay
