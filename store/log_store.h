// The relay's durable state: one RocksDB database holding the append-only log
// (leaf bytes and complete-subtree hashes), the published checkpoints, and the
// key-value tables the layers above keep their state in (derived federation
// state, replay memory, subscriber cursors, ...).
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
#include "store/merkle.h"

namespace fedrelay::store {

// Key-value tables beside the log. Keys and values are opaque bytes.
enum class Table {
  kState,    // derived federation state (bans, homeservers, profiles, invites, peers)
  kReplay,   // replay memory: signature -> expiry
  kCursors,  // durable per-subscriber cursors
  kAux,      // everything else (API keys, access requests, sessions, tickets, ...)
};

// Mutations to apply atomically with a log append or on their own.
class WriteSet {
 public:
  void Put(Table table, absl::string_view key, absl::string_view value);
  void Delete(Table table, absl::string_view key);
  // Appends `other`'s mutations after this set's own.
  void Merge(const WriteSet& other);
  bool empty() const { return ops_.empty(); }

  struct Op {
    Table table;
    std::string key;
    std::optional<std::string> value;  // nullopt = delete
  };
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

// The largest leaf the log holds: a C2SP entry bundle prefixes each leaf with
// a u16 big-endian length. Append refuses a batch with a longer leaf; the
// layer above refuses such an entry alone, before it reaches the writer batch.
inline constexpr size_t kMaxLeafBytes = 65535;

struct StoredCheckpoint {
  uint64_t tree_size = 0;
  std::string root_hash;  // raw 32 bytes
  std::string note;       // the signed note text
};

struct LogStoreOptions {
  // fsync every write. Only tests and benchmarks that measure CPU turn this off.
  bool sync = true;
};

class LogStore {
 public:
  // Opens or creates the database under `dir`. Opening reads only the size and
  // the latest checkpoint (O(1) in the log size). Returns DATA_LOSS when the
  // stored size, nodes or checkpoint contradict each other.
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(const std::string& dir,
                                                        const LogStoreOptions& options = {});
  virtual ~LogStore() = default;

  // Number of leaves.
  virtual uint64_t Size() const = 0;

  // Appends `leaves` at indices [Size(), Size() + n) together with `side` in one
  // durable write. Returns the leaf hashes. On error nothing was written.
  virtual absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                          const WriteSet& side) = 0;

  virtual absl::StatusOr<std::string> GetLeaf(uint64_t index) const = 0;
  // Calls `fn(index, leaf_bytes)` for [begin, min(end, Size())) in order until it returns false.
  virtual absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                                  const std::function<bool(uint64_t, absl::string_view)>& fn) const = 0;

  // The complete-subtree hashes of the log (see merkle.h).
  virtual const SubtreeHashReader& Nodes() const = 0;
  absl::StatusOr<std::string> RootHash(uint64_t tree_size) const;
  absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t leaf_index, uint64_t tree_size) const;
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t first, uint64_t second) const;

  // C2SP tlog-tiles: tile (level, index) holds up to 256 hashes of Merkle level
  // 8 * level; `width` 1..256 (256 = full). NOT_FOUND when the tree does not
  // yet contain that many complete nodes.
  virtual absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const = 0;
  // Entry bundle `index`: leaves [256 * index, 256 * index + width), each as
  // u16be(length) || leaf bytes.
  virtual absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const = 0;

  // Persists a signed checkpoint (always synced). FAILED_PRECONDITION if it is
  // older than (tree_size below) the latest stored one or larger than Size();
  // DATA_LOSS if it has the latest one's size but another root; INVALID_ARGUMENT
  // if its root is not the log's root at tree_size. Re-saving the latest is OK.
  virtual absl::Status SaveCheckpoint(const StoredCheckpoint& checkpoint) = 0;
  virtual std::optional<StoredCheckpoint> LatestCheckpoint() const = 0;

  // Tables.
  virtual absl::StatusOr<std::optional<std::string>> Get(Table table, absl::string_view key) const = 0;
  // Calls `fn(key, value)` for keys starting with `prefix`, in key order, until it returns false.
  virtual absl::Status Scan(Table table, absl::string_view prefix,
                            const std::function<bool(absl::string_view, absl::string_view)>& fn) const = 0;
  // As Scan, but starting at the first key >= `start` (which should begin with
  // `prefix`): a seek, so paging through a long prefix costs O(page). The
  // default filters a Scan; the RocksDB store seeks.
  virtual absl::Status ScanFrom(Table table, absl::string_view prefix, absl::string_view start,
                                const std::function<bool(absl::string_view, absl::string_view)>& fn) const;
  // Applies `writes` durably, outside of any log append.
  virtual absl::Status Write(const WriteSet& writes) = 0;

  // Full audit of the stored log: recomputes every leaf hash and every stored
  // node from the leaves and checks the latest checkpoint's root. DATA_LOSS
  // naming the first bad index. `progress(done, total)` is called now and then.
  virtual absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress = nullptr) const = 0;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_STORE_H_
