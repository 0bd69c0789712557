// The relay's durable state: one RocksDB database holding the append-only log
// (leaf bytes and complete-subtree hashes), the published checkpoints, and the
// key-value tables the layers above keep their state in (derived federation
// state, seen-request memory, subscriber cursors, ...). Each of those is a narrow
// interface of its own; LogStore is all of them plus Append.
//
// Everything a log append changes (leaves, Merkle nodes, the size, and the
// caller's side writes) goes into one synced WriteBatch, so a crash leaves
// either all of it or none of it.
//
// Thread-safety: reads are thread-safe and may run concurrently with Append.
// Append and Write are serialized internally; in practice only LogWriter appends.
#ifndef FEDRELAY_STORE_LOG_STORE_H_
#define FEDRELAY_STORE_LOG_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/checkpoint_store.h"
#include "store/integrity_audit.h"
#include "store/key_value_store.h"
#include "store/log_reader.h"
#include "store/merkle.h"
#include "store/tile_reader.h"

namespace fedrelay::store {

// The largest leaf the log holds: a C2SP entry bundle prefixes each leaf with
// a u16 big-endian length. Append refuses a batch with a longer leaf; the
// layer above refuses such an entry alone, before it reaches the writer batch.
inline constexpr size_t kMaxLeafBytes = 65535;

struct LogStoreOptions {
  // fsync every write. Only tests and benchmarks that measure CPU turn this off.
  bool sync = true;
};

// The RocksDB store implements every narrow interface; consumers take the one
// they need (store/log_reader.h, key_value_store.h, tile_reader.h,
// checkpoint_store.h, integrity_audit.h), and only the writer appends.
class LogStore : public LogReader,
                 public KeyValueStore,
                 public TileReader,
                 public CheckpointStore,
                 public IntegrityAudit {
 public:
  // Opens or creates the database under `dir`. Opening reads only the size and
  // the latest checkpoint (O(1) in the log size). Returns DATA_LOSS when the
  // stored size, nodes or checkpoint contradict each other.
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(const std::string& dir,
                                                        const LogStoreOptions& options = {});
  ~LogStore() override = default;

  // Appends `leaves` at indices [Size(), Size() + n) together with `side` in one
  // durable write. Returns the leaf hashes. On error nothing was written.
  virtual absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                          const WriteSet& side) = 0;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_STORE_H_
