// RocksDB-backed LogStore: the full integrity audit, one pass over the
// leaves recomputing every stored node (store/rocksdb_log_store.h).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "store/merkle.h"
#include "store/rocksdb_log_store.h"
#include "store/tiles.h"

namespace fedrelay::store::rocksdb_internal {

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

}  // namespace fedrelay::store::rocksdb_internal
