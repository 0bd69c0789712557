// Where published checkpoints are kept: the latest one, which never goes
// backwards (store/checkpointer.h publishes them).
//
// Thread-safety: implementations are thread-safe.
#ifndef FEDRELAY_STORE_CHECKPOINT_STORE_H_
#define FEDRELAY_STORE_CHECKPOINT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace fedrelay::store {

struct StoredCheckpoint {
  uint64_t tree_size = 0;
  std::string root_hash;  // raw 32 bytes
  std::string note;       // the signed note text
};

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  // Persists a signed checkpoint (always synced). FAILED_PRECONDITION if it is
  // older than (tree_size below) the latest stored one or larger than the
  // log's size; DATA_LOSS if it has the latest one's size but another root;
  // INVALID_ARGUMENT if its root is not the log's root at tree_size.
  // Re-saving the latest is OK.
  virtual absl::Status SaveCheckpoint(const StoredCheckpoint& checkpoint) = 0;
  virtual std::optional<StoredCheckpoint> LatestCheckpoint() const = 0;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_CHECKPOINT_STORE_H_
