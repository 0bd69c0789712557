#include "federation/state.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/encoding.h"
#include "base/status_macros.h"
#include "federation/signing.h"
#include "federation/state_records.h"

namespace fedrelay::federation {
namespace {

using internal::kBanPrefix;
using internal::kForgetHorizonKey;
using internal::kHomePrefix;
using internal::kInvitePrefix;
using internal::kLogSizeKey;
using internal::kMigrationPrefix;
using internal::kPeerPrefix;
using internal::kProfilePrefix;
using internal::kSeenExpiryPrefix;
using internal::kSeenRequestPrefix;
using internal::Corrupt;
using internal::DecodeInvite;
using internal::DecodePeer;
// kAux: "fed/invite_token/<invite id>", "fed/equivocation/<u64be sequence>".
constexpr absl::string_view kInviteTokenPrefix = "fed/invite_token/";
constexpr absl::string_view kEquivocationPrefix = "fed/equivocation/";

std::string BanKey(absl::string_view guild_id, absl::string_view user_id) {
  std::string key;
  AppendU32BE(key, static_cast<uint32_t>(guild_id.size()));
  absl::StrAppend(&key, guild_id, user_id);
  return key;
}

// Value records: u64be integers and u32be-length-prefixed strings.
class RecordWriter {
 public:
  RecordWriter& U64(uint64_t value) {
    AppendU64BE(bytes_, value);
    return *this;
  }
  RecordWriter& Str(absl::string_view value) {
    AppendU32BE(bytes_, static_cast<uint32_t>(value.size()));
    bytes_.append(value.data(), value.size());
    return *this;
  }
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class RecordReader {
 public:
  explicit RecordReader(absl::string_view bytes) : rest_(bytes) {}
  bool U64(uint64_t* value) {
    if (rest_.size() < 8) return false;
    *value = 0;
    for (int i = 0; i < 8; ++i) *value = (*value << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(8);
    return true;
  }
  bool Str(std::string* value) {
    if (rest_.size() < 4) return false;
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length = (length << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(4);
    if (rest_.size() < length) return false;
    value->assign(rest_.data(), length);
    rest_.remove_prefix(length);
    return true;
  }
  bool Done() const { return rest_.empty(); }

 private:
  absl::string_view rest_;
};

std::string EncodePeer(const PeerRecord& peer) {
  RecordWriter writer;
  writer.Str(peer.pubkey_hex).U64(static_cast<uint64_t>(peer.source)).U64(peer.may_ban.size());
  for (const std::string& guild : peer.may_ban) writer.Str(guild);
  return writer.Take();
}

std::string EncodeInvite(const InviteRecord& invite) {
  return RecordWriter()
      .Str(InviteStatusName(invite.status))
      .Str(invite.target_user_id)
      .Str(invite.inviter_id)
      .Str(invite.guild_id)
      .Str(invite.host_server_url)
      .Str(invite.body_hash)
      .U64(invite.event_id)
      .Take();
}

std::string EncodeSeenRequest(const SeenRequest& record) {
  return RecordWriter().U64(record.expiry_ms).U64(record.event_id).Str(record.body_hash).Take();
}

// Calls `fn(key without prefix, value)` for every key under `prefix`.
absl::Status ForEach(const store::KeyValueStore& store, store::Table table, absl::string_view prefix,
                     const std::function<absl::Status(absl::string_view, absl::string_view)>& fn) {
  absl::Status failure;
  RETURN_IF_ERROR(store.Scan(table, prefix, [&](absl::string_view key, absl::string_view value) {
    key.remove_prefix(prefix.size());
    failure = fn(key, value);
    return failure.ok();
  }));
  return failure;
}

template <typename Map, typename Key>
auto FindIn(const Map& map, const Key& key) -> std::optional<typename Map::mapped_type> {
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

}  // namespace

namespace internal {

std::string BanStateKey(absl::string_view guild_id, absl::string_view user_id) {
  return absl::StrCat(kBanPrefix, BanKey(guild_id, user_id));
}

absl::Status Corrupt(absl::string_view what, absl::string_view key) {
  return absl::DataLossError(
      absl::StrCat("derived state: unreadable ", what, " record (key ", HexEncode(key), ")"));
}

bool DecodePeer(absl::string_view bytes, PeerRecord* peer) {
  RecordReader reader(bytes);
  uint64_t source = 0, count = 0;
  if (!reader.Str(&peer->pubkey_hex) || !reader.U64(&source) || !reader.U64(&count) ||
      source > static_cast<uint64_t>(PeerSource::kCtl)) {
    return false;
  }
  peer->source = static_cast<PeerSource>(source);
  peer->may_ban.clear();
  for (uint64_t i = 0; i < count; ++i) {
    std::string guild;
    if (!reader.Str(&guild)) return false;
    peer->may_ban.push_back(std::move(guild));
  }
  return reader.Done();
}

bool DecodeInvite(absl::string_view bytes, InviteRecord* invite) {
  RecordReader reader(bytes);
  std::string status;
  if (!reader.Str(&status)) return false;
  std::optional<InviteStatus> parsed = ParseInviteStatus(status);
  if (!parsed.has_value()) return false;
  invite->status = *parsed;
  return reader.Str(&invite->target_user_id) &&
         reader.Str(&invite->inviter_id) && reader.Str(&invite->guild_id) &&
         reader.Str(&invite->host_server_url) && reader.Str(&invite->body_hash) &&
         reader.U64(&invite->event_id) && reader.Done();
}

bool DecodeMigration(absl::string_view bytes, MigrationRecord* migration) {
  RecordReader reader(bytes);
  return reader.U64(&migration->timestamp) && reader.Str(&migration->target) && reader.Done();
}

bool DecodeU64(absl::string_view bytes, uint64_t* value) {
  RecordReader reader(bytes);
  return reader.U64(value) && reader.Done();
}

bool DecodeSeenExpiry(absl::string_view bytes, uint64_t* expiry_ms) {
  RecordReader reader(bytes);
  return reader.U64(expiry_ms);
}

}  // namespace internal

absl::string_view InviteStatusName(InviteStatus status) {
  switch (status) {
    case InviteStatus::kAccepted:
      return kDecisionAccepted;
    case InviteStatus::kRejected:
      return kDecisionRejected;
    case InviteStatus::kPending:
      break;
  }
  return kInvitePending;
}

std::optional<InviteStatus> ParseInviteStatus(absl::string_view name) {
  for (InviteStatus status :
       {InviteStatus::kPending, InviteStatus::kAccepted, InviteStatus::kRejected}) {
    if (name == InviteStatusName(status)) return status;
  }
  return std::nullopt;
}

absl::string_view PeerSourceName(PeerSource source) {
  switch (source) {
    case PeerSource::kConfig:
      return "config";
    case PeerSource::kCtl:
      return "ctl";
    case PeerSource::kUnknown:
      break;
  }
  return "log";
}

std::string InviteTokenKey(absl::string_view invite_id) {
  return absl::StrCat(kInviteTokenPrefix, invite_id);
}

InviteInfo ToInviteInfo(const std::string& invite_id, InviteRecord record,
                        const store::KeyValueStore& store, absl::Status* token_read) {
  InviteInfo info;
  info.invite_id = invite_id;
  info.status = record.status;
  info.target_user_id = std::move(record.target_user_id);
  info.inviter_id = std::move(record.inviter_id);
  info.guild_id = std::move(record.guild_id);
  info.host_server_url = std::move(record.host_server_url);
  info.event_id = record.event_id;
  absl::StatusOr<std::optional<std::string>> token =
      store.Get(store::Table::kAux, InviteTokenKey(invite_id));
  if (token.ok() && token->has_value()) info.token = **std::move(token);
  *token_read = token.status();
  return info;
}

std::string SeenRequestKey(absl::string_view signature_hash) {
  return absl::StrCat(kSeenRequestPrefix, signature_hash);
}

std::string SeenExpiryIndexKey(uint64_t expiry_ms, absl::string_view signature_hash) {
  std::string key(kSeenExpiryPrefix);
  AppendU64BE(key, expiry_ms);
  key.append(signature_hash.data(), signature_hash.size());
  return key;
}

absl::StatusOr<SeenRequest> ParseSeenRequest(absl::string_view bytes) {
  RecordReader reader(bytes);
  SeenRequest record;
  if (!reader.U64(&record.expiry_ms) || !reader.U64(&record.event_id) ||
      !reader.Str(&record.body_hash)) {
    return absl::DataLossError("derived state: unreadable seen-request record");
  }
  // Records written before receipts were re-signed on demand carry a copy of
  // the receipt: read past it.
  std::string old_receipt;
  if (!reader.Done() && (!reader.Str(&old_receipt) || !reader.Done())) {
    return absl::DataLossError("derived state: unreadable seen-request record");
  }
  return record;
}

void AddWrites(const StateOp& state_op, store::WriteSet& writes) {
  using store::Table;
  std::visit(
      [&writes](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, op::PutPeer>) {
          writes.Put(Table::kState, absl::StrCat(kPeerPrefix, o.server_id), EncodePeer(o.record));
        } else if constexpr (std::is_same_v<T, op::RemovePeer>) {
          writes.Delete(Table::kState, absl::StrCat(kPeerPrefix, o.server_id));
        } else if constexpr (std::is_same_v<T, op::AddBan>) {
          writes.Put(Table::kState, absl::StrCat(kBanPrefix, BanKey(o.guild_id, o.user_id)), "");
        } else if constexpr (std::is_same_v<T, op::SetHomeserver>) {
          writes.Put(Table::kState, absl::StrCat(kHomePrefix, o.user_id), o.homeserver);
        } else if constexpr (std::is_same_v<T, op::SetProfileTimestamp>) {
          writes.Put(Table::kState, absl::StrCat(kProfilePrefix, o.user_id),
                     RecordWriter().U64(o.timestamp).Take());
        } else if constexpr (std::is_same_v<T, op::SetMigration>) {
          writes.Put(Table::kState, absl::StrCat(kMigrationPrefix, o.user_id),
                     RecordWriter().U64(o.record.timestamp).Str(o.record.target).Take());
        } else if constexpr (std::is_same_v<T, op::PutInvite>) {
          writes.Put(Table::kState, absl::StrCat(kInvitePrefix, o.invite_id), EncodeInvite(o.record));
        } else if constexpr (std::is_same_v<T, op::PutInviteToken>) {
          writes.Put(Table::kAux, InviteTokenKey(o.invite_id), o.token);
        } else if constexpr (std::is_same_v<T, op::RememberRequest>) {
          if (o.replaces_expiry_ms.has_value()) {
            writes.Delete(Table::kSeenRequests,
                          SeenExpiryIndexKey(*o.replaces_expiry_ms, o.signature_hash));
          }
          writes.Put(Table::kSeenRequests, SeenRequestKey(o.signature_hash), EncodeSeenRequest(o.record));
          writes.Put(Table::kSeenRequests, SeenExpiryIndexKey(o.record.expiry_ms, o.signature_hash),
                     "");
        } else if constexpr (std::is_same_v<T, op::ForgetRequest>) {
          writes.Delete(Table::kSeenRequests, SeenRequestKey(o.signature_hash));
          writes.Delete(Table::kSeenRequests, SeenExpiryIndexKey(o.expiry_ms, o.signature_hash));
        } else if constexpr (std::is_same_v<T, op::SetLogSize>) {
          writes.Put(Table::kState, kLogSizeKey, RecordWriter().U64(o.size).Take());
        } else if constexpr (std::is_same_v<T, op::SetForgetHorizon>) {
          writes.Put(Table::kState, kForgetHorizonKey, RecordWriter().U64(o.horizon_ms).Take());
        }
      },
      state_op);
}

void AddEquivocationWrite(uint64_t sequence, const Equivocation& equivocation,
                          store::WriteSet& writes) {
  std::string key(kEquivocationPrefix);
  AppendU64BE(key, sequence);
  writes.Put(store::Table::kAux, key,
             RecordWriter()
                 .Str(equivocation.user_id)
                 .U64(equivocation.timestamp)
                 .Str(equivocation.logged_target)
                 .Str(equivocation.rejected_target)
                 .U64(equivocation.seen_at_ms)
                 .Take());
}

absl::StatusOr<std::vector<Equivocation>> LoadEquivocations(const store::KeyValueStore& store) {
  std::vector<Equivocation> equivocations;
  RETURN_IF_ERROR(ForEach(store, store::Table::kAux, kEquivocationPrefix,
                          [&](absl::string_view key, absl::string_view value) {
                            RecordReader reader(value);
                            Equivocation& seen = equivocations.emplace_back();
                            if (!reader.Str(&seen.user_id) || !reader.U64(&seen.timestamp) ||
                                !reader.Str(&seen.logged_target) ||
                                !reader.Str(&seen.rejected_target) ||
                                !reader.U64(&seen.seen_at_ms) || !reader.Done()) {
                              return Corrupt("equivocation", key);
                            }
                            return absl::OkStatus();
                          }));
  return equivocations;
}

// ---------------------------------------------------------------------------
// DerivedState

absl::StatusOr<DerivedState> DerivedState::Load(const store::KeyValueStore& store) {
  using store::Table;
  DerivedState state;
  RETURN_IF_ERROR(ForEach(store, Table::kState, kPeerPrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            PeerRecord peer;
                            if (!DecodePeer(value, &peer)) return Corrupt("peer", key);
                            state.peers_.emplace(std::string(key), std::move(peer));
                            return absl::OkStatus();
                          }));
  RETURN_IF_ERROR(ForEach(store, Table::kState, kBanPrefix,
                          [&state](absl::string_view key, absl::string_view) {
                            state.bans_.emplace(key);
                            return absl::OkStatus();
                          }));
  RETURN_IF_ERROR(ForEach(store, Table::kState, kHomePrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            state.homeservers_.emplace(std::string(key), std::string(value));
                            return absl::OkStatus();
                          }));
  RETURN_IF_ERROR(ForEach(store, Table::kState, kProfilePrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            RecordReader reader(value);
                            uint64_t timestamp = 0;
                            if (!reader.U64(&timestamp) || !reader.Done()) {
                              return Corrupt("profile", key);
                            }
                            state.profile_timestamps_.emplace(std::string(key), timestamp);
                            return absl::OkStatus();
                          }));
  RETURN_IF_ERROR(ForEach(store, Table::kState, kMigrationPrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            RecordReader reader(value);
                            MigrationRecord record;
                            if (!reader.U64(&record.timestamp) || !reader.Str(&record.target) ||
                                !reader.Done()) {
                              return Corrupt("migration", key);
                            }
                            state.migrations_.emplace(std::string(key), std::move(record));
                            return absl::OkStatus();
                          }));
  RETURN_IF_ERROR(ForEach(store, Table::kState, kInvitePrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            InviteRecord invite;
                            if (!DecodeInvite(value, &invite)) return Corrupt("invite", key);
                            state.invites_.emplace(std::string(key), std::move(invite));
                            return absl::OkStatus();
                          }));
  // Only the expiry (the record's first field) is kept in memory.
  RETURN_IF_ERROR(ForEach(store, Table::kSeenRequests, kSeenRequestPrefix,
                          [&state](absl::string_view key, absl::string_view value) {
                            RecordReader reader(value);
                            uint64_t expiry = 0;
                            if (key.size() != 32 || !reader.U64(&expiry)) {
                              return Corrupt("replay", key);
                            }
                            SeenRequest record;
                            record.expiry_ms = expiry;
                            state.Apply(op::RememberRequest{std::string(key), std::move(record),
                                                            std::nullopt});
                            return absl::OkStatus();
                          }));
  ASSIGN_OR_RETURN(std::optional<std::string> size, store.Get(Table::kState, kLogSizeKey));
  if (size.has_value()) {
    RecordReader reader(*size);
    if (!reader.U64(&state.log_size_) || !reader.Done()) return Corrupt("log size", kLogSizeKey);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> horizon, store.Get(Table::kState, kForgetHorizonKey));
  if (horizon.has_value()) {
    RecordReader reader(*horizon);
    if (!reader.U64(&state.forget_horizon_ms_) || !reader.Done()) {
      return Corrupt("forget horizon", kForgetHorizonKey);
    }
  }
  return state;
}

