// The bridge outbox's worker (see bridge_outbox.h for the guarantees).
//
//   writer thread (OnDurable) --+
//   io threads (frames, open,   +--> inbox (mu_) --> worker: store writes, then sends
//     close)                    |
//   admin (bind, conversations) +
//
// Store layout (Table::kAux, JSON values, synced writes):
//   bridge/binding/<user_id>      a BridgeBinding
//   bridge/item/<token>           a notification and its state
//   bridge/invite/<invite_id>     the token of the invite's notification (to mark it read)
//   bridge/conversations/<key_id> the latest ConversationsReport
//   bridge/watermark              last event id turned into notifications (decimal)
#include "relay/downstream/bridge_outbox.h"

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <variant>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/encoding.h"
#include "base/errors.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {
namespace {

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
  uint64_t sent_at_ms = 0;  // memory only: 0 = due for (re)sending once the bridge is there
};

std::string SerializeItem(const Item& item) {
  return json{{"token", item.token},          {"kind", item.kind},
              {"key_id", item.key_id},        {"user_id", item.user_id},
              {"recipient", item.recipient},  {"message", item.message},
              {"status", item.status},        {"invite_id", item.invite_id},
              {"event_id", item.event_id},    {"state", item.state},
              {"attempts", item.attempts},    {"next_attempt_ms", item.next_attempt_ms},
              {"created_at", item.created_at_ms}, {"settled_at", item.settled_at_ms},
              {"last_code", item.last_code},  {"last_message", item.last_message},
              {"read", item.read}}
      .dump();
}

absl::StatusOr<Item> ParseItem(absl::string_view bytes) {
  const json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return MakeError(ErrorCode::kInternal, "corrupt bridge notification record");
  try {
    Item item;
    item.token = j.at("token").get<std::string>();
    item.kind = j.at("kind").get<std::string>();
    item.key_id = j.at("key_id").get<std::string>();
    item.user_id = j.at("user_id").get<std::string>();
    item.recipient = j.at("recipient").get<std::string>();
    item.message = j.at("message").get<std::string>();
    item.status = j.at("status").get<std::string>();
    item.invite_id = j.at("invite_id").get<std::string>();
    item.event_id = j.at("event_id").get<uint64_t>();
    item.state = j.at("state").get<std::string>();
    item.attempts = j.at("attempts").get<uint64_t>();
    item.next_attempt_ms = j.at("next_attempt_ms").get<uint64_t>();
    item.created_at_ms = j.at("created_at").get<uint64_t>();
    item.settled_at_ms = j.at("settled_at").get<uint64_t>();
    item.last_code = j.at("last_code").get<std::string>();
    item.last_message = j.at("last_message").get<std::string>();
    item.read = j.at("read").get<bool>();
    return item;
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("corrupt bridge notification record: ", e.what()));
  }
}

std::string SerializeBinding(const BridgeBinding& b) {
  return json{{"user_id", b.user_id}, {"key_id", b.key_id}, {"recipient", b.recipient},
              {"created_at", b.created_at_ms}}
      .dump();
}

absl::StatusOr<BridgeBinding> ParseBinding(absl::string_view bytes) {
  const json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  try {
    BridgeBinding b;
    b.user_id = j.at("user_id").get<std::string>();
    b.key_id = j.at("key_id").get<std::string>();
    b.recipient = j.at("recipient").get<std::string>();
    b.created_at_ms = j.at("created_at").get<uint64_t>();
    return b;
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("corrupt bridge binding record: ", e.what()));
  }
}

std::string SerializeConversations(const BridgeConversations& c) {
  return json{{"key_id", c.key_id}, {"token", c.token}, {"conversations", c.conversations},
              {"received_at", c.received_at_ms}}
      .dump();
}

absl::StatusOr<BridgeConversations> ParseConversations(absl::string_view bytes) {
  const json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  try {
    BridgeConversations c;
    c.key_id = j.at("key_id").get<std::string>();
    c.token = j.at("token").get<std::string>();
    c.conversations = j.at("conversations").get<std::string>();
    c.received_at_ms = j.at("received_at").get<uint64_t>();
    return c;
  } catch (const json::exception& e) {
    return MakeError(ErrorCode::kInternal, absl::StrCat("corrupt conversations record: ", e.what()));
  }
}

