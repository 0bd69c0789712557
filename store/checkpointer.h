// Publishes signed checkpoints of the log (SPEC section 7): at least every
// interval while the log grows, each a C2SP signed note whose body is the
// tlog-checkpoint of the log at that moment, saved durably in the LogStore
// before anyone can see it.
//
// Thread-safety: all methods are thread-safe. `on_publish` runs on the thread
// that published (the checkpointer's thread or a PublishNow caller).
#ifndef FEDRELAY_STORE_CHECKPOINTER_H_
#define FEDRELAY_STORE_CHECKPOINTER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "store/log_store.h"

namespace fedrelay::store {

class Checkpointer {
 public:
  struct Options {
    std::string origin;  // the checkpoint's first line and the note signer name
    // 0 = no background thread; only PublishNow publishes.
    uint64_t interval_ms = 1000;
    // Called after each new checkpoint is durable, e.g. to tell subscribers.
    std::function<void(const StoredCheckpoint&)> on_publish;
  };

  // Starts the background thread unless interval_ms is 0. `log` and
  // `checkpoints` (usually one LogStore) must outlive this.
  Checkpointer(const LogReader* log, CheckpointStore* checkpoints, Ed25519PrivateKey key,
               Options options);
  Checkpointer(LogStore* store, Ed25519PrivateKey key, Options options)
      : Checkpointer(store, store, std::move(key), std::move(options)) {}
  ~Checkpointer();  // Stop()s

  // Publishes a checkpoint of the current log unless the latest one already
  // covers it (or, for an empty log, one exists); returns the latest either way.
  absl::StatusOr<StoredCheckpoint> PublishNow();
  // The latest durable checkpoint, if any.
  std::optional<StoredCheckpoint> Latest() const;
  // Ends the background thread; PublishNow still works.
  void Stop();

 private:
  void Run();

  const LogReader* const log_;
  CheckpointStore* const checkpoints_;
  const Ed25519PrivateKey key_;
  const Options options_;
  absl::Mutex publish_mu_;  // one publication at a time, so sizes only grow
  mutable absl::Mutex mu_;
  std::optional<StoredCheckpoint> latest_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_CHECKPOINTER_H_
