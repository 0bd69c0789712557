// The small key-value store the layers above keep their state in, beside the
// log: a few tables of opaque keys and values, read by point or by prefix,
// written in atomic sets (alone, or with a log append: see LogStore::Append).
//
// Thread-safety: implementations are thread-safe; writes are serialized.
#ifndef FEDRELAY_STORE_KEY_VALUE_STORE_H_
#define FEDRELAY_STORE_KEY_VALUE_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::store {

// Key-value tables beside the log. Keys and values are opaque bytes.
enum class Table {
  kState,    // derived federation state (bans, homeservers, profiles, invites, peers)
  kSeenRequests,   // seen-request memory: signature -> expiry
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

class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;

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
  // Applies `writes` atomically without waiting for the disk: for data derived
  // from the log that is rebuilt after a crash (an index and its watermark).
  // A crash may lose the latest such writes, never part of one and never one
  // without those before it; the next durable Write or append makes them
  // durable too. The default is Write.
  virtual absl::Status WriteDerived(const WriteSet& writes) { return Write(writes); }
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_KEY_VALUE_STORE_H_