bool IsLowerHex(absl::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The Messaging envelope every frame travels in.
std::string Frame(absl::string_view action, json payload) {
  return json{{"header",
               {{"version", "4.0"},
                {"messageType", "Publish"},
                {"id", NewUlid()},
                {"messageDescription", {{"topic", "Messaging"}, {"action", std::string(action)}}}}},
              {"payload", std::move(payload)}}
      .dump();
}

std::string Short(const std::string& hex) { return hex.size() > 16 ? hex.substr(0, 16) : hex; }

// The user a durable entry concerns and the text they get, if any.
struct Concern {
  std::string user_id;
  std::string message;
  std::string invite_id;
};
std::optional<Concern> ConcernOf(const v1::LogEntry& entry) {
  if (entry.has_dm_invite()) {
    const auto& invite = entry.dm_invite();
    return Concern{invite.target_user_id(),
                   absl::StrCat("fedrelay: ", Short(invite.inviter_id()),
                                " invited you to a direct message in guild \"", invite.guild_name(),
                                "\" on ", invite.host_server_url(), " (invite ", invite.invite_id(),
                                ")"),
                   invite.invite_id()};
  }
  if (entry.has_ban()) {
    const auto& ban = entry.ban();
    return Concern{ban.banned_user_pubkey(),
                   absl::StrCat("fedrelay: you were banned from guild ", ban.guild_id(), " by ",
                                ban.origin_server_id(), ": ", ban.reason()),
                   ""};
  }
  if (entry.has_migration()) {
    const auto& migration = entry.migration();
    return Concern{migration.user_id(),
                   absl::StrCat("fedrelay: your homeserver is now ", migration.new_homeserver()), ""};
  }
  return std::nullopt;
}

std::optional<std::string> DecidedInviteOf(const v1::LogEntry& entry) {
  if (entry.has_dm_accept()) return entry.dm_accept().invite_id();
  if (entry.has_dm_reject()) return entry.dm_reject().invite_id();
  return std::nullopt;
}

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

}  // namespace

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
  void Post(Work work) {
    absl::MutexLock lock(&mu);
    if (!stopping) inbox.push_back(std::move(work));
  }

  // Worker-only.
  void HandleEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);
  void CatchUpTo(uint64_t last_event_id);
  void ProcessEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries);
  void HandleFrame(const FrameWork& frame);
  void HandleReply(const std::string& key_id, const std::string& action, const json& payload);
  void HandleEndpointState(uint64_t session, const std::string& key_id, const json& payload);
  void HandleConversationsReport(const std::string& key_id, const json& payload);
  void HandleAttach(const AttachWork& attach);
  void SendConversationsRequest(const std::string& key_id, const std::string& token);
  void Pump();
  // When the next retry or resend to a key in `sendable` falls due (at most 1 s ahead).
  uint64_t NextWakeMs(const std::set<std::string>& sendable) const;
  uint64_t BackoffMs(uint64_t attempts);
  bool Persist(const Item& item);
  void UpdateGauges();
  std::optional<Item> LoadItem(const std::string& token) const;

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
  std::deque<Work> inbox ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::map<uint64_t, Session> sessions ABSL_GUARDED_BY(mu);
  uint64_t next_session ABSL_GUARDED_BY(mu) = 1;
  std::map<std::string, BridgeConversations> conversations ABSL_GUARDED_BY(mu);
  std::map<std::string, BridgeBinding> bindings ABSL_GUARDED_BY(mu);
  absl::Mutex bind_mu;  // serializes binding writes

  // Owned by the worker thread.
  std::map<std::string, Item> pending;  // unfinished notifications by token
  uint64_t watermark = 0;         // last event id processed
  uint64_t stored_watermark = 0;  // ... as stored
  uint64_t watermark_stored_at_ms = 0;
  std::thread worker;
};

absl::Status BridgeOutbox::Core::Load() {
  store::LogStore& store = *options.store;
  ASSIGN_OR_RETURN(auto mark, store.Get(store::Table::kAux, kWatermarkKey));
  if (mark.has_value()) {
    auto parsed = ParseDecimalU64(*mark);
    if (!parsed.has_value()) return MakeError(ErrorCode::kInternal, "corrupt bridge watermark");
    watermark = *parsed;
    stored_watermark = watermark;
  }
  absl::Status parse_status;
  RETURN_IF_ERROR(store.Scan(store::Table::kAux, kItemPrefix, [&](absl::string_view, absl::string_view value) {
    auto item = ParseItem(value);
    if (!item.ok()) {
      parse_status = item.status();
      return false;
    }
    if (item->state != kSucceeded && item->state != kFailed) pending[item->token] = *std::move(item);
    return true;
  }));
  RETURN_IF_ERROR(parse_status);
  absl::MutexLock lock(&mu);
  RETURN_IF_ERROR(store.Scan(store::Table::kAux, kBindingPrefix, [&](absl::string_view, absl::string_view value) {
    auto binding = ParseBinding(value);
    if (!binding.ok()) {
      parse_status = binding.status();
      return false;
    }
    bindings[binding->user_id] = *std::move(binding);
    return true;
  }));
  RETURN_IF_ERROR(parse_status);
  RETURN_IF_ERROR(store.Scan(store::Table::kAux, kConversationsPrefix,
                             [&](absl::string_view, absl::string_view value) {
                               auto report = ParseConversations(value);
                               if (!report.ok()) {
                                 parse_status = report.status();
                                 return false;
                               }
                               conversations[report->key_id] = *std::move(report);
                               return true;
                             }));
  return parse_status;
}

