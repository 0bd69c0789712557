// The bridge outbox's internals, shared by its files (relay/downstream/):
// bridge_outbox.cc (the worker: entries -> notifications, the retry
// scheduler and the public API), bridge_outbox_codec.cc (the store records
// and the Messaging frames the relay sends) and bridge_outbox_frames.cc (the
// frames a bridge sends back). Not for use outside them.
//
// Store layout (Table::kAux, JSON values, synced writes):
//   bridge/binding/<user_id>      a BridgeBinding
//   bridge/item/<token>           a notification and its state
//   bridge/invite/<invite_id>     the token of the invite's notification (to mark it read)
//   bridge/conversations/<key_id> the latest ConversationsReport
//   bridge/watermark              last event id turned into notifications (decimal)
#ifndef FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_INTERNAL_H_
#define FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_INTERNAL_H_

#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/metrics.h"
#include "nlohmann/json.hpp"
#include "relay/downstream/bridge_outbox.h"

namespace fedrelay::relay {
namespace bridge_internal {


using nlohmann::json;

constexpr absl::string_view kBindingPrefix = "bridge/binding/";
constexpr absl::string_view kItemPrefix = "bridge/item/";
constexpr absl::string_view kInvitePrefix = "bridge/invite/";
constexpr absl::string_view kConversationsPrefix = "bridge/conversations/";
constexpr absl::string_view kWatermarkKey = "bridge/watermark";
constexpr size_t kMaxRecipientLength = 256;
constexpr uint64_t kCatchUpChunk = 256;
// Entries that concern nobody between two watermark writes (at most).
constexpr uint64_t kWatermarkEvery = 1024;

constexpr absl::string_view kSend = "send";      // SendMessage
constexpr absl::string_view kStatus = "status";  // UpdateMessagesStatus

// Notification states.
constexpr absl::string_view kQueued = "queued";
constexpr absl::string_view kSent = "sent";
constexpr absl::string_view kParked = "parked";
constexpr absl::string_view kSucceeded = "succeeded";
constexpr absl::string_view kFailed = "failed";

struct Item {
  std::string token;
  std::string kind;  // kSend or kStatus
  std::string key_id;
  std::string user_id;
  std::string recipient;
  std::string message;    // kSend: the text
  std::string status;     // kStatus: the JSON-encoded status string
  std::string invite_id;  // kSend of a DM invite
  uint64_t event_id = 0;
  std::string state;
  uint64_t attempts = 0;  // retryable failures so far
  uint64_t next_attempt_ms = 0;
  uint64_t created_at_ms = 0;
  uint64_t settled_at_ms = 0;
  std::string last_code;
  std::string last_message;
  bool read = false;
  // Memory only: when and on which bridge session (Core::sessions' id) it was
  // last sent; 0 = not sent by this process, so due once the bridge is there.
  // A notification is resent on a newer session of its key at once, and on
  // the same session only after resend_after_ms.
  uint64_t sent_at_ms = 0;
  uint64_t sent_on_session = 0;
};

// The store records (bridge_outbox_codec.cc); Parse* answer kInternal for a corrupt record.
std::string SerializeItem(const Item& item);
absl::StatusOr<Item> ParseItem(absl::string_view bytes);
std::string SerializeBinding(const BridgeBinding& b);
absl::StatusOr<BridgeBinding> ParseBinding(absl::string_view bytes);
std::string SerializeConversations(const BridgeConversations& c);
absl::StatusOr<BridgeConversations> ParseConversations(absl::string_view bytes);

bool IsLowerHex(absl::string_view text, size_t length);
// The first 16 characters of a hex id, for logs.
std::string Short(const std::string& hex);

// The Messaging envelope every frame the relay sends travels in.
std::string Frame(absl::string_view action, json payload);

// The user a durable entry concerns and the text they get, if any.
struct Concern {
  std::string user_id;
  std::string message;
  std::string invite_id;
};
std::optional<Concern> ConcernOf(const v1::LogEntry& entry);
// The invite an accept or reject decides.
std::optional<std::string> DecidedInviteOf(const v1::LogEntry& entry);

// Work for the worker thread.
struct EntriesWork {
  std::vector<std::shared_ptr<const v1::LogEntry>> entries;
};
struct FrameWork {
  uint64_t session = 0;
  std::string key_id;
  std::string text;
};
struct AttachWork {
  uint64_t session = 0;
  std::string key_id;
};
struct ConversationsWork {
  std::string key_id;
  std::string token;
};
using Work = std::variant<EntriesWork, FrameWork, AttachWork, ConversationsWork>;

struct Session {
  std::string key_id;
  std::shared_ptr<WebSocketConnection> connection;
  // Unknown until the bridge's first UpdateMessagingEndpointState.
  std::optional<bool> connected;
  std::optional<bool> send_permission;
  bool MaySend() const { return connected.value_or(true) && send_permission.value_or(true); }
};

}  // namespace bridge_internal

struct BridgeOutbox::Core {
  explicit Core(const BridgeOptions& opts)
      : options(opts),
        rng(std::random_device{}()),
        queued_total(MetricsRegistry::Default().GetCounter(
            "fedrelay_bridge_queued_total", "Bridge notifications queued in the outbox.")),
        sent_total(MetricsRegistry::Default().GetCounter(
            "fedrelay_bridge_sent_total", "SendMessage/UpdateMessagesStatus frames sent (resends included).")),
        succeeded_total(MetricsRegistry::Default().GetCounter(
            "fedrelay_bridge_succeeded_total", "Bridge notifications the bridge reported sent.")),
        final_failures_total(MetricsRegistry::Default().GetCounter(
            "fedrelay_bridge_final_failures_total",
            "Bridge notifications given up after bridge.max_attempts failures.")),
        parked_gauge(MetricsRegistry::Default().GetGauge(
            "fedrelay_bridge_parked", "Notifications parked until the bridge reports sendPermission ON.")),
        backlog_age_gauge(MetricsRegistry::Default().GetGauge(
            "fedrelay_bridge_retry_backlog_age_seconds",
            "Age of the oldest notification waiting for a retry or parked (0 = none).")),
        sessions_gauge(MetricsRegistry::Default().GetGauge("fedrelay_bridge_sessions",
                                                           "Open /v1/bridge WebSockets.")) {}

