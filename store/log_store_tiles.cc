// RocksDB-backed LogStore: C2SP tiles and entry bundles, read straight from
// the level-major node keys (store/rocksdb_log_store.h).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "store/merkle.h"
#include "store/rocksdb_log_store.h"
#include "store/tiles.h"

namespace fedrelay::store::rocksdb_internal {

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

}  // namespace fedrelay::store::rocksdb_internal
