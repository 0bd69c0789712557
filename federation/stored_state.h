// The relay's durable derived state, read from the store on demand instead of
// loaded whole: start-up reads the peers (a handful, added by operators), the
// log size and the forget horizon, and nothing that grows with users or
// traffic. Bans, homeservers, profile and migration order and invites are
// point reads of the kState table behind a bounded LRU cache (RocksDB's block
// cache bounds the rest); the seen-request memory is point reads of the
// kSeenRequests table, and the purge walks its expiry index
// ("exp/<u64be expiry><hash>", written by AddWrites) in order. Its answers are
// exactly a DerivedState's over the same tables (stored_state_test.cc).
//
// Apply(op) must follow the op's durable write (AddWrites in the same or an
// earlier store write): the cache is written through, never ahead of the store.
//
// A failed store read cannot be returned through StateView: the lookup
// answers "absent" and remembers the failure for the calling thread; the
// writer takes it after each accept step (TakeReadFailure) and refuses the
// item instead of deciding on a guess.
//
// Thread-safety: lookups are thread-safe and may run concurrently with each
// other (the cache has its own lock); Apply must not run concurrently with
// lookups (the Federation holds its state mutex exclusively around it, and
// readers hold it shared).
#ifndef FEDRELAY_FEDERATION_STORED_STATE_H_
#define FEDRELAY_FEDERATION_STORED_STATE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "federation/state.h"
#include "store/key_value_store.h"

namespace fedrelay::federation {

// kState records kept in the cache: about 150 bytes each, so some 10 MB.
inline constexpr size_t kDefaultStateCacheEntries = 65536;

class StoredState final : public StateView {
 public:
  // Reads the peers, the log size and the forget horizon. A store whose
  // seen-request records predate the expiry index gets it built here, once
  // (one pass over the kSeenRequests table, bounded by traffic within the
  // freshness window).
  static absl::StatusOr<std::unique_ptr<StoredState>> Open(
      store::KeyValueStore* store, size_t cache_entries = kDefaultStateCacheEntries);

  // Keeps the memory in step with an op already durable in the store.
  void Apply(const StateOp& op);

  // The first store read that failed on this thread since the last call, or OK.
  static absl::Status TakeReadFailure();

  // For readers outside the writer, which never take the read failure: true
  // when the user is banned or when the ban cannot be read. A ban check fails
  // closed, so a disk error never lets a banned member through.
  bool IsBannedOrUnreadable(absl::string_view guild_id, absl::string_view user_id) const;

  std::optional<PeerRecord> FindPeer(absl::string_view server_id) const override;
  bool IsBanned(absl::string_view guild_id, absl::string_view user_id) const override;
  std::optional<std::string> FindHomeserver(absl::string_view user_id) const override;
  std::optional<uint64_t> LastProfileTimestamp(absl::string_view user_id) const override;
  std::optional<MigrationRecord> LastMigration(absl::string_view user_id) const override;
  std::optional<InviteRecord> FindInvite(absl::string_view invite_id) const override;
  std::optional<uint64_t> SeenRequestExpiry(absl::string_view signature_hash) const override;
  uint64_t ForgetHorizon() const override { return forget_horizon_ms_; }
  std::vector<ForgettableRequest> ForgettableRequests(
      uint64_t before_ms, size_t max, const ForgettableRequest* after = nullptr) const override;

  const std::map<std::string, PeerRecord>& peers() const { return peers_; }
  uint64_t log_size() const { return log_size_; }
  size_t cached_entries() const;

 private:
  StoredState(store::KeyValueStore* store, size_t cache_entries)
      : store_(store), cache_capacity_(cache_entries) {}

  // The kState value under `key` (nullopt: absent, or unreadable: see
  // TakeReadFailure), through the cache.
  std::optional<std::string> ReadState(const std::string& key) const;
  // The record under `key` decoded (nullopt: absent, or unreadable).
  template <typename Record>
  std::optional<Record> ReadRecord(const std::string& key, absl::string_view what,
                                   bool (*decode)(absl::string_view, Record*)) const;
  void CachePut(const std::string& key, std::optional<std::string> value) const;
  absl::Status BuildExpiryIndex();

  store::KeyValueStore* const store_;
  const size_t cache_capacity_;

  std::map<std::string, PeerRecord> peers_;
  uint64_t log_size_ = 0;
  uint64_t forget_horizon_ms_ = 0;
  // Where the purge's walk of the expiry index starts: the last index key
  // purged. Every later record expires after it (a record expiring behind the
  // horizon is refused, and the purge only takes records behind it), so the
  // walk need not step over the tombstones of earlier purges.
  std::string purge_cursor_;
  // No index entry from purge_cursor_ on expires before this (learned from a
  // walk that found nothing to forget; lowered by every new record), so the
  // purge need not walk while nothing has expired. Lookups may race to set it
  // (each to a true bound), hence atomic.
  mutable std::atomic<uint64_t> nothing_expires_before_{0};

  // LRU cache of kState values, most recent first; nullopt caches an absence.
  struct CacheEntry {
    std::string key;
    std::optional<std::string> value;
  };
  mutable absl::Mutex cache_mu_;
  mutable std::list<CacheEntry> lru_ ABSL_GUARDED_BY(cache_mu_);
  mutable absl::flat_hash_map<std::string, std::list<CacheEntry>::iterator> index_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace fedrelay::federation

#endif  // FEDRELAY_FEDERATION_STORED_STATE_H_