void BridgeOutbox::Core::Run() {
  // Entries that became durable before a crash, or while this relay was not
  // running its outbox, are still in the log after the watermark.
  CatchUpTo(options.store->Size());
  for (;;) {
    std::deque<Work> work;
    {
      absl::MutexLock lock(&mu);
      const uint64_t now = options.clock->NowMs();
      std::set<std::string> sendable;
      for (const auto& [id, session] : sessions) {
        if (session.MaySend()) sendable.insert(session.key_id);
      }
      const uint64_t wake = NextWakeMs(sendable);
      const uint64_t wait_ms = wake > now ? std::min<uint64_t>(wake - now, 1000) : 0;
      if (wait_ms > 0) mu.AwaitWithTimeout(absl::Condition(this, &Core::HasWork), absl::Milliseconds(wait_ms));
      if (stopping) return;
      work.swap(inbox);
    }
    // Every entry of this round in one pass: one store write for all of them.
    std::vector<std::shared_ptr<const v1::LogEntry>> entries;
    for (const Work& item : work) {
      if (const auto* batch = std::get_if<EntriesWork>(&item)) {
        entries.insert(entries.end(), batch->entries.begin(), batch->entries.end());
      }
    }
    HandleEntries(entries);
    for (const Work& item : work) {
      if (std::holds_alternative<EntriesWork>(item)) {
        continue;
      } else if (const auto* frame = std::get_if<FrameWork>(&item)) {
        HandleFrame(*frame);
      } else if (const auto* attach = std::get_if<AttachWork>(&item)) {
        HandleAttach(*attach);
      } else if (const auto* request = std::get_if<ConversationsWork>(&item)) {
        SendConversationsRequest(request->key_id, request->token);
      }
    }
    Pump();
    UpdateGauges();
  }
}

uint64_t BridgeOutbox::Core::NextWakeMs(const std::set<std::string>& sendable) const {
  uint64_t wake = options.clock->NowMs() + 1000;
  for (const auto& [token, item] : pending) {
    if (sendable.count(item.key_id) == 0) continue;
    if (item.state == kQueued) wake = std::min(wake, item.next_attempt_ms);
    if (item.state == kSent) wake = std::min(wake, item.sent_at_ms + options.resend_after_ms);
  }
  return wake;
}

uint64_t BridgeOutbox::Core::BackoffMs(uint64_t attempts) {
  uint64_t delay = options.retry_base_delay_ms;
  for (uint64_t i = 1; i < attempts && delay < options.retry_max_delay_ms; ++i) delay *= 2;
  delay = std::min(delay, options.retry_max_delay_ms);
  // Jitter, so that bridges failing together do not retry together.
  std::uniform_int_distribution<uint64_t> jitter(delay / 2, delay);
  return jitter(rng);
}

bool BridgeOutbox::Core::Persist(const Item& item) {
  store::WriteSet writes;
  writes.Put(store::Table::kAux, absl::StrCat(kItemPrefix, item.token), SerializeItem(item));
  if (absl::Status status = options.store->Write(writes); !status.ok()) {
    spdlog::error("bridge: cannot store notification {}: {}", item.token, status.ToString());
    return false;
  }
  return true;
}

std::optional<Item> BridgeOutbox::Core::LoadItem(const std::string& token) const {
  auto bytes = options.store->Get(store::Table::kAux, absl::StrCat(kItemPrefix, token));
  if (!bytes.ok() || !bytes->has_value()) return std::nullopt;
  auto item = ParseItem(**bytes);
  if (!item.ok()) return std::nullopt;
  return *std::move(item);
}

void BridgeOutbox::Core::HandleEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  std::vector<std::shared_ptr<const v1::LogEntry>> fresh;
  for (const auto& entry : entries) {
    if (entry->event_id() <= watermark) continue;  // already read from the log
    if (entry->event_id() > watermark + 1 + fresh.size()) {
      // A gap: an earlier batch failed to store; read the missing part from the log.
      ProcessEntries(fresh);
      fresh.clear();
      CatchUpTo(entry->event_id() - 1);
      if (watermark != entry->event_id() - 1) return;  // still failing; the next batch retries
    }
    fresh.push_back(entry);
  }
  ProcessEntries(fresh);
}

void BridgeOutbox::Core::CatchUpTo(uint64_t last_event_id) {
  while (watermark < last_event_id) {
    const uint64_t begin = watermark;  // leaf index of event watermark + 1
    const uint64_t end = std::min(last_event_id, begin + kCatchUpChunk);
    std::vector<std::shared_ptr<const v1::LogEntry>> chunk;
    absl::Status status = options.store->ScanLeaves(begin, end, [&](uint64_t, absl::string_view leaf) {
      auto entry = std::make_shared<v1::LogEntry>();
      if (!entry->ParseFromArray(leaf.data(), static_cast<int>(leaf.size()))) return false;
      chunk.push_back(std::move(entry));
      return true;
    });
    if (!status.ok() || chunk.size() != end - begin) {
      spdlog::error("bridge: cannot read log entries {}..{}: {}", begin + 1, end,
                    status.ok() ? "unparsable leaf" : status.ToString());
      return;
    }
    const uint64_t before = watermark;
    ProcessEntries(chunk);
    if (watermark == before) return;  // store write failed
  }
}

