// C2SP tlog-tiles (c2sp.org/tlog-tiles) path layout for the log's Merkle tree.
//
// A hash tile at level L, index N holds up to 256 consecutive Merkle nodes of
// tree level 8 * L, starting at node N * 256; an entry tile holds the same range
// of leaves' entries. A tile with fewer than 256 of them is partial and its path
// says its width:
//
//   tile/<L>/<N>[.p/<W>]        tile/entries/<N>[.p/<W>]
//
// N is written as 3-digit zero-padded path elements, all but the last prefixed
// with "x" (1234067 -> "x001/x234/067"); L is 0..63 and W 1..255, both decimal
// without leading zeros.
//
// Thread-safety: pure functions, thread-safe.
#ifndef FEDRELAY_STORE_TILES_H_
#define FEDRELAY_STORE_TILES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::store {

inline constexpr int kTileHeight = 8;                 // tree levels per tile level
inline constexpr int kFullTileWidth = 1 << kTileHeight;  // 256 nodes or entries
inline constexpr int kMaxTileLevel = 63;

struct TilePath {
  bool entries = false;  // an entry tile; `level` is then 0
  int level = 0;         // tile level, 0..kMaxTileLevel
  uint64_t index = 0;    // N; at most UINT64_MAX / kFullTileWidth
  int width = kFullTileWidth;  // kFullTileWidth for a full tile, 1..255 for a partial one

  bool operator==(const TilePath&) const = default;
};

// The path without a leading '/', e.g. "tile/0/x001/x234/067.p/8". Expects a
// TilePath that ParseTilePath would accept.
std::string FormatTilePath(const TilePath& tile);

// Parses a path without its leading '/' (anything before "tile/" is the
// caller's to strip). Strict: exactly the form FormatTilePath produces, so every
// tile has one path; anything else is INVALID_ARGUMENT.
absl::StatusOr<TilePath> ParseTilePath(absl::string_view path);

// The tiles a tree of `tree_size` leaves has at one tile level (entry tiles
// follow level 0): `full` complete tiles, indices 0..full-1, then when
// partial_width > 0 one partial tile of that width at index `full`.
struct TileCounts {
  uint64_t full = 0;
  int partial_width = 0;
};
TileCounts TilesAtLevel(uint64_t tree_size, int level);

// Whether a tree of `tree_size` leaves fixes the content of `tile`: a full tile
// it has completed, or a partial tile no wider than what it has of that tile.
// Tiles that pass are immutable and may be cached forever.
bool TileWithinTree(const TilePath& tile, uint64_t tree_size);

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_TILES_H_
