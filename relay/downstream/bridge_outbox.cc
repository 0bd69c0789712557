// The bridge outbox's worker (see bridge_outbox.h for the guarantees): durable
// entries become notifications, the retry scheduler sends them, and the
// public API. The store records and frames are in bridge_outbox_codec.cc, the
// bridge's replies in bridge_outbox_frames.cc.
//
//   writer thread (OnDurable) --+
//   io threads (frames, open,   +--> inbox (mu_) --> worker: store writes, then sends
//     close)                    |
//   admin (bind, conversations) +
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
#include "relay/downstream/bridge_outbox_internal.h"
#include "relay/ulid.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

using namespace bridge_internal;  // NOLINT: the outbox's own helpers

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
  // Whatever was in flight on an earlier connection Pump sends again (same
  // token), as it sees the new session: it may already have, since the session
  // is visible before this work item is handled.
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
  std::map<std::string, std::pair<uint64_t, Session>> open;  // key id -> its (latest) session and its id
  {
    absl::MutexLock lock(&mu);
    for (const auto& [id, session] : sessions) open[session.key_id] = {id, session};
  }
  if (open.empty()) return;
  const uint64_t now = options.clock->NowMs();
  std::vector<Item*> due;
  for (auto& [token, item] : pending) {
    auto session = open.find(item.key_id);
    if (session == open.end() || !session->second.second.MaySend()) continue;
    const bool first = item.state == kQueued && item.next_attempt_ms <= now;
    const bool resend = item.state == kSent && (item.sent_on_session != session->second.first ||
                                                now >= item.sent_at_ms + options.resend_after_ms);
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
    auto& [session_id, session] = open[item->key_id];
    item->state = std::string(kSent);
    item->sent_at_ms = now;
    item->sent_on_session = session_id;
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
    session.connection->Send(std::move(frame));
    sent_total.Increment();
  }
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
