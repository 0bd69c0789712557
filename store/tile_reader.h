// Reading the log as C2SP tlog-tiles (store/tiles.h has the path layout):
// what the HTTP tile endpoints serve.
//
// Thread-safety: implementations are thread-safe.
#ifndef FEDRELAY_STORE_TILE_READER_H_
#define FEDRELAY_STORE_TILE_READER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace fedrelay::store {

class TileReader {
 public:
  virtual ~TileReader() = default;
  // Tile (level, index) holds up to 256 hashes of Merkle level 8 * level;
  // `width` 1..256 (256 = full). NOT_FOUND when the tree does not yet contain
  // that many complete nodes.
  virtual absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const = 0;
  // Entry bundle `index`: leaves [256 * index, 256 * index + width), each as
  // u16be(length) || leaf bytes.
  virtual absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const = 0;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_TILE_READER_H_
