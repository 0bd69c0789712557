// The relay's signing key and the store it belongs to. A log is signed by one
// key for its whole life: receipts, checkpoints and operator actions made under
// another key verify under neither, so fedrelay-audit would fail. The store
// therefore remembers the relay's public key (aux table, key "relay/public_key")
// and start-up refuses any other. A key is generated only for a new, empty store.
// Thread-safety: call once at start-up, before anything else uses the store.
#ifndef FEDRELAY_RELAY_RELAY_KEY_H_
#define FEDRELAY_RELAY_RELAY_KEY_H_

#include <string>

#include "absl/status/statusor.h"
#include "base/crypto.h"
#include "store/log_store.h"

namespace fedrelay::relay {

// Where the store keeps the relay's public key (lowercase hex).
inline constexpr char kRelayPublicKeyAuxKey[] = "relay/public_key";

// Loads `key_file` and checks it is the key of `store` (the key recorded in the
// store, or, for a store written before keys were recorded, the key that signed
// its latest checkpoint under `origin`); records it when the store has none.
// When `key_file` does not exist: creates it (mode 0600, missing parent
// directories 0700) only if the store is new and empty; otherwise
// FAILED_PRECONDITION, since a new key cannot continue an existing log.
// `created` tells whether a key was generated.
absl::StatusOr<Ed25519PrivateKey> LoadOrCreateRelayKey(const std::string& key_file,
                                                       const std::string& origin,
                                                       store::LogStore& store, bool* created);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_RELAY_KEY_H_
