// A fan-out node's copy of the sequencer's API key table (docs/scale-out.md):
// it watches the bus's key-value bucket BusNames::api_key_bucket, which the
// sequencer keeps equal to its records (bus/kv_table_replicator.h: the key
// hashes, never the keys), and mirrors every record into the node's ApiKeys
// (relay/auth/api_keys.h), kept in memory. So the node authenticates the keys
// the sequencer issued with the relay's own code, and a revocation on the
// sequencer ends the key's streams here too (ApiKeys' revocation listeners),
// within the bus's latency.
//
// Failing closed: the table is loaded from the bucket on every start (never
// kept on disk), so a key revoked while the node was down is never live on
// it; and when the node loses the bus for longer than `lost_after_ms`, it
// forgets every key (their streams end) until the bucket is watched again.
//
// Thread-safety: Start once; caught_up() from any thread; Stop once.
#ifndef FEDRELAY_FANOUT_API_KEY_MIRROR_H_
#define FEDRELAY_FANOUT_API_KEY_MIRROR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "bus/nats_bus.h"
#include "relay/auth/api_keys.h"

namespace fedrelay::fanout {

struct ApiKeyMirrorOptions {
  bus::NatsBus* bus = nullptr;        // required; must outlive the mirror
  std::string bucket;                 // required
  relay::ApiKeys* api_keys = nullptr; // required; must outlive the mirror
  int64_t initial_wait_ms = 5000;     // Start waits this long for the bucket's values
  int64_t lost_after_ms = 10000;      // forget every key after losing the bus this long
};

class ApiKeyMirror {
 public:
  // Starts watching; returns once the bucket's current records are mirrored
  // (or after initial_wait_ms, with a warning: keys are refused until then).
  static std::unique_ptr<ApiKeyMirror> Start(ApiKeyMirrorOptions options);
  ~ApiKeyMirror();  // Stop()s

  // Whether the table holds the bucket's records as of the last watch.
  bool caught_up() const { return caught_up_.load(); }
  void Stop();

 private:
  explicit ApiKeyMirror(ApiKeyMirrorOptions options) : options_(std::move(options)) {}
  void Run();
  void ForgetAll(const char* why);

  const ApiKeyMirrorOptions options_;
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace fedrelay::fanout

#endif  // FEDRELAY_FANOUT_API_KEY_MIRROR_H_