void BridgeOutbox::Core::ProcessEntries(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  if (entries.empty()) return;
  std::map<std::string, BridgeBinding> bound;
  {
    absl::MutexLock lock(&mu);
    bound = bindings;
  }
  const uint64_t now = options.clock->NowMs();
  store::WriteSet writes;
  std::vector<Item> created;
  std::map<std::string, Item> updated;            // read-marked notifications
  std::map<std::string, std::string> invite_tokens;  // invites of this batch
  for (const auto& entry : entries) {
    if (auto concern = ConcernOf(*entry)) {
      auto binding = bound.find(concern->user_id);
      if (binding == bound.end()) continue;
      const std::string token = absl::StrCat("ntf-", entry->event_id());
      // Re-read after a crash whose write had landed: keep its state.
      if (pending.count(token) > 0 || LoadItem(token).has_value()) continue;
      Item item;
      item.token = token;
      item.kind = std::string(kSend);
      item.key_id = binding->second.key_id;
      item.user_id = concern->user_id;
      item.recipient = binding->second.recipient;
      item.message = concern->message;
      item.invite_id = concern->invite_id;
      item.event_id = entry->event_id();
      item.state = std::string(kQueued);
      item.created_at_ms = now;
      if (!item.invite_id.empty()) {
        writes.Put(store::Table::kAux, absl::StrCat(kInvitePrefix, item.invite_id), item.token);
        invite_tokens[item.invite_id] = item.token;
      }
      created.push_back(std::move(item));
    } else if (auto invite_id = DecidedInviteOf(*entry)) {
      // The user acted on the invite: mark its notification read.
      std::string token;
      if (auto it = invite_tokens.find(*invite_id); it != invite_tokens.end()) {
        token = it->second;
      } else if (auto stored = options.store->Get(store::Table::kAux, absl::StrCat(kInvitePrefix, *invite_id));
                 stored.ok() && stored->has_value()) {
        token = **stored;
      }
      if (token.empty()) continue;
      std::optional<Item> notification;
      for (const Item& item : created) {
        if (item.token == token) notification = item;
      }
      if (auto it = updated.find(token); it != updated.end()) notification = it->second;
      if (!notification.has_value()) {
        if (auto it = pending.find(token); it != pending.end()) {
          notification = it->second;
        } else {
          notification = LoadItem(token);
        }
      }
      if (!notification.has_value() || notification->read) continue;
      notification->read = true;
      updated[token] = *notification;
      Item status;
      status.token = absl::StrCat("read-", entry->event_id());
      status.kind = std::string(kStatus);
      status.key_id = notification->key_id;
      status.user_id = notification->user_id;
      status.recipient = notification->recipient;
      status.status = json::array({{{"messageId", token}, {"status", "READ"}}}).dump();
      status.event_id = entry->event_id();
      status.state = std::string(kQueued);
      status.created_at_ms = now;
      created.push_back(std::move(status));
    }
  }
  // A notification created and read in this same batch is stored once, read.
  for (Item& item : created) {
    if (auto it = updated.find(item.token); it != updated.end()) {
      item.read = true;
      updated.erase(it);
    }
  }
  for (const Item& item : created) {
    writes.Put(store::Table::kAux, absl::StrCat(kItemPrefix, item.token), SerializeItem(item));
  }
  for (const auto& [token, item] : updated) {
    writes.Put(store::Table::kAux, absl::StrCat(kItemPrefix, token), SerializeItem(item));
  }
  const uint64_t last = entries.back()->event_id();
  // Entries that concern nobody only move the watermark; storing it now and
  // then is enough, since re-reading them after a crash creates nothing.
  if (writes.empty() && last < stored_watermark + kWatermarkEvery && now < watermark_stored_at_ms + 1000) {
    watermark = last;
    return;
  }
  writes.Put(store::Table::kAux, kWatermarkKey, std::to_string(last));
  if (absl::Status status = options.store->Write(writes); !status.ok()) {
    spdlog::error("bridge: cannot store notifications for events {}..{}: {}", entries.front()->event_id(),
                  last, status.ToString());
    return;  // the watermark stays; the entries are read from the log again
  }
  watermark = last;
  stored_watermark = last;
  watermark_stored_at_ms = now;
  for (auto& [token, item] : updated) {
    if (auto it = pending.find(token); it != pending.end()) it->second.read = true;
  }
  for (Item& item : created) {
    spdlog::info("bridge: queued {} {} for user {} (event {})", item.kind, item.token, Short(item.user_id),
                 item.event_id);
    queued_total.Increment();
    pending[item.token] = std::move(item);
  }
}

