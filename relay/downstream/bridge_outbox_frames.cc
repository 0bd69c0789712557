// The frames a bridge sends back to the outbox's worker: replies to
// SendMessage / UpdateMessagesStatus, endpoint state and conversation reports
// (docs/bridge.md). Worker thread only (bridge_outbox_internal.h).
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "relay/downstream/bridge_outbox_internal.h"
#include "spdlog/spdlog.h"

namespace fedrelay::relay {

using namespace bridge_internal;  // NOLINT: the outbox's own helpers

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

}  // namespace fedrelay::relay
