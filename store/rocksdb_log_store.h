// Internal to store/: the RocksDB implementation of LogStore, shared by its
// source files (log_store.cc: opening, appending, leaves, checkpoints and
// tables; log_store_tiles.cc; log_store_integrity.cc). Nothing outside store/
// includes it.
//
// Layout (one column family each):
//   leaves   u64be(index)              -> leaf bytes
//   nodes    u8(level) || u64be(index) -> 32-byte hash of every complete subtree
//   meta     "format"                  -> u64be(kFormatVersion)
//            "size"                    -> u64be(number of leaves)
//            "checkpoint"              -> u64be(tree_size) || root (32) || note
//   state, replay, cursors, aux        -> the Table contents, as given
//
// Nodes are keyed level-major so a tile (256 consecutive nodes of one level)
// is one contiguous range and the last node of each level is one seek away,
// which is what lets Open check the log's shape without scanning it.
#ifndef FEDRELAY_STORE_ROCKSDB_LOG_STORE_H_
#define FEDRELAY_STORE_ROCKSDB_LOG_STORE_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/encoding.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "store/log_store.h"

namespace fedrelay::store::rocksdb_internal {

inline constexpr uint64_t kFormatVersion = 1;
inline constexpr int kMaxLevel = 63;  // of a Merkle node (tile levels are in tiles.h)

inline constexpr char kMetaFormat[] = "format";
inline constexpr char kMetaSize[] = "size";
inline constexpr char kMetaCheckpoint[] = "checkpoint";

// Column family names, in the order of the handles kept by RocksDbLogStore.
enum Cf { kLeaves, kNodes, kMeta, kState, kSeenRequests, kCursors, kAux, kNumCfs };
inline constexpr const char* kCfNames[kNumCfs] = {"leaves", "nodes",   "meta", "state",
                                           "replay", "cursors", "aux"};

inline Cf CfFor(Table table) {
  switch (table) {
    case Table::kState:
      return kState;
    case Table::kSeenRequests:
      return kSeenRequests;
    case Table::kCursors:
      return kCursors;
    case Table::kAux:
      return kAux;
  }
  return kAux;  // unreachable: every enumerator is handled above
}

inline void AppendU64Be(std::string& out, uint64_t v) { AppendU64BE(out, v); }

inline uint64_t ReadU64Be(absl::string_view bytes) { return ReadU64BE(bytes); }

inline std::string U64Be(uint64_t v) {
  std::string out;
  AppendU64Be(out, v);
  return out;
}

inline std::string LeafKey(uint64_t index) { return U64Be(index); }

inline std::string NodeKey(int level, uint64_t index) {
  std::string key(1, static_cast<char>(level));
  AppendU64Be(key, index);
  return key;
}

inline rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
inline absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

inline absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsIOError() || status.IsBusy() || status.IsTimedOut() || status.IsTryAgain()) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

inline std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

// Number of complete nodes at `level` in a tree of `size` leaves.
inline uint64_t CompleteNodes(uint64_t size, int level) { return level > kMaxLevel ? 0 : size >> level; }

class RocksDbLogStore;

// Reads complete-subtree hashes from the nodes column family. A node that is
// complete within the published size but absent is corruption, not "not yet".
class RocksNodeReader : public SubtreeHashReader {
 public:
  explicit RocksNodeReader(const RocksDbLogStore* store) : store_(store) {}
  absl::StatusOr<std::string> GetNode(int level, uint64_t index) const override;

 private:
  const RocksDbLogStore* const store_;
};

class RocksDbLogStore final : public LogStore {
 public:
  static absl::StatusOr<std::unique_ptr<LogStore>> Open(const std::string& dir,
                                                        const LogStoreOptions& options);
  ~RocksDbLogStore() override;

  uint64_t Size() const override { return size_.load(std::memory_order_acquire); }
  absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                  const WriteSet& side) override;
  absl::StatusOr<std::string> GetLeaf(uint64_t index) const override;
  absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                          const std::function<bool(uint64_t, absl::string_view)>& fn) const override;
  const SubtreeHashReader& Nodes() const override { return node_reader_; }
  absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const override;
  absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const override;
  absl::Status SaveCheckpoint(const StoredCheckpoint& checkpoint) override;
  std::optional<StoredCheckpoint> LatestCheckpoint() const override;
  absl::StatusOr<std::optional<std::string>> Get(Table table,
                                                 absl::string_view key) const override;
  absl::Status Scan(Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override;
  absl::Status ScanFrom(Table table, absl::string_view prefix, absl::string_view start,
                        const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override;
  absl::Status Write(const WriteSet& writes) override;
  absl::Status WriteDerived(const WriteSet& writes) override;
  absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress) const override;

  // For RocksNodeReader: the stored node, or nullopt when absent.
  absl::StatusOr<std::optional<std::string>> ReadStoredNode(int level, uint64_t index) const;

 private:
  explicit RocksDbLogStore(const LogStoreOptions& options) : options_(options), node_reader_(this) {}

  absl::Status LoadAndCheck();
  absl::Status CheckLevelEnds(uint64_t size) const;
  absl::StatusOr<std::optional<std::string>> GetRaw(Cf cf, absl::string_view key) const;
  void AddSideWrites(const WriteSet& writes, rocksdb::WriteBatch& batch) const;
  rocksdb::WriteOptions SyncedWrite(bool sync) const {
    rocksdb::WriteOptions write_options;
    write_options.sync = sync;
    return write_options;
  }

  const LogStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // indexed by Cf; owned, freed in the destructor
  RocksNodeReader node_reader_;
  // Published only after the batch holding its leaves and nodes is written.
  std::atomic<uint64_t> size_{0};
  // Serializes Append, Write and SaveCheckpoint.
  absl::Mutex write_mu_;
  mutable absl::Mutex checkpoint_mu_;
  std::optional<StoredCheckpoint> checkpoint_ ABSL_GUARDED_BY(checkpoint_mu_);
};

}  // namespace fedrelay::store::rocksdb_internal

#endif  // FEDRELAY_STORE_ROCKSDB_LOG_STORE_H_