void BridgeOutbox::Core::HandleAttach(const AttachWork& attach) {
  // Whatever was in flight on an earlier connection is sent again, same token.
  for (auto& [token, item] : pending) {
    if (item.key_id == attach.key_id && item.state == kSent) item.sent_at_ms = 0;
  }
  SendConversationsRequest(attach.key_id, absl::StrCat("conv-", NewUlid()));
}

void BridgeOutbox::Core::SendConversationsRequest(const std::string& key_id, const std::string& token) {
  std::shared_ptr<WebSocketConnection> connection;
  {
    absl::MutexLock lock(&mu);
    for (auto it = sessions.rbegin(); it != sessions.rend(); ++it) {
      if (it->second.key_id == key_id) {
        // Nothing at all goes to an endpoint that reported DISCONNECTED or
        // sendPermission OFF (SPEC 6), this request included.
        if (it->second.MaySend()) connection = it->second.connection;
        break;
      }
    }
  }
  if (connection) connection->Send(Frame("UploadConversations", {{"token", token}}));
}

void BridgeOutbox::Core::Pump() {
  std::map<std::string, Session> open;  // key id -> its (latest) session
  {
    absl::MutexLock lock(&mu);
    for (const auto& [id, session] : sessions) open[session.key_id] = session;
  }
  if (open.empty()) return;
  const uint64_t now = options.clock->NowMs();
  std::vector<Item*> due;
  for (auto& [token, item] : pending) {
    auto session = open.find(item.key_id);
    if (session == open.end() || !session->second.MaySend()) continue;
    const bool first = item.state == kQueued && item.next_attempt_ms <= now;
    const bool resend = item.state == kSent && (item.sent_at_ms == 0 || now >= item.sent_at_ms + options.resend_after_ms);
    if (first || resend) due.push_back(&item);
  }
  if (due.empty()) return;
  std::sort(due.begin(), due.end(), [](const Item* a, const Item* b) {
    return std::tie(a->event_id, a->token) < std::tie(b->event_id, b->token);
  });
  // In flight is stored before the frame leaves, so a restart resends it.
  store::WriteSet writes;
  for (Item* item : due) {
    if (item->state == kSent) continue;
    Item copy = *item;
    copy.state = std::string(kSent);
    writes.Put(store::Table::kAux, absl::StrCat(kItemPrefix, copy.token), SerializeItem(copy));
  }
  if (!writes.empty()) {
    if (absl::Status status = options.store->Write(writes); !status.ok()) {
      spdlog::error("bridge: cannot store sends: {}", status.ToString());
      return;
    }
  }
  for (Item* item : due) {
    if (item->state == kSent) {
      spdlog::info("bridge: resending {} (no answer)", item->token);
    }
    item->state = std::string(kSent);
    item->sent_at_ms = now;
    std::string frame;
    if (item->kind == kSend) {
      frame = Frame("SendMessage", {{"token", item->token},
                                    {"message", item->message},
                                    {"recipients", json::array({item->recipient}).dump()}});
    } else {
      frame = Frame("UpdateMessagesStatus", {{"token", item->token},
                                             {"conversationId", item->recipient},
                                             {"status", item->status}});
    }
    open[item->key_id].connection->Send(std::move(frame));
    sent_total.Increment();
  }
}

void BridgeOutbox::Core::HandleFrame(const FrameWork& frame) {
  const json j = json::parse(frame.text, nullptr, /*allow_exceptions=*/false);
  auto malformed = [&](absl::string_view why) {
    spdlog::warn("bridge: key {}: malformed frame ignored: {}", frame.key_id, std::string(why));
    BadFrame("malformed").Increment();
  };
  if (!j.is_object()) return malformed("not a JSON object");
  const auto header = j.find("header");
  const auto payload = j.find("payload");
  if (header == j.end() || !header->is_object() || payload == j.end() || !payload->is_object()) {
    return malformed("needs header and payload objects");
  }
  const auto description = header->find("messageDescription");
  if (description == header->end() || !description->is_object()) return malformed("no messageDescription");
  const auto topic = description->find("topic");
  const auto action = description->find("action");
  if (topic == description->end() || !topic->is_string() || topic->get<std::string>() != "Messaging") {
    return malformed("topic is not Messaging");
  }
  if (action == description->end() || !action->is_string()) return malformed("no action");
  const std::string name = action->get<std::string>();
  if (name == "SendMessageSucceeded" || name == "SendMessageFailed" ||
      name == "UpdateMessagesStatusSucceeded" || name == "UpdateMessagesStatusFailed") {
    HandleReply(frame.key_id, name, *payload);
  } else if (name == "UpdateMessagingEndpointState") {
    HandleEndpointState(frame.session, frame.key_id, *payload);
  } else if (name == "ConversationsReport") {
    HandleConversationsReport(frame.key_id, *payload);
  } else {
    spdlog::warn("bridge: key {}: unknown action '{}' ignored", frame.key_id, name);
    BadFrame("unknown_action").Increment();
  }
}