void DerivedState::Apply(const StateOp& state_op) {
  std::visit(
      [this](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, op::PutPeer>) {
          peers_[o.server_id] = o.record;
        } else if constexpr (std::is_same_v<T, op::RemovePeer>) {
          peers_.erase(o.server_id);
        } else if constexpr (std::is_same_v<T, op::AddBan>) {
          bans_.insert(BanKey(o.guild_id, o.user_id));
        } else if constexpr (std::is_same_v<T, op::SetHomeserver>) {
          homeservers_[o.user_id] = o.homeserver;
        } else if constexpr (std::is_same_v<T, op::SetProfileTimestamp>) {
          profile_timestamps_[o.user_id] = o.timestamp;
        } else if constexpr (std::is_same_v<T, op::SetMigration>) {
          migrations_[o.user_id] = o.record;
        } else if constexpr (std::is_same_v<T, op::PutInvite>) {
          invites_[o.invite_id] = o.record;
        } else if constexpr (std::is_same_v<T, op::PutInviteToken>) {
          // Secret: lives in kAux only.
        } else if constexpr (std::is_same_v<T, op::RememberRequest>) {
          if (o.signature_hash.size() != 32) return;
          SignatureHash hash;
          std::memcpy(hash.data(), o.signature_hash.data(), hash.size());
          auto [it, inserted] = seen_expiry_.try_emplace(hash, o.record.expiry_ms);
          if (!inserted) {
            seen_order_.erase({it->second, hash});
            it->second = o.record.expiry_ms;
          }
          seen_order_.emplace(o.record.expiry_ms, hash);
        } else if constexpr (std::is_same_v<T, op::ForgetRequest>) {
          if (o.signature_hash.size() != 32) return;
          SignatureHash hash;
          std::memcpy(hash.data(), o.signature_hash.data(), hash.size());
          auto it = seen_expiry_.find(hash);
          if (it == seen_expiry_.end()) return;
          seen_order_.erase({it->second, hash});
          seen_expiry_.erase(it);
        } else if constexpr (std::is_same_v<T, op::SetLogSize>) {
          log_size_ = o.size;
        } else if constexpr (std::is_same_v<T, op::SetForgetHorizon>) {
          forget_horizon_ms_ = o.horizon_ms;
        }
      },
      state_op);
}

