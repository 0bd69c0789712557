// RocksDB-backed LogStore.
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
#include "store/log_store.h"

#include <atomic>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "store/tiles.h"

namespace fedrelay::store {

void WriteSet::Put(Table table, absl::string_view key, absl::string_view value) {
  ops_.push_back(Op{table, std::string(key), std::string(value)});
}

void WriteSet::Merge(const WriteSet& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
}

void WriteSet::Delete(Table table, absl::string_view key) {
  ops_.push_back(Op{table, std::string(key), std::nullopt});
}

absl::StatusOr<std::string> LogStore::RootHash(uint64_t tree_size) const {
  if (tree_size > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", tree_size, " exceeds the log size ", Size()));
  }
  return store::RootHash(Nodes(), tree_size);
}

absl::StatusOr<std::vector<std::string>> LogStore::InclusionProof(uint64_t leaf_index,
                                                                  uint64_t tree_size) const {
  if (tree_size > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", tree_size, " exceeds the log size ", Size()));
  }
  return store::InclusionProof(Nodes(), leaf_index, tree_size);
}

absl::StatusOr<std::vector<std::string>> LogStore::ConsistencyProof(uint64_t first,
                                                                    uint64_t second) const {
  if (second > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", second, " exceeds the log size ", Size()));
  }
  return store::ConsistencyProof(Nodes(), first, second);
}

absl::Status LogStore::ScanFrom(
    Table table, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  return Scan(table, prefix, [&](absl::string_view key, absl::string_view value) {
    return key < start || fn(key, value);
  });
}

namespace {

constexpr uint64_t kFormatVersion = 1;
constexpr int kMaxLevel = 63;  // of a Merkle node (tile levels are in tiles.h)

constexpr char kMetaFormat[] = "format";
constexpr char kMetaSize[] = "size";
constexpr char kMetaCheckpoint[] = "checkpoint";

// Column family names, in the order of the handles kept by RocksDbLogStore.
enum Cf { kLeaves, kNodes, kMeta, kState, kReplay, kCursors, kAux, kNumCfs };
constexpr const char* kCfNames[kNumCfs] = {"leaves", "nodes",   "meta", "state",
                                           "replay", "cursors", "aux"};

Cf CfFor(Table table) {
  switch (table) {
    case Table::kState:
      return kState;
    case Table::kReplay:
      return kReplay;
    case Table::kCursors:
      return kCursors;
    case Table::kAux:
      return kAux;
  }
  return kAux;  // unreachable: every enumerator is handled above
}

void AppendU64Be(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t ReadU64Be(absl::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

std::string U64Be(uint64_t v) {
  std::string out;
  AppendU64Be(out, v);
  return out;
}

std::string LeafKey(uint64_t index) { return U64Be(index); }

std::string NodeKey(int level, uint64_t index) {
  std::string key(1, static_cast<char>(level));
  AppendU64Be(key, index);
  return key;
}

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsIOError() || status.IsBusy() || status.IsTimedOut() || status.IsTryAgain()) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

std::string Hex(absl::string_view bytes) { return absl::BytesToHexString(bytes); }

// Number of complete nodes at `level` in a tree of `size` leaves.
uint64_t CompleteNodes(uint64_t size, int level) { return level > kMaxLevel ? 0 : size >> level; }

std::string EncodeCheckpoint(const StoredCheckpoint& checkpoint) {
  std::string out = U64Be(checkpoint.tree_size);
  out += checkpoint.root_hash;
  out += checkpoint.note;
  return out;
}

absl::StatusOr<StoredCheckpoint> DecodeCheckpoint(absl::string_view bytes) {
  if (bytes.size() < 8 + kSha256Bytes) {
    return absl::DataLossError(
        absl::StrCat("stored checkpoint record is ", bytes.size(), " bytes, too short"));
  }
  StoredCheckpoint checkpoint;
  checkpoint.tree_size = ReadU64Be(bytes);
  checkpoint.root_hash = std::string(bytes.substr(8, kSha256Bytes));
  checkpoint.note = std::string(bytes.substr(8 + kSha256Bytes));
  return checkpoint;
}

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

// Nodes computed for the batch being built, falling back to the stored ones:
// NodesForAppend needs left siblings that may be part of the same batch.
class OverlayNodeReader : public SubtreeHashReader {
 public:
  explicit OverlayNodeReader(const SubtreeHashReader& base) : base_(base) {}
  absl::StatusOr<std::string> GetNode(int level, uint64_t index) const override {
    auto it = pending_.find({level, index});
    if (it != pending_.end()) return it->second;
    return base_.GetNode(level, index);
  }
  void Add(int level, uint64_t index, std::string hash) {
    pending_[{level, index}] = std::move(hash);
  }

 private:
  const SubtreeHashReader& base_;
  std::map<std::pair<int, uint64_t>, std::string> pending_;
};

class RocksDbLogStore : public LogStore {
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

absl::StatusOr<std::string> RocksNodeReader::GetNode(int level, uint64_t index) const {
  if (level < 0 || level > kMaxLevel) {
    return absl::InvalidArgumentError(absl::StrCat("merkle level ", level, " out of range"));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> hash, store_->ReadStoredNode(level, index));
  if (hash.has_value()) return *std::move(hash);
  const uint64_t size = store_->Size();
  if (index < CompleteNodes(size, level)) {
    return absl::DataLossError(absl::StrCat("merkle node (", level, ", ", index,
                                            ") is missing from a log of size ", size));
  }
  return absl::NotFoundError(absl::StrCat("no complete merkle node (", level, ", ", index,
                                          ") in a log of size ", size));
}

absl::StatusOr<std::unique_ptr<LogStore>> RocksDbLogStore::Open(const std::string& dir,
                                                                const LogStoreOptions& options) {
  // Point lookups (GetNode, GetLeaf, Get) dominate: bloom filters skip SST
  // files that cannot hold the key, and a shared block cache keeps the upper
  // tree levels, which every root and proof reads, in memory.
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rocksdb::NewLRUCache(64 << 20);
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table_options.cache_index_and_filter_blocks = true;
  table_options.pin_l0_filter_and_index_blocks_in_cache = true;
  table_options.format_version = 5;

  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  cf_options.compression = rocksdb::kNoCompression;  // hashes do not compress
  cf_options.write_buffer_size = 8 << 20;

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  // Replaying the WAL into memtables is enough after a crash; flushing them
  // to SST files before Open returns would make open time grow with the
  // unflushed tail. A clean close flushes instead (see the destructor).
  db_options.avoid_flush_during_recovery = true;
  // The small meta family (rewritten on every append) would otherwise never
  // fill a memtable, pin every WAL file, and make crash recovery replay the
  // whole log. Capping the WAL flushes whatever holds the oldest file.
  // Together with small memtables this bounds what a crash leaves to replay
  // (about 16 MB of WAL) and so the time Open takes after one.
  db_options.max_total_wal_size = 16 << 20;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
  for (const char* name : kCfNames) descriptors.emplace_back(name, cf_options);

  std::unique_ptr<RocksDbLogStore> store(new RocksDbLogStore(options));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &db);
  if (!status.ok()) return FromRocks(status, absl::StrCat("opening log store ", dir));
  store->db_.reset(db);
  // handles[0] is the default family, which we do not use; RocksDB owns it.
  store->db_->DestroyColumnFamilyHandle(handles[0]);
  store->cfs_.assign(handles.begin() + 1, handles.end());
  RETURN_IF_ERROR(store->LoadAndCheck());
  return std::unique_ptr<LogStore>(std::move(store));
}

RocksDbLogStore::~RocksDbLogStore() {
  if (db_ == nullptr) return;
  // Leave nothing in the WAL for the next Open to replay.
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  db_->Flush(flush_options, cfs_).PermitUncheckedError();
  for (rocksdb::ColumnFamilyHandle* handle : cfs_) db_->DestroyColumnFamilyHandle(handle);
  db_->Close().PermitUncheckedError();
}

absl::StatusOr<std::optional<std::string>> RocksDbLogStore::GetRaw(Cf cf,
                                                                   absl::string_view key) const {
  std::string value;
  rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), cfs_[cf], ToSlice(key), &value);
  if (status.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocks(status, absl::StrCat("reading ", kCfNames[cf])));
  return value;
}

absl::StatusOr<std::optional<std::string>> RocksDbLogStore::ReadStoredNode(int level,
                                                                           uint64_t index) const {
  return GetRaw(kNodes, NodeKey(level, index));
}

// O(log n) shape check: for every level, the last stored node must be exactly
// the last complete one, and the last leaf must be leaf size - 1 and hash to
// its level-0 node. Catches a size that disagrees with the data (truncation,
// a lost or torn batch) without reading the log.
absl::Status RocksDbLogStore::CheckLevelEnds(uint64_t size) const {
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kLeaves]));
    it->SeekToLast();
    RETURN_IF_ERROR(FromRocks(it->status(), "reading the last leaf"));
    if (!it->Valid()) {
      if (size != 0) {
        return absl::DataLossError(
            absl::StrCat("log store: stored size is ", size, " but there are no leaves"));
      }
    } else {
      if (it->key().size() != 8) {
        return absl::DataLossError(
            absl::StrCat("log store: malformed leaf key ", Hex(ToView(it->key()))));
      }
      const uint64_t last = ReadU64Be(ToView(it->key()));
      if (size == 0 || last != size - 1) {
        return absl::DataLossError(absl::StrCat("log store: stored size is ", size,
                                                " but the last leaf is at index ", last));
      }
      ASSIGN_OR_RETURN(std::optional<std::string> node, ReadStoredNode(0, last));
      if (!node.has_value() || *node != HashLeaf(ToView(it->value()))) {
        return absl::DataLossError(absl::StrCat(
            "log store: leaf ", last, " does not match its stored hash (node (0, ", last, "))"));
      }
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cfs_[kNodes]));
  for (int level = 0; level <= kMaxLevel; ++level) {
    const uint64_t count = CompleteNodes(size, level);
    it->SeekForPrev(ToSlice(NodeKey(level, UINT64_MAX)));
    RETURN_IF_ERROR(FromRocks(it->status(), "reading merkle nodes"));
    const bool at_level = it->Valid() && it->key().size() == 9 &&
                          static_cast<unsigned char>(it->key()[0]) == level;
    if (!at_level) {
      if (count != 0) {
        return absl::DataLossError(absl::StrCat("log store: stored size is ", size,
                                                " but there are no merkle nodes at level ",
                                                level, " (want ", count, ")"));
      }
      continue;
    }
    const uint64_t last = ReadU64Be(ToView(it->key()).substr(1));
    if (count == 0 || last != count - 1) {
      return absl::DataLossError(absl::StrCat("log store: stored size is ", size,
                                              " but the last merkle node at level ", level,
                                              " is index ", last, " (want ",
                                              count == 0 ? std::string("none")
                                                         : absl::StrCat(count - 1),
                                              ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status RocksDbLogStore::LoadAndCheck() {
  ASSIGN_OR_RETURN(std::optional<std::string> format, GetRaw(kMeta, kMetaFormat));
  ASSIGN_OR_RETURN(std::optional<std::string> size_bytes, GetRaw(kMeta, kMetaSize));
  if (!format.has_value()) {
    if (size_bytes.has_value()) {
      return absl::DataLossError("log store: size is recorded but the format version is missing");
    }
    // A fresh database, unless leaves exist without any metadata.
    RETURN_IF_ERROR(CheckLevelEnds(0));
    rocksdb::WriteBatch batch;
    batch.Put(cfs_[kMeta], kMetaFormat, ToSlice(U64Be(kFormatVersion)));
    batch.Put(cfs_[kMeta], kMetaSize, ToSlice(U64Be(0)));
    return FromRocks(db_->Write(SyncedWrite(true), &batch), "initializing log store");
  }
  if (format->size() != 8 || ReadU64Be(*format) != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("log store format ", Hex(*format), " is not supported (want ", kFormatVersion,
                     ")"));
  }
  if (!size_bytes.has_value() || size_bytes->size() != 8) {
    return absl::DataLossError("log store: the stored size is missing or malformed");
  }
  const uint64_t size = ReadU64Be(*size_bytes);
  size_.store(size, std::memory_order_release);
  RETURN_IF_ERROR(CheckLevelEnds(size));

  ASSIGN_OR_RETURN(std::optional<std::string> checkpoint_bytes, GetRaw(kMeta, kMetaCheckpoint));
  if (!checkpoint_bytes.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(StoredCheckpoint checkpoint, DecodeCheckpoint(*checkpoint_bytes));
  if (checkpoint.tree_size > size) {
    return absl::DataLossError(absl::StrCat("log store: the latest checkpoint has tree size ",
                                            checkpoint.tree_size,
                                            " but the log holds only ", size, " leaves"));
  }
  absl::StatusOr<std::string> root = store::RootHash(node_reader_, checkpoint.tree_size);
  if (!root.ok()) {
    return absl::DataLossError(absl::StrCat("log store: cannot compute the root of the checkpoint (size ",
                                            checkpoint.tree_size,
                                            "): ", root.status().message()));
  }
  if (*root != checkpoint.root_hash) {
    return absl::DataLossError(absl::StrCat(
        "log store: the merkle nodes give root ", Hex(*root), " for tree size ",
        checkpoint.tree_size, " but the latest checkpoint says ", Hex(checkpoint.root_hash)));
  }
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_ = std::move(checkpoint);
  return absl::OkStatus();
}

void RocksDbLogStore::AddSideWrites(const WriteSet& writes, rocksdb::WriteBatch& batch) const {
  for (const WriteSet::Op& op : writes.ops()) {
    rocksdb::ColumnFamilyHandle* cf = cfs_[CfFor(op.table)];
    if (op.value.has_value()) {
      batch.Put(cf, op.key, *op.value);
    } else {
      batch.Delete(cf, op.key);
    }
  }
}

absl::StatusOr<std::vector<std::string>> RocksDbLogStore::Append(
    const std::vector<std::string>& leaves, const WriteSet& side) {
  for (size_t i = 0; i < leaves.size(); ++i) {
    if (leaves[i].size() > kMaxLeafBytes) {
      return absl::InvalidArgumentError(absl::StrCat("leaf ", i, " of the batch is ",
                                                     leaves[i].size(), " bytes; at most ",
                                                     kMaxLeafBytes, " fit a tile entry"));
    }
  }
  absl::MutexLock lock(&write_mu_);
  const uint64_t first = Size();
  OverlayNodeReader overlay(node_reader_);
  rocksdb::WriteBatch batch;
  std::vector<std::string> hashes;
  hashes.reserve(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    const uint64_t index = first + i;
    std::string hash = HashLeaf(leaves[i]);
    ASSIGN_OR_RETURN(std::vector<NodeUpdate> updates, NodesForAppend(overlay, index, hash));
    for (NodeUpdate& update : updates) {
      batch.Put(cfs_[kNodes], ToSlice(NodeKey(update.level, update.index)), ToSlice(update.hash));
      overlay.Add(update.level, update.index, std::move(update.hash));
    }
    batch.Put(cfs_[kLeaves], ToSlice(LeafKey(index)), ToSlice(leaves[i]));
    hashes.push_back(std::move(hash));
  }
  const uint64_t new_size = first + leaves.size();
  batch.Put(cfs_[kMeta], kMetaSize, ToSlice(U64Be(new_size)));
  AddSideWrites(side, batch);
  RETURN_IF_ERROR(FromRocks(db_->Write(SyncedWrite(options_.sync), &batch), "appending to the log"));
  size_.store(new_size, std::memory_order_release);
  return hashes;
}

absl::StatusOr<std::string> RocksDbLogStore::GetLeaf(uint64_t index) const {
  const uint64_t size = Size();
  if (index >= size) {
    return absl::NotFoundError(absl::StrCat("no leaf ", index, " in a log of size ", size));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> leaf, GetRaw(kLeaves, LeafKey(index)));
  if (!leaf.has_value()) {
    return absl::DataLossError(absl::StrCat("leaf ", index, " is missing from a log of size ", size));
  }
  return *std::move(leaf);
}

absl::Status RocksDbLogStore::ScanLeaves(
    uint64_t begin, uint64_t end, const std::function<bool(uint64_t, absl::string_view)>& fn) const {
  end = std::min(end, Size());
  if (begin >= end) return absl::OkStatus();
  const std::string upper = LeafKey(end);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cfs_[kLeaves]));
  uint64_t want = begin;
  for (it->Seek(ToSlice(LeafKey(begin))); it->Valid() && want < end; it->Next(), ++want) {
    if (it->key().size() != 8 || ReadU64Be(ToView(it->key())) != want) {
      return absl::DataLossError(absl::StrCat("leaf ", want, " is missing from the log"));
    }
    if (!fn(want, ToView(it->value()))) return absl::OkStatus();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "scanning leaves"));
  if (want < end) return absl::DataLossError(absl::StrCat("leaf ", want, " is missing from the log"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> RocksDbLogStore::ReadTile(int level, uint64_t index, int width) const {
  if (width < 1 || width > kFullTileWidth) {
    return absl::InvalidArgumentError(absl::StrCat("tile width ", width, " not in 1..256"));
  }
  if (level < 0 || kTileHeight * level > kMaxLevel) {
    return absl::InvalidArgumentError(absl::StrCat("tile level ", level, " out of range"));
  }
  const int merkle_level = kTileHeight * level;
  const uint64_t size = Size();
  if (!TileWithinTree({.entries = false, .level = level, .index = index, .width = width}, size)) {
    return absl::NotFoundError(absl::StrCat("tile ", level, "/", index, ".p/", width,
                                            " is not complete in a log of size ", size));
  }
  const uint64_t first = index * kFullTileWidth;
  const std::string upper = NodeKey(merkle_level, first + width);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cfs_[kNodes]));
  std::string tile;
  tile.reserve(static_cast<size_t>(width) * kSha256Bytes);
  uint64_t want = first;
  for (it->Seek(ToSlice(NodeKey(merkle_level, first))); it->Valid(); it->Next(), ++want) {
    if (ToView(it->key()) != NodeKey(merkle_level, want) || it->value().size() != kSha256Bytes) {
      break;
    }
    tile.append(it->value().data(), it->value().size());
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading a tile"));
  if (want != first + width) {
    return absl::DataLossError(absl::StrCat("merkle node (", merkle_level, ", ", want,
                                            ") is missing or malformed in a log of size ", size));
  }
  return tile;
}

absl::StatusOr<std::string> RocksDbLogStore::ReadEntryBundle(uint64_t index, int width) const {
  if (width < 1 || width > kFullTileWidth) {
    return absl::InvalidArgumentError(absl::StrCat("entry bundle width ", width, " not in 1..256"));
  }
  const uint64_t size = Size();
  if (!TileWithinTree({.entries = true, .level = 0, .index = index, .width = width}, size)) {
    return absl::NotFoundError(absl::StrCat("entry bundle ", index, ".p/", width,
                                            " is beyond the log size ", size));
  }
  const uint64_t first = index * kFullTileWidth;
  std::string bundle;
  RETURN_IF_ERROR(ScanLeaves(first, first + width,
                             [&](uint64_t, absl::string_view leaf) {
                               bundle.push_back(static_cast<char>(leaf.size() >> 8));
                               bundle.push_back(static_cast<char>(leaf.size() & 0xff));
                               bundle.append(leaf.data(), leaf.size());
                               return true;
                             }));
  return bundle;
}

absl::Status RocksDbLogStore::SaveCheckpoint(const StoredCheckpoint& checkpoint) {
  if (checkpoint.root_hash.size() != kSha256Bytes) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint root is ",
                                                   checkpoint.root_hash.size(), " bytes"));
  }
  absl::MutexLock write_lock(&write_mu_);
  const uint64_t size = Size();
  if (checkpoint.tree_size > size) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint tree size ",
                                                      checkpoint.tree_size,
                                                      " exceeds the log size ", size));
  }
  std::optional<StoredCheckpoint> latest = LatestCheckpoint();
  if (latest.has_value()) {
    if (checkpoint.tree_size < latest->tree_size) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint tree size ", checkpoint.tree_size,
                       " is older than the stored checkpoint's ", latest->tree_size));
    }
    if (checkpoint.tree_size == latest->tree_size) {
      if (checkpoint.root_hash != latest->root_hash) {
        return absl::DataLossError(absl::StrCat(
            "checkpoint for tree size ", checkpoint.tree_size, " has root ",
            Hex(checkpoint.root_hash), " but the stored one has ", Hex(latest->root_hash)));
      }
      return absl::OkStatus();
    }
  }
  // Refuse to publish a root the stored nodes contradict: Open would then
  // reject the database.
  ASSIGN_OR_RETURN(std::string root, store::RootHash(node_reader_, checkpoint.tree_size));
  if (root != checkpoint.root_hash) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint root ", Hex(checkpoint.root_hash),
                                                   " is not the log's root ", Hex(root),
                                                   " at tree size ", checkpoint.tree_size));
  }
  // Always synced: a published checkpoint is a promise to every auditor.
  RETURN_IF_ERROR(FromRocks(db_->Put(SyncedWrite(true), cfs_[kMeta], kMetaCheckpoint,
                                     ToSlice(EncodeCheckpoint(checkpoint))),
                            "saving a checkpoint"));
  absl::MutexLock lock(&checkpoint_mu_);
  checkpoint_ = checkpoint;
  return absl::OkStatus();
}