void BridgeOutbox::Core::HandleReply(const std::string& key_id, const std::string& action,
                                     const json& payload) {
  const auto token_it = payload.find("token");
  if (token_it == payload.end() || !token_it->is_string()) {
    spdlog::warn("bridge: key {}: {} without a token ignored", key_id, action);
    BadFrame("malformed").Increment();
    return;
  }
  const std::string token = token_it->get<std::string>();
  const bool failed = action == "SendMessageFailed" || action == "UpdateMessagesStatusFailed";
  std::string code, message;
  if (failed) {
    const auto code_it = payload.find("code");
    if (code_it == payload.end() || !code_it->is_string() ||
        (*code_it != "GENERIC_FAILURE" && *code_it != "NO_CONNECTIVITY" && *code_it != "NO_PERMISSION")) {
      spdlog::warn("bridge: key {}: {} for {} without a known ErrorCode ignored", key_id, action, token);
      BadFrame("malformed").Increment();
      return;
    }
    code = code_it->get<std::string>();
    if (auto m = payload.find("message"); m != payload.end() && m->is_string()) message = m->get<std::string>();
  }
  const std::string kind(absl::StartsWith(action, "SendMessage") ? kSend : kStatus);
  auto it = pending.find(token);
  if (it == pending.end() || it->second.kind != kind || it->second.key_id != key_id) {
    // Our token, already settled (a duplicate answer), or not ours at all.
    const auto stored = LoadItem(token);
    const bool ours = stored.has_value() && stored->key_id == key_id && stored->kind == kind;
    spdlog::warn("bridge: key {}: {} for {} token {} ignored", key_id, action,
                 ours ? "settled" : "unknown", token);
    BadFrame(ours ? "stale_reply" : "unknown_token").Increment();
    return;
  }
  Item updated = it->second;
  if (updated.state != kSent) {
    spdlog::warn("bridge: key {}: {} for {} (state {}) ignored: not in flight", key_id, action, token,
                 updated.state);
    BadFrame("stale_reply").Increment();
    return;
  }
  const uint64_t now = options.clock->NowMs();
  bool finished = false;
  if (!failed) {
    updated.state = std::string(kSucceeded);
    updated.settled_at_ms = now;
    finished = true;
  } else {
    updated.last_code = code;
    updated.last_message = message;
    if (code == "NO_PERMISSION") {
      updated.state = std::string(kParked);
    } else if (++updated.attempts >= options.max_attempts) {
      updated.state = std::string(kFailed);
      updated.settled_at_ms = now;
      finished = true;
    } else {
      updated.state = std::string(kQueued);
      updated.next_attempt_ms = now + BackoffMs(updated.attempts);
    }
  }
  if (!Persist(updated)) return;  // unchanged: a later answer or resend settles it
  if (failed) FailedTotal(code).Increment();
  spdlog::info("bridge: {} {} -> {}{}", action, token, updated.state,
               failed ? absl::StrCat(" (", code, ", attempt ", updated.attempts, ")") : "");
  if (updated.state == kSucceeded) succeeded_total.Increment();
  if (updated.state == kFailed) final_failures_total.Increment();
  if (finished) {
    pending.erase(it);
  } else {
    it->second = std::move(updated);
  }
}

void BridgeOutbox::Core::HandleEndpointState(uint64_t session, const std::string& key_id, const json& payload) {
  auto field = [&](const char* name, const char* yes, const char* no) -> std::optional<bool> {
    const auto it = payload.find(name);
    if (it == payload.end() || !it->is_string()) return std::nullopt;
    if (*it == yes) return true;
    if (*it == no) return false;
    return std::nullopt;
  };
  const auto connected = field("connectionState", "CONNECTED", "DISCONNECTED");
  const auto send = field("sendPermission", "ON", "OFF");
  const auto read = field("readPermission", "ON", "OFF");
  if (!connected || !send || !read) {
    spdlog::warn("bridge: key {}: UpdateMessagingEndpointState with missing or unknown values ignored", key_id);
    BadFrame("malformed").Increment();
    return;
  }
  {
    absl::MutexLock lock(&mu);
    auto it = sessions.find(session);
    if (it == sessions.end()) return;
    it->second.connected = *connected;
    it->second.send_permission = *send;
  }
  spdlog::info("bridge: key {}: endpoint {} send {} read {}", key_id,
               *connected ? "CONNECTED" : "DISCONNECTED", *send ? "ON" : "OFF", *read ? "ON" : "OFF");
  if (!*send) return;
  for (auto& [token, item] : pending) {
    if (item.key_id != key_id || item.state != kParked) continue;
    Item updated = item;
    updated.state = std::string(kQueued);
    updated.next_attempt_ms = 0;
    if (Persist(updated)) item = std::move(updated);
  }
}

