// The messaging bridge's durable outbox (docs/bridge.md): for every durable
// log entry that concerns a user with a bridge binding (a DM invite to them,
// a ban of them, a migration of them) it keeps a notification in the store
// and sends it to that binding's bridge (a WebSocket on /v1/bridge,
// relay/http/bridge_ws.h) as a Messaging `SendMessage {token, message,
// recipients}` until the bridge settles it by token.
//
// Guarantees:
// * Nothing is lost: the outbox records in Table::kAux the last event id it
//   has turned into notifications (its watermark) together with the
//   notifications, in one synced write. On start it re-reads the log after
//   the watermark, so an entry that became durable just before a crash is
//   still notified.
// * No token's outcome is applied twice: a reply is applied only to a
//   notification that is in flight (state "sent"); the new state is written
//   synced before anything else happens. Duplicate and late replies are
//   counted and ignored.
// * An unanswered SendMessage is resent with the same token (after
//   `resend_after_ms`, on reconnect and after a restart), so a bridge can drop
//   duplicates.
// * Nothing is sent while the bridge reports connectionState DISCONNECTED or
//   sendPermission OFF. Before its first report the state is unknown and the
//   outbox sends (docs/protocol-notes.md, "Messaging bridge").
//
// Threading: one worker thread owns the notifications and does every store
// write and every send; OnDurable, the WebSocket callbacks and the admin calls
// only queue work for it (OnDurable never blocks on I/O).
//
// Thread-safety: all public methods are thread-safe.
#ifndef FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_H_
#define FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/clock.h"
#include "federation/federation.h"
#include "relay/auth/api_keys.h"
#include "relay/http/http_server.h"
#include "store/log_store.h"

namespace fedrelay::relay {

struct BridgeOptions {
  store::LogStore* store = nullptr;  // required
  ApiKeys* api_keys = nullptr;       // required: bindings name a live key
  const Clock* clock = &SystemClock();
  // Retry of NO_CONNECTIVITY / GENERIC_FAILURE: the n-th failure waits a
  // random time in [d/2, d], d = min(retry_max_delay_ms, retry_base_delay_ms * 2^(n-1)).
  uint64_t retry_base_delay_ms = 1000;
  uint64_t retry_max_delay_ms = 300000;
  // After this many failures the notification fails for good.
  uint64_t max_attempts = 8;
  // A SendMessage without an answer after this long is sent again (same token).
  uint64_t resend_after_ms = 60000;
};

// A user whose notifications go to the bridge holding API key `key_id`.
struct BridgeBinding {
  std::string user_id;    // 64 lowercase hex (the user's K_id)
  std::string key_id;     // the bridge's API key id
  std::string recipient;  // the address the bridge sends to (e.g. a phone number)
  uint64_t created_at_ms = 0;
};

// The latest ConversationsReport of a bridge, as received.
struct BridgeConversations {
  std::string key_id;
  std::string token;          // "" when the bridge sent it unprompted
  std::string conversations;  // the JSON-encoded string, verbatim
  uint64_t received_at_ms = 0;
};

// One notification, for the operator.
struct BridgeNotification {
  std::string token;
  std::string kind;  // "send" (SendMessage) or "status" (UpdateMessagesStatus)
  std::string user_id;
  std::string key_id;
  uint64_t event_id = 0;
  std::string state;  // queued, sent, parked, succeeded, failed
  uint64_t attempts = 0;
  std::string last_code;
  bool read = false;
};

class BridgeOutbox final : public federation::EventSink {
 public:
  // Loads the bindings and unfinished notifications and starts the worker,
  // which first catches up with the log after the stored watermark.
  static absl::StatusOr<std::unique_ptr<BridgeOutbox>> Open(const BridgeOptions& options);
  ~BridgeOutbox() override;  // Shutdown()s

  // Queues the entries for the worker (never blocks on I/O).
  void OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) override;

  // Operator commands. Bind replaces the user's earlier binding (one per user);
  // kMalformed for a bad user id or recipient, kNotFound for an unknown or
  // revoked key id. Unbind: kNotFound when the user has no binding.
  absl::StatusOr<BridgeBinding> Bind(const std::string& user_id, const std::string& key_id,
                                     const std::string& recipient);
  absl::Status Unbind(const std::string& user_id);
  std::vector<BridgeBinding> Bindings() const;
  // Asks the bridge of `key_id` for its conversations (UploadConversations)
  // when `refresh` and it is connected, waits up to `wait` for the report,
  // then returns the latest stored report (nullopt: none yet). kUnavailable
  // when `refresh` was asked but the bridge is not connected.
  absl::StatusOr<std::optional<BridgeConversations>> Conversations(const std::string& key_id,
                                                                   bool refresh,
                                                                   std::chrono::milliseconds wait);
  // Notifications, oldest first (unfinished and finished).
  absl::StatusOr<std::vector<BridgeNotification>> Notifications() const;

  // A bridge WebSocket of API key `key_id` opened; returns its session id. A
  // newer session of the same key replaces (closes) older ones.
  uint64_t Attach(const std::string& key_id, std::shared_ptr<WebSocketConnection> connection);
  // One text frame from the bridge. Malformed frames are logged and counted.
  void OnFrame(uint64_t session, std::string frame);
  void Detach(uint64_t session);
  // Returns once the worker has handled everything queued before the call
  // (or the outbox is stopping). For the fuzz target (tests/fuzz/), which
  // must not queue frames faster than the worker handles them.
  void WaitIdle();
  // Closes every session of the key (API key revoked).
  void CloseSessionsOf(const std::string& key_id);

  // Stops the worker; later calls queue nothing. Idempotent.
  void Shutdown();

  struct Core;

 private:
  explicit BridgeOutbox(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  std::shared_ptr<Core> core_;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DOWNSTREAM_BRIDGE_OUTBOX_H_
