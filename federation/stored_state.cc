#include "federation/stored_state.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/status_macros.h"
#include "federation/state_records.h"
#include "spdlog/spdlog.h"

namespace fedrelay::federation {
namespace {

using internal::Corrupt;

// Marks a store whose kSeenRequests table carries the expiry index.
constexpr absl::string_view kExpiryIndexMarkerKey = "meta/seen_expiry_index";
constexpr size_t kExpiryIndexKeySize = internal::kSeenExpiryPrefix.size() + 8 + 32;
// Index entries written per store write while building the index.
constexpr size_t kIndexBuildChunk = 16384;

// The first failed read of this thread since the writer last looked.
thread_local absl::Status read_failure;

void NoteReadFailure(const absl::Status& status) {
  if (read_failure.ok()) read_failure = status;
}

}  // namespace

absl::Status StoredState::TakeReadFailure() { return std::exchange(read_failure, absl::OkStatus()); }

absl::StatusOr<std::unique_ptr<StoredState>> StoredState::Open(store::KeyValueStore* store,
                                                               size_t cache_entries) {
  using store::Table;
  std::unique_ptr<StoredState> state(new StoredState(store, cache_entries));
  // Peers are few (operators add them one by one) and every request reads
  // one: they stay in memory whole.
  absl::Status failure;
  RETURN_IF_ERROR(store->Scan(Table::kState, internal::kPeerPrefix,
                              [&](absl::string_view key, absl::string_view value) {
                                key.remove_prefix(internal::kPeerPrefix.size());
                                PeerRecord peer;
                                if (!internal::DecodePeer(value, &peer)) {
                                  failure = Corrupt("peer", key);
                                  return false;
                                }
                                state->peers_.emplace(std::string(key), std::move(peer));
                                return true;
                              }));
  RETURN_IF_ERROR(failure);
  ASSIGN_OR_RETURN(std::optional<std::string> size, store->Get(Table::kState, internal::kLogSizeKey));
  if (size.has_value() && !internal::DecodeU64(*size, &state->log_size_)) {
    return Corrupt("log size", internal::kLogSizeKey);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> horizon,
                   store->Get(Table::kState, internal::kForgetHorizonKey));
  if (horizon.has_value() && !internal::DecodeU64(*horizon, &state->forget_horizon_ms_)) {
    return Corrupt("forget horizon", internal::kForgetHorizonKey);
  }
  ASSIGN_OR_RETURN(std::optional<std::string> marker,
                   store->Get(Table::kSeenRequests, kExpiryIndexMarkerKey));
  if (!marker.has_value()) RETURN_IF_ERROR(state->BuildExpiryIndex());
  state->purge_cursor_ = std::string(internal::kSeenExpiryPrefix);
  return state;
}

// A store written before the index existed: one pass over its records. The
// puts are idempotent, so a crash part-way just builds it again.
absl::Status StoredState::BuildExpiryIndex() {
  using store::Table;
  store::WriteSet writes;
  size_t pending = 0;
  absl::Status failure;
  RETURN_IF_ERROR(store_->Scan(
      Table::kSeenRequests, internal::kSeenRequestPrefix,
      [&](absl::string_view key, absl::string_view value) {
        key.remove_prefix(internal::kSeenRequestPrefix.size());
        uint64_t expiry = 0;
        if (key.size() != 32 || !internal::DecodeSeenExpiry(value, &expiry)) {
          failure = Corrupt("replay", key);
          return false;
        }
        writes.Put(Table::kSeenRequests, SeenExpiryIndexKey(expiry, key), "");
        if (++pending == kIndexBuildChunk) {
          failure = store_->Write(writes);
          writes = store::WriteSet();
          pending = 0;
        }
        return failure.ok();
      }));
  RETURN_IF_ERROR(failure);
  writes.Put(Table::kSeenRequests, kExpiryIndexMarkerKey, "1");
  return store_->Write(writes);
}

void StoredState::Apply(const StateOp& state_op) {
  // The store already holds the op: cached copies of what it changed are
  // dropped and read again on demand.
  const auto forget = [this](const std::string& key) {
    absl::MutexLock lock(&cache_mu_);
    auto it = index_.find(key);
    if (it == index_.end()) return;
    lru_.erase(it->second);
    index_.erase(it);
  };
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, op::PutPeer>) {
          peers_[o.server_id] = o.record;
        } else if constexpr (std::is_same_v<T, op::RemovePeer>) {
          peers_.erase(o.server_id);
        } else if constexpr (std::is_same_v<T, op::AddBan>) {
          forget(internal::BanStateKey(o.guild_id, o.user_id));
        } else if constexpr (std::is_same_v<T, op::SetHomeserver>) {
          forget(absl::StrCat(internal::kHomePrefix, o.user_id));
        } else if constexpr (std::is_same_v<T, op::SetProfileTimestamp>) {
          forget(absl::StrCat(internal::kProfilePrefix, o.user_id));
        } else if constexpr (std::is_same_v<T, op::SetMigration>) {
          forget(absl::StrCat(internal::kMigrationPrefix, o.user_id));
        } else if constexpr (std::is_same_v<T, op::PutInvite>) {
          forget(absl::StrCat(internal::kInvitePrefix, o.invite_id));
        } else if constexpr (std::is_same_v<T, op::RememberRequest>) {
          // Only ever later than what was purged; kept exact for any op order.
          std::string key = SeenExpiryIndexKey(o.record.expiry_ms, o.signature_hash);
          if (key < purge_cursor_) purge_cursor_ = std::move(key);
          if (o.record.expiry_ms < nothing_expires_before_.load()) {
            nothing_expires_before_.store(o.record.expiry_ms);
          }
        } else if constexpr (std::is_same_v<T, op::ForgetRequest>) {
          std::string key = SeenExpiryIndexKey(o.expiry_ms, o.signature_hash);
          if (key > purge_cursor_) purge_cursor_ = std::move(key);
        } else if constexpr (std::is_same_v<T, op::SetLogSize>) {
          log_size_ = o.size;
        } else if constexpr (std::is_same_v<T, op::SetForgetHorizon>) {
          forget_horizon_ms_ = o.horizon_ms;
        }
        // PutInviteToken: kAux only, never read through the state.
      },
      state_op);
}