void BridgeOutbox::Core::HandleConversationsReport(const std::string& key_id, const json& payload) {
  const auto token = payload.find("token");
  const auto listing = payload.find("conversations");
  if (listing == payload.end() || !listing->is_string() ||
      (token != payload.end() && !token->is_string())) {
    spdlog::warn("bridge: key {}: ConversationsReport without a conversations string ignored", key_id);
    BadFrame("malformed").Increment();
    return;
  }
  BridgeConversations report;
  report.key_id = key_id;
  report.token = token == payload.end() ? "" : token->get<std::string>();
  report.conversations = listing->get<std::string>();
  report.received_at_ms = options.clock->NowMs();
  store::WriteSet writes;
  writes.Put(store::Table::kAux, absl::StrCat(kConversationsPrefix, key_id), SerializeConversations(report));
  if (absl::Status status = options.store->Write(writes); !status.ok()) {
    spdlog::error("bridge: cannot store conversations report: {}", status.ToString());
    return;
  }
  spdlog::info("bridge: key {}: conversations report ({} bytes, token '{}')", key_id,
               report.conversations.size(), report.token);
  absl::MutexLock lock(&mu);
  conversations[key_id] = std::move(report);
}

void BridgeOutbox::Core::UpdateGauges() {
  const uint64_t now = options.clock->NowMs();
  uint64_t parked = 0, oldest = 0;
  for (const auto& [token, item] : pending) {
    const bool waiting = item.state == kParked || (item.state == kQueued && item.attempts > 0);
    if (item.state == kParked) ++parked;
    if (waiting && (oldest == 0 || item.created_at_ms < oldest)) oldest = item.created_at_ms;
  }
  parked_gauge.Set(static_cast<double>(parked));
  backlog_age_gauge.Set(oldest == 0 || now < oldest ? 0.0 : static_cast<double>(now - oldest) / 1000.0);
}

absl::StatusOr<std::unique_ptr<BridgeOutbox>> BridgeOutbox::Open(const BridgeOptions& options) {
  if (options.store == nullptr || options.api_keys == nullptr) {
    return MakeError(ErrorCode::kInternal, "bridge outbox needs a store and API keys");
  }
  auto core = std::make_shared<Core>(options);
  RETURN_IF_ERROR(core->Load());
  core->worker = std::thread([raw = core.get()] { raw->Run(); });
  return std::unique_ptr<BridgeOutbox>(new BridgeOutbox(std::move(core)));
}

BridgeOutbox::~BridgeOutbox() { Shutdown(); }

void BridgeOutbox::Shutdown() {
  {
    absl::MutexLock lock(&core_->mu);
    core_->stopping = true;
  }
  if (core_->worker.joinable()) core_->worker.join();
}

void BridgeOutbox::OnDurable(const std::vector<std::shared_ptr<const v1::LogEntry>>& entries) {
  if (!entries.empty()) core_->Post(EntriesWork{entries});
}

absl::StatusOr<BridgeBinding> BridgeOutbox::Bind(const std::string& user_id, const std::string& key_id,
                                                 const std::string& recipient) {
  if (!IsLowerHex(user_id, 64)) {
    return MakeError(ErrorCode::kMalformed, "user id must be 64 lowercase hex characters (the user's K_id)");
  }
  if (recipient.empty() || recipient.size() > kMaxRecipientLength ||
      std::any_of(recipient.begin(), recipient.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return MakeError(ErrorCode::kMalformed,
                     absl::StrCat("recipient must be 1..", kMaxRecipientLength, " printable characters"));
  }
  ASSIGN_OR_RETURN(const auto keys, core_->options.api_keys->List());
  const bool live = std::any_of(keys.begin(), keys.end(), [&](const ApiKeyInfo& info) {
    return info.key_id == key_id && !info.revoked;
  });
  if (!live) return MakeError(ErrorCode::kNotFound, absl::StrCat("no live API key with id '", key_id, "'"));
  BridgeBinding binding{user_id, key_id, recipient, core_->options.clock->NowMs()};
  absl::MutexLock bind_lock(&core_->bind_mu);
  store::WriteSet writes;
  writes.Put(store::Table::kAux, absl::StrCat(kBindingPrefix, user_id), SerializeBinding(binding));
  RETURN_IF_ERROR(core_->options.store->Write(writes));
  absl::MutexLock lock(&core_->mu);
  core_->bindings[user_id] = binding;
  return binding;
}

absl::Status BridgeOutbox::Unbind(const std::string& user_id) {
  absl::MutexLock bind_lock(&core_->bind_mu);
  {
    absl::MutexLock lock(&core_->mu);
    if (core_->bindings.count(user_id) == 0) {
      return MakeError(ErrorCode::kNotFound, absl::StrCat("user '", user_id, "' has no bridge binding"));
    }
  }
  store::WriteSet writes;
  writes.Delete(store::Table::kAux, absl::StrCat(kBindingPrefix, user_id));
  RETURN_IF_ERROR(core_->options.store->Write(writes));
  absl::MutexLock lock(&core_->mu);
  core_->bindings.erase(user_id);
  return absl::OkStatus();
}

std::vector<BridgeBinding> BridgeOutbox::Bindings() const {
  absl::MutexLock lock(&core_->mu);
  std::vector<BridgeBinding> out;
  for (const auto& [user, binding] : core_->bindings) out.push_back(binding);
  return out;
}

absl::StatusOr<std::optional<BridgeConversations>> BridgeOutbox::Conversations(
    const std::string& key_id, bool refresh, std::chrono::milliseconds wait) {
  Core& core = *core_;
  if (refresh) {
    absl::MutexLock lock(&core.mu);
    // The key's latest connection is the one the worker would ask.
    const auto latest = std::find_if(core.sessions.rbegin(), core.sessions.rend(),
                                     [&](const auto& s) { return s.second.key_id == key_id; });
    if (latest == core.sessions.rend()) {
      return MakeError(ErrorCode::kUnavailable, absl::StrCat("no bridge with key '", key_id, "' is connected"));
    }
    if (core.stopping) return MakeError(ErrorCode::kUnavailable, "the relay is shutting down");
    // A gated endpoint (DISCONNECTED or sendPermission OFF) is asked nothing
    // (SPEC 6): the stored report is the answer, at once.
    if (latest->second.MaySend()) {
      const std::string token = absl::StrCat("conv-", NewUlid());
      core.inbox.push_back(ConversationsWork{key_id, token});
      auto answered = [&core, &key_id, &token]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core.mu) {
        auto it = core.conversations.find(key_id);
        return it != core.conversations.end() && it->second.token == token;
      };
      core.mu.AwaitWithTimeout(absl::Condition(&answered), absl::FromChrono(wait));
    }
  }
  absl::MutexLock lock(&core.mu);
  auto it = core.conversations.find(key_id);
  if (it == core.conversations.end()) return std::optional<BridgeConversations>();
  return std::optional<BridgeConversations>(it->second);
}

