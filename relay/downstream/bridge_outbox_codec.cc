// The bridge outbox's store records and the Messaging frames the relay sends
// (bridge_outbox_internal.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/errors.h"
#include "relay/downstream/bridge_outbox_internal.h"
#include "relay/ulid.h"

namespace fedrelay::relay::bridge_internal {

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

std::string Short(const std::string& hex) { return hex.size() > 16 ? hex.substr(0, 16) : hex; }


bool IsLowerHex(absl::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string Frame(absl::string_view action, json payload) {
  return json{{"header",
               {{"version", "4.0"},
                {"messageType", "Publish"},
                {"id", NewUlid()},
                {"messageDescription", {{"topic", "Messaging"}, {"action", std::string(action)}}}}},
              {"payload", std::move(payload)}}
      .dump();
}

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

}  // namespace fedrelay::relay::bridge_internal
