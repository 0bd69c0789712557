// RocksDB-backed LogStore: opening, appending, leaves, checkpoints and
// tables (layout in store/rocksdb_log_store.h).
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
#include "store/rocksdb_log_store.h"
#include "store/tiles.h"

namespace fedrelay::store {
namespace rocksdb_internal {
namespace {

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

}  // namespace

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

absl::Status RocksDbLogStore::WriteDerived(const WriteSet& writes) {
  if (writes.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  AddSideWrites(writes, batch);
  // Unsynced, but in the one write-ahead log: a later synced write makes it
  // durable, and recovery replays a prefix of the log, so it is never lost
  // while a later durable write survives. Not under write_mu_: it touches no
  // leaf, node or size, and must not wait for an append's fsync.
  return FromRocks(db_->Write(SyncedWrite(false), &batch), "writing derived tables");
}

}  // namespace rocksdb_internal

absl::StatusOr<std::unique_ptr<LogStore>> LogStore::Open(const std::string& dir,
                                                         const LogStoreOptions& options) {
  return rocksdb_internal::RocksDbLogStore::Open(dir, options);
}

}  // namespace fedrelay::store