absl::StatusOr<std::vector<BridgeNotification>> BridgeOutbox::Notifications() const {
  std::vector<BridgeNotification> out;
  absl::Status parse_status;
  RETURN_IF_ERROR(core_->options.store->Scan(
      store::Table::kAux, kItemPrefix, [&](absl::string_view, absl::string_view value) {
        auto item = ParseItem(value);
        if (!item.ok()) {
          parse_status = item.status();
          return false;
        }
        out.push_back({item->token, item->kind, item->user_id, item->key_id, item->event_id, item->state,
                       item->attempts, item->last_code, item->read});
        return true;
      }));
  RETURN_IF_ERROR(parse_status);
  std::sort(out.begin(), out.end(), [](const BridgeNotification& a, const BridgeNotification& b) {
    return std::tie(a.event_id, a.token) < std::tie(b.event_id, b.token);
  });
  return out;
}

uint64_t BridgeOutbox::Attach(const std::string& key_id, std::shared_ptr<WebSocketConnection> connection) {
  std::vector<std::shared_ptr<WebSocketConnection>> replaced;
  uint64_t id;
  {
    absl::MutexLock lock(&core_->mu);
    for (auto it = core_->sessions.begin(); it != core_->sessions.end();) {
      if (it->second.key_id == key_id) {
        replaced.push_back(it->second.connection);
        it = core_->sessions.erase(it);
      } else {
        ++it;
      }
    }
    id = core_->next_session++;
    core_->sessions[id] = Session{key_id, std::move(connection), std::nullopt, std::nullopt};
    if (!core_->stopping) core_->inbox.push_back(AttachWork{id, key_id});
    core_->sessions_gauge.Set(static_cast<double>(core_->sessions.size()));
  }
  for (const auto& old : replaced) {
    spdlog::info("bridge: key {}: a newer connection replaces an older one", key_id);
    old->Close();
  }
  spdlog::info("bridge: key {} connected (session {})", key_id, id);
  return id;
}

void BridgeOutbox::OnFrame(uint64_t session, std::string frame) {
  absl::MutexLock lock(&core_->mu);
  auto it = core_->sessions.find(session);
  if (it == core_->sessions.end() || core_->stopping) return;  // replaced or closing
  core_->inbox.push_back(FrameWork{session, it->second.key_id, std::move(frame)});
}

void BridgeOutbox::Detach(uint64_t session) {
  absl::MutexLock lock(&core_->mu);
  if (core_->sessions.erase(session) > 0) spdlog::info("bridge: session {} closed", session);
  core_->sessions_gauge.Set(static_cast<double>(core_->sessions.size()));
}

void BridgeOutbox::CloseSessionsOf(const std::string& key_id) {
  std::vector<std::shared_ptr<WebSocketConnection>> closing;
  {
    absl::MutexLock lock(&core_->mu);
    for (auto it = core_->sessions.begin(); it != core_->sessions.end();) {
      if (it->second.key_id == key_id) {
        closing.push_back(it->second.connection);
        it = core_->sessions.erase(it);
      } else {
        ++it;
      }
    }
    core_->sessions_gauge.Set(static_cast<double>(core_->sessions.size()));
  }
  for (const auto& connection : closing) {
    spdlog::info("bridge: key {} revoked: closing its bridge connection", key_id);
    connection->Close();
  }
}

}  // namespace fedrelay::relay
