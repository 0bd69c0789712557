// API keys for downstream consumers (SPEC section 6: "Keys are shown once,
// stored only as hashes, and revocable one by one").
//
// A key is "fr_" followed by 64 lowercase hex characters (32 random bytes from
// the kernel CSPRNG). The relay stores only its SHA-256; the key id is the
// first 16 hex characters of that hash, so authenticating a key is one point
// lookup and the id can be shown, logged and used as a metric label without
// revealing anything usable. Records live in the store's kAux table under
// "apikey/<key id>" as JSON, written synced.
//
// Thread-safety: all methods are thread-safe. Revocation listeners run on the
// revoking thread, after the revocation is durable, without internal locks held.
#ifndef FEDRELAY_RELAY_AUTH_API_KEYS_H_
#define FEDRELAY_RELAY_AUTH_API_KEYS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "base/clock.h"
#include "store/key_value_store.h"

namespace fedrelay::relay {

// The only scope of v1: everything a downstream consumer may see, including
// DM invites and their tokens.
inline constexpr absl::string_view kScopeRestFull = "rest.full";

struct ApiKeyInfo {
  std::string key_id;  // 16 lowercase hex characters
  std::string name;    // operator-chosen label; never trusted for anything
  std::vector<std::string> scopes;
  uint64_t created_at_ms = 0;
  bool revoked = false;
  uint64_t revoked_at_ms = 0;

  bool HasScope(absl::string_view scope) const;
};

class ApiKeys {
 public:
  explicit ApiKeys(store::KeyValueStore* store, const Clock* clock = &SystemClock());

  struct Created {
    std::string key;  // the secret; returned exactly once, never stored or logged
    ApiKeyInfo info;
  };
  // Issues a new key. `name` is 1..100 printable characters; every scope must
  // be known (kMalformed otherwise).
  absl::StatusOr<Created> Create(absl::string_view name,
                                 const std::vector<std::string>& scopes = {std::string(kScopeRestFull)});

  // The record of a live key. kUnauthenticated for a malformed, unknown or
  // revoked key (one message for all three, so the answer reveals nothing).
  absl::StatusOr<ApiKeyInfo> Authenticate(absl::string_view key) const;

  // Every key ever issued (revoked ones included), oldest first.
  absl::StatusOr<std::vector<ApiKeyInfo>> List() const;

  // Revokes a key by id; kNotFound when there is none. Revoking a revoked key
  // is a no-op that returns its record. Listeners learn of a new revocation.
  absl::StatusOr<ApiKeyInfo> Revoke(absl::string_view key_id);

  // Called with the key id after each new revocation (e.g. to end its streams).
  void AddRevocationListener(std::function<void(const std::string& key_id)> listener);

  // "fr_<64 hex>" -> its key id, or kUnauthenticated.
  static absl::StatusOr<std::string> KeyIdOf(absl::string_view key);

  // Replication to fan-out nodes (docs/scale-out.md). The sequencer copies
  // its records to the bus; a node mirrors them into its own ApiKeys, so it
  // authenticates the sequencer's keys with the same code.
  //
  // Every stored record: (key id, record JSON holding the key's SHA-256,
  // never the key), in key id order.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Records() const;
  // Stores a record in Records()' form as it is (kMalformed when it is not
  // one). A record that revokes a key this table holds live tells the
  // revocation listeners.
  absl::Status Mirror(absl::string_view record);
  // Drops a record: the key is then unknown. Listeners learn of it as of a
  // revocation when the key was live.
  absl::Status Forget(absl::string_view key_id);
  // Called with the key id after each change made here (Create, Revoke).
  void AddChangeListener(std::function<void(const std::string& key_id)> listener);

 private:
  absl::StatusOr<Created> DrawAndSave(absl::string_view name,
                                       const std::vector<std::string>& scopes);
  absl::StatusOr<std::optional<ApiKeyInfo>> Load(absl::string_view key_id, std::string* sha256_hex) const;
  absl::Status Save(const ApiKeyInfo& info, absl::string_view sha256_hex);
  void Notify(bool revoked, const std::string& key_id);

  store::KeyValueStore* const store_;
  const Clock* const clock_;
  absl::Mutex write_mu_;  // serializes read-modify-write of records
  absl::Mutex listeners_mu_;
  std::vector<std::function<void(const std::string&)>> listeners_ ABSL_GUARDED_BY(listeners_mu_);
  std::vector<std::function<void(const std::string&)>> change_listeners_
      ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_AUTH_API_KEYS_H_