std::optional<PeerRecord> DerivedState::FindPeer(absl::string_view server_id) const {
  auto it = peers_.find(std::string(server_id));
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

bool DerivedState::IsBanned(absl::string_view guild_id, absl::string_view user_id) const {
  return bans_.contains(BanKey(guild_id, user_id));
}

std::optional<std::string> DerivedState::FindHomeserver(absl::string_view user_id) const {
  return FindIn(homeservers_, user_id);
}

std::optional<uint64_t> DerivedState::LastProfileTimestamp(absl::string_view user_id) const {
  return FindIn(profile_timestamps_, user_id);
}

std::optional<MigrationRecord> DerivedState::LastMigration(absl::string_view user_id) const {
  return FindIn(migrations_, user_id);
}

std::optional<InviteRecord> DerivedState::FindInvite(absl::string_view invite_id) const {
  return FindIn(invites_, invite_id);
}

std::optional<uint64_t> DerivedState::SeenRequestExpiry(absl::string_view signature_hash) const {
  if (signature_hash.size() != 32) return std::nullopt;
  SignatureHash hash;
  std::memcpy(hash.data(), signature_hash.data(), hash.size());
  return FindIn(seen_expiry_, hash);
}

std::vector<ForgettableRequest> DerivedState::ForgettableRequests(
    uint64_t before_ms, size_t max, const ForgettableRequest* after) const {
  std::vector<ForgettableRequest> expired;
  auto first = seen_order_.begin();
  if (after != nullptr && after->signature_hash.size() == 32) {
    std::pair<uint64_t, SignatureHash> from{after->expiry_ms, {}};
    std::memcpy(from.second.data(), after->signature_hash.data(), from.second.size());
    first = seen_order_.upper_bound(from);
  }
  for (auto it = first;
       it != seen_order_.end() && expired.size() < max && it->first < before_ms; ++it) {
    expired.push_back(ForgettableRequest{
        it->first,
        std::string(reinterpret_cast<const char*>(it->second.data()), it->second.size())});
  }
  return expired;
}

std::string DerivedState::Describe(uint64_t seen_live_at_ms, bool with_peer_source) const {
  std::vector<std::string> lines;
  for (const auto& [id, peer] : peers_) {
    lines.push_back(absl::StrCat("peer ", id, " key=", peer.pubkey_hex,
                                 " may_ban=", absl::StrJoin(peer.may_ban, ","),
                                 with_peer_source ? absl::StrCat(" source=", PeerSourceName(peer.source))
                                                  : ""));
  }
  for (const std::string& ban : bans_) lines.push_back(absl::StrCat("ban ", HexEncode(ban)));
  for (const auto& [user, home] : homeservers_) {
    lines.push_back(absl::StrCat("homeserver ", user, " ", home));
  }
  for (const auto& [user, timestamp] : profile_timestamps_) {
    lines.push_back(absl::StrCat("profile ", user, " ", timestamp));
  }
  for (const auto& [user, migration] : migrations_) {
    lines.push_back(absl::StrCat("migration ", user, " ", migration.timestamp, " ", migration.target));
  }
  for (const auto& [id, invite] : invites_) {
    lines.push_back(absl::StrCat("invite ", id, " status=", InviteStatusName(invite.status),
                                 " target=", invite.target_user_id, " inviter=", invite.inviter_id,
                                 " guild=", invite.guild_id, " host=", invite.host_server_url,
                                 " body=", HexEncode(invite.body_hash), " event=", invite.event_id));
  }
  for (const auto& [hash, expiry] : seen_expiry_) {
    if (expiry < seen_live_at_ms) continue;
    lines.push_back(absl::StrCat("replay ", HexEncode(absl::string_view(reinterpret_cast<const char*>(hash.data()), hash.size())),
                                 " ", expiry));
  }
  lines.push_back(absl::StrCat("log_size ", log_size_));
  lines.push_back(absl::StrCat("replay_horizon ", forget_horizon_ms_));
  std::sort(lines.begin(), lines.end());
  return absl::StrJoin(lines, "\n");
}

// ---------------------------------------------------------------------------
// StateOverlay

void StateOverlay::Apply(const StateOp& state_op) {
  if (const auto* put = std::get_if<op::PutPeer>(&state_op)) {
    removed_peers_.erase(put->server_id);
  } else if (const auto* remove = std::get_if<op::RemovePeer>(&state_op)) {
    removed_peers_.insert(remove->server_id);
  } else if (const auto* replay = std::get_if<op::RememberRequest>(&state_op)) {
    forgotten_requests_.erase(replay->signature_hash);
    if (replay->replaces_expiry_ms.has_value()) ++rerecorded_;
  } else if (const auto* purge = std::get_if<op::ForgetRequest>(&state_op)) {
    // Hides the base's record, if it has one (a record of the batch's own
    // goes from changes_ below).
    forgotten_requests_.insert(purge->signature_hash);
    ForgettableRequest forgotten{purge->expiry_ms, purge->signature_hash};
    if (!last_forgotten_.has_value() || *last_forgotten_ < forgotten) {
      last_forgotten_ = std::move(forgotten);
    }
  } else if (std::holds_alternative<op::SetForgetHorizon>(state_op)) {
    horizon_set_ = true;
  }
  changes_.Apply(state_op);
  ops_.push_back(state_op);
}

void StateOverlay::Clear() {
  changes_ = DerivedState();
  removed_peers_.clear();
  forgotten_requests_.clear();
  last_forgotten_.reset();
  rerecorded_ = 0;
  horizon_set_ = false;
  ops_.clear();
}

std::optional<PeerRecord> StateOverlay::FindPeer(absl::string_view server_id) const {
  if (removed_peers_.contains(server_id)) return std::nullopt;
  if (auto peer = changes_.FindPeer(server_id)) return peer;
  return base_->FindPeer(server_id);
}

bool StateOverlay::IsBanned(absl::string_view guild_id, absl::string_view user_id) const {
  return changes_.IsBanned(guild_id, user_id) || base_->IsBanned(guild_id, user_id);
}

std::optional<std::string> StateOverlay::FindHomeserver(absl::string_view user_id) const {
  if (auto home = changes_.FindHomeserver(user_id)) return home;
  return base_->FindHomeserver(user_id);
}

std::optional<uint64_t> StateOverlay::LastProfileTimestamp(absl::string_view user_id) const {
  if (auto timestamp = changes_.LastProfileTimestamp(user_id)) return timestamp;
  return base_->LastProfileTimestamp(user_id);
}

std::optional<MigrationRecord> StateOverlay::LastMigration(absl::string_view user_id) const {
  if (auto migration = changes_.LastMigration(user_id)) return migration;
  return base_->LastMigration(user_id);
}

std::optional<InviteRecord> StateOverlay::FindInvite(absl::string_view invite_id) const {
  if (auto invite = changes_.FindInvite(invite_id)) return invite;
  return base_->FindInvite(invite_id);
}

std::optional<uint64_t> StateOverlay::SeenRequestExpiry(absl::string_view signature_hash) const {
  if (auto expiry = changes_.SeenRequestExpiry(signature_hash)) return expiry;
  if (forgotten_requests_.contains(signature_hash)) return std::nullopt;
  return base_->SeenRequestExpiry(signature_hash);
}

uint64_t StateOverlay::ForgetHorizon() const {
  return horizon_set_ ? changes_.ForgetHorizon() : base_->ForgetHorizon();
}

std::vector<ForgettableRequest> StateOverlay::ForgettableRequests(
    uint64_t before_ms, size_t max, const ForgettableRequest* after) const {
  // Both lists are sorted by (expiry, hash). The base's starts after the last
  // record the batch purged (everything before it is purged or re-recorded)
  // and skips what the batch purged or re-recorded; merge them, keep `max`.
  const ForgettableRequest* from = after;
  if (last_forgotten_.has_value() && (from == nullptr || *from < *last_forgotten_)) {
    from = &*last_forgotten_;
  }
  std::vector<ForgettableRequest> merged = changes_.ForgettableRequests(before_ms, max, after);
  for (ForgettableRequest& request : base_->ForgettableRequests(before_ms, max + rerecorded_, from)) {
    if (forgotten_requests_.contains(request.signature_hash) ||
        changes_.SeenRequestExpiry(request.signature_hash).has_value()) {
      continue;
    }
    merged.push_back(std::move(request));
  }
  std::sort(merged.begin(), merged.end());
  if (merged.size() > max) merged.resize(max);
  return merged;
}

}  // namespace fedrelay::federation