size_t StoredState::cached_entries() const {
  absl::MutexLock lock(&cache_mu_);
  return lru_.size();
}

void StoredState::CachePut(const std::string& key, std::optional<std::string> value) const {
  absl::MutexLock lock(&cache_mu_);
  if (cache_capacity_ == 0) return;
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->value = std::move(value);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(CacheEntry{key, std::move(value)});
  index_.emplace(key, lru_.begin());
  if (lru_.size() > cache_capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::optional<std::string> StoredState::ReadState(const std::string& key) const {
  {
    absl::MutexLock lock(&cache_mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->value;
    }
  }
  absl::StatusOr<std::optional<std::string>> value = store_->Get(store::Table::kState, key);
  if (!value.ok()) {
    NoteReadFailure(value.status());
    return std::nullopt;  // not cached: the next read tries again
  }
  CachePut(key, *value);
  return *std::move(value);
}

template <typename Record>
std::optional<Record> StoredState::ReadRecord(const std::string& key, absl::string_view what,
                                              bool (*decode)(absl::string_view, Record*)) const {
  std::optional<std::string> bytes = ReadState(key);
  if (!bytes.has_value()) return std::nullopt;
  Record record{};
  if (!decode(*bytes, &record)) {
    NoteReadFailure(Corrupt(what, key));
    return std::nullopt;
  }
  return record;
}

std::optional<PeerRecord> StoredState::FindPeer(absl::string_view server_id) const {
  auto it = peers_.find(std::string(server_id));
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

bool StoredState::IsBanned(absl::string_view guild_id, absl::string_view user_id) const {
  return ReadState(internal::BanStateKey(guild_id, user_id)).has_value();
}

bool StoredState::IsBannedOrUnreadable(absl::string_view guild_id,
                                       absl::string_view user_id) const {
  const absl::Status earlier = TakeReadFailure();  // this question's failure alone
  const bool banned = IsBanned(guild_id, user_id);
  const absl::Status failure = TakeReadFailure();
  if (!earlier.ok()) read_failure = earlier;  // left for whoever was going to take it
  if (failure.ok()) return banned;
  spdlog::warn("cannot read a ban of {} in {}, treating it as banned: {}", std::string(user_id),
               std::string(guild_id), failure.ToString());
  return true;
}

std::optional<std::string> StoredState::FindHomeserver(absl::string_view user_id) const {
  return ReadState(absl::StrCat(internal::kHomePrefix, user_id));
}

std::optional<uint64_t> StoredState::LastProfileTimestamp(absl::string_view user_id) const {
  return ReadRecord<uint64_t>(absl::StrCat(internal::kProfilePrefix, user_id), "profile",
                              internal::DecodeU64);
}

std::optional<MigrationRecord> StoredState::LastMigration(absl::string_view user_id) const {
  return ReadRecord<MigrationRecord>(absl::StrCat(internal::kMigrationPrefix, user_id),
                                     "migration", internal::DecodeMigration);
}

std::optional<InviteRecord> StoredState::FindInvite(absl::string_view invite_id) const {
  return ReadRecord<InviteRecord>(absl::StrCat(internal::kInvitePrefix, invite_id), "invite",
                                  internal::DecodeInvite);
}

// Not cached: nearly every lookup is a new signature, which the store's bloom
// filters answer without reading a block.
std::optional<uint64_t> StoredState::SeenRequestExpiry(absl::string_view signature_hash) const {
  if (signature_hash.size() != 32) return std::nullopt;
  const std::string key = SeenRequestKey(signature_hash);
  absl::StatusOr<std::optional<std::string>> bytes = store_->Get(store::Table::kSeenRequests, key);
  if (!bytes.ok()) {
    NoteReadFailure(bytes.status());
    return std::nullopt;
  }
  if (!bytes->has_value()) return std::nullopt;
  uint64_t expiry = 0;
  if (!internal::DecodeSeenExpiry(**bytes, &expiry)) {
    NoteReadFailure(Corrupt("replay", key));
    return std::nullopt;
  }
  return expiry;
}

std::vector<ForgettableRequest> StoredState::ForgettableRequests(
    uint64_t before_ms, size_t max, const ForgettableRequest* after) const {
  std::vector<ForgettableRequest> expired;
  if (max == 0 || before_ms <= nothing_expires_before_.load()) return expired;
  std::string start = purge_cursor_;
  if (after != nullptr) {
    // The first key after `after`'s.
    std::string past = SeenExpiryIndexKey(after->expiry_ms, after->signature_hash);
    past.push_back('\0');
    start = std::max(start, past);
  }
  absl::Status failure;
  uint64_t first_live = UINT64_MAX;  // the expiry the walk stopped at (none: the index ended)
  absl::Status scanned = store_->ScanFrom(
      store::Table::kSeenRequests, internal::kSeenExpiryPrefix, start,
      [&](absl::string_view key, absl::string_view) {
        if (key.size() != kExpiryIndexKeySize) {
          failure = Corrupt("seen-request expiry index", key);
          return false;
        }
        key.remove_prefix(internal::kSeenExpiryPrefix.size());
        const uint64_t expiry = ReadU64BE(key);
        if (expiry >= before_ms) {
          first_live = expiry;
          return false;
        }
        key.remove_prefix(8);
        expired.push_back(ForgettableRequest{expiry, std::string(key)});
        return expired.size() < max;
      });
  if (!scanned.ok()) failure = scanned;
  if (!failure.ok()) {
    NoteReadFailure(failure);
    expired.clear();
  } else if (expired.empty() && after == nullptr) {
    nothing_expires_before_.store(first_live);
  }
  return expired;
}

}  // namespace fedrelay::federation