  Counter& FailedTotal(absl::string_view code) {
    return MetricsRegistry::Default().GetCounter("fedrelay_bridge_failed_total",
                                                 "Failure replies from bridges, by ErrorCode.",
                                                 {{"code", std::string(code)}});
  }
  Counter& BadFrame(absl::string_view reason) {
    return MetricsRegistry::Default().GetCounter(
        "fedrelay_bridge_bad_frames_total",
        "Bridge frames ignored: malformed, unknown_action, unknown_token, stale_reply.",
        {{"reason", std::string(reason)}});
  }

  absl::Status Load();
  void Run();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stopping || !inbox.empty(); }
  void Post(bridge_internal::Work work) {
    absl::MutexLock lock(&mu);
    if (!stopping) inbox.push_back(std::move(work));
  }

  // Worker-only.
  void HandleEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);
  void CatchUpTo(uint64_t last_event_id);
  void ProcessEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);
  void HandleFrame(const bridge_internal::FrameWork& frame);
  void HandleReply(const std::string& key_id, const std::string& action, const bridge_internal::json& payload);
  void HandleEndpointState(uint64_t session, const std::string& key_id, const bridge_internal::json& payload);
  void HandleConversationsReport(const std::string& key_id, const bridge_internal::json& payload);
  void HandleAttach(const bridge_internal::AttachWork& attach);
  void SendConversationsRequest(const std::string& key_id, const std::string& token);
  void Pump();
  // When the next retry or resend to a key in `sendable` falls due (at most 1 s ahead).
  uint64_t NextWakeMs(const std::set<std::string>& sendable) const;
  uint64_t BackoffMs(uint64_t attempts);
  bool Persist(const bridge_internal::Item& item);
  void UpdateGauges();
  std::optional<bridge_internal::Item> LoadItem(const std::string& token) const;

  const BridgeOptions options;
  std::mt19937_64 rng;
  Counter& queued_total;
  Counter& sent_total;
  Counter& succeeded_total;
  Counter& final_failures_total;
  Gauge& parked_gauge;
  Gauge& backlog_age_gauge;
  Gauge& sessions_gauge;

  mutable absl::Mutex mu;
  std::deque<bridge_internal::Work> inbox ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::map<uint64_t, bridge_internal::Session> sessions ABSL_GUARDED_BY(mu);
  uint64_t next_session ABSL_GUARDED_BY(mu) = 1;
  std::map<std::string, BridgeConversations> conversations ABSL_GUARDED_BY(mu);
  std::map<std::string, BridgeBinding> bindings ABSL_GUARDED_BY(mu);
  absl::Mutex bind_mu;  // serializes binding writes

  // Owned by the worker thread.
  std::map<std::string, bridge_internal::Item> pending;  // unfinished notifications by token
  uint64_t watermark = 0;         // last event id processed
  uint64_t stored_watermark = 0;  // ... as stored
  uint64_t watermark_stored_at_ms = 0;
  std::thread worker;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_INTERNAL_H_