std::optional<StoredCheckpoint> RocksDbLogStore::LatestCheckpoint() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return checkpoint_;
}

absl::StatusOr<std::optional<std::string>> RocksDbLogStore::Get(Table table,
                                                                absl::string_view key) const {
  return GetRaw(CfFor(table), key);
}

absl::Status RocksDbLogStore::Scan(
    Table table, absl::string_view prefix,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cfs_[CfFor(table)]));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    if (!fn(ToView(it->key()), ToView(it->value()))) return absl::OkStatus();
  }
  return FromRocks(it->status(), "scanning a table");
}

absl::Status RocksDbLogStore::ScanFrom(
    Table table, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cfs_[CfFor(table)]));
  const absl::string_view seek = start < prefix ? prefix : start;
  for (it->Seek(ToSlice(seek)); it->Valid() && it->key().starts_with(ToSlice(prefix)); it->Next()) {
    if (!fn(ToView(it->key()), ToView(it->value()))) return absl::OkStatus();
  }
  return FromRocks(it->status(), "scanning a table");
}

absl::Status RocksDbLogStore::Write(const WriteSet& writes) {
  if (writes.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  AddSideWrites(writes, batch);
  absl::MutexLock lock(&write_mu_);
  return FromRocks(db_->Write(SyncedWrite(options_.sync), &batch), "writing tables");
}

absl::Status RocksDbLogStore::VerifyIntegrity(
    const std::function<void(uint64_t, uint64_t)>& progress) const {
  // One pass over the leaves with a stack of the right edge (one pending hash
  // per level): every complete node is recomputed from the leaves and compared
  // with the stored one, in O(log n) memory.
  const uint64_t size = Size();
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot;
  read_options.fill_cache = false;
  struct ReleaseSnapshot {
    rocksdb::DB* db;
    const rocksdb::Snapshot* snapshot;
    ~ReleaseSnapshot() { db->ReleaseSnapshot(snapshot); }
  } release{db_.get(), snapshot};

  const std::string upper = LeafKey(size);
  rocksdb::Slice upper_slice(upper);
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> leaf_it(db_->NewIterator(read_options, cfs_[kLeaves]));
  read_options.iterate_upper_bound = nullptr;

  // Nodes of each level are checked in index order, so one sequential
  // iterator per level reads them without a point lookup each.
  std::vector<std::unique_ptr<rocksdb::Iterator>> level_its;
  auto stored_node = [&](int level, uint64_t index) -> absl::StatusOr<std::string> {
    if (level_its.size() <= static_cast<size_t>(level)) level_its.resize(level + 1);
    std::unique_ptr<rocksdb::Iterator>& it = level_its[level];
    const std::string key = NodeKey(level, index);
    if (it == nullptr) {
      it.reset(db_->NewIterator(read_options, cfs_[kNodes]));
      it->Seek(ToSlice(key));
    } else {
      it->Next();
    }
    if (!it->Valid() || ToView(it->key()) != key) {
      RETURN_IF_ERROR(FromRocks(it->status(), "reading merkle nodes"));
      return absl::DataLossError(absl::StrCat("log integrity: merkle node (", level, ", ", index,
                                              ") is missing"));
    }
    return std::string(ToView(it->value()));
  };

  std::vector<std::string> right_edge;  // right_edge[L]: pending left node at level L
  uint64_t index = 0;
  leaf_it->Seek(ToSlice(LeafKey(0)));
  for (; index < size; ++index, leaf_it->Next()) {
    if (!leaf_it->Valid() || leaf_it->key().size() != 8 ||
        ReadU64Be(ToView(leaf_it->key())) != index) {
      RETURN_IF_ERROR(FromRocks(leaf_it->status(), "scanning leaves"));
      return absl::DataLossError(absl::StrCat("log integrity: leaf ", index, " is missing"));
    }
    std::string hash = HashLeaf(ToView(leaf_it->value()));
    ASSIGN_OR_RETURN(std::string stored, stored_node(0, index));
    if (stored != hash) {
      return absl::DataLossError(absl::StrCat("log integrity: leaf ", index,
                                              " does not hash to its stored merkle node (0, ",
                                              index, ")"));
    }
    int level = 0;
    uint64_t node_index = index;
    while ((node_index & 1) != 0) {
      hash = HashChildren(right_edge[level], hash);
      ++level;
      node_index >>= 1;
      ASSIGN_OR_RETURN(stored, stored_node(level, node_index));
      if (stored != hash) {
        return absl::DataLossError(absl::StrCat(
            "log integrity: merkle node (", level, ", ", node_index, ") covering leaves ",
            node_index << level, "..", ((node_index + 1) << level) - 1,
            " does not match the leaves"));
      }
    }
    if (right_edge.size() <= static_cast<size_t>(level)) right_edge.resize(level + 1);
    right_edge[level] = std::move(hash);
    if (progress && (index + 1) % 65536 == 0) progress(index + 1, size);
  }
  if (progress) progress(size, size);

  std::optional<StoredCheckpoint> checkpoint = LatestCheckpoint();
  if (checkpoint.has_value()) {
    if (checkpoint->tree_size > size) {
      return absl::DataLossError(absl::StrCat("log integrity: checkpoint tree size ",
                                              checkpoint->tree_size, " exceeds the log size ",
                                              size));
    }
    ASSIGN_OR_RETURN(std::string root, store::RootHash(node_reader_, checkpoint->tree_size));
    if (root != checkpoint->root_hash) {
      return absl::DataLossError(absl::StrCat("log integrity: root at tree size ",
                                              checkpoint->tree_size,
                                              " does not match the latest checkpoint"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir,
                                                         const LogStoreOptions& options) {
  return RocksDbLogStore::Open(dir, options);
}

}  // namespace fedrelay::store
