#include "store/tiles.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fedrelay::store {
namespace {

constexpr uint64_t kMaxTileIndex = UINT64_MAX / kFullTileWidth;
// UINT64_MAX has 20 decimal digits: 7 three-digit elements.
constexpr size_t kMaxIndexElements = 7;

absl::Status BadPath(absl::string_view path, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("tile path \"", path, "\": ", why));
}

bool IsDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A small decimal without leading zeros, at most `max`; -1 when it is not one.
int ParseSmallDecimal(absl::string_view text, int max) {
  if (!IsDigits(text) || text.size() > 3 || (text.size() > 1 && text[0] == '0')) return -1;
  int value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value <= max ? value : -1;
}

}  // namespace

std::string FormatTilePath(const TilePath& tile) {
  std::vector<int> groups;  // least significant first
  uint64_t n = tile.index;
  do {
    groups.push_back(static_cast<int>(n % 1000));
    n /= 1000;
  } while (n > 0);

  std::string path = tile.entries ? "tile/entries/" : absl::StrCat("tile/", tile.level, "/");
  for (size_t i = groups.size(); i-- > 0;) {
    // Two literal formats: clang requires a constant format string.
    if (i > 0) {
      absl::StrAppendFormat(&path, "x%03d/", groups[i]);
    } else {
      absl::StrAppendFormat(&path, "%03d", groups[i]);
    }
  }
  if (tile.width != kFullTileWidth) absl::StrAppend(&path, ".p/", tile.width);
  return path;
}

absl::StatusOr<TilePath> ParseTilePath(absl::string_view path) {
  absl::string_view rest = path;
  if (!absl::ConsumePrefix(&rest, "tile/")) return BadPath(path, "does not start with tile/");

  TilePath tile;
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return BadPath(path, "has no tile index");
  const absl::string_view kind = rest.substr(0, slash);
  rest.remove_prefix(slash + 1);
  if (kind == "entries") {
    tile.entries = true;
  } else {
    tile.level = ParseSmallDecimal(kind, kMaxTileLevel);
    if (tile.level < 0) return BadPath(path, "level is not a decimal 0..63");
  }

  std::vector<absl::string_view> elements = absl::StrSplit(rest, '/');
  // A partial tile ends in "<last>.p/<W>".
  if (elements.size() >= 2 && absl::ConsumeSuffix(&elements[elements.size() - 2], ".p")) {
    tile.width = ParseSmallDecimal(elements.back(), kFullTileWidth - 1);
    if (tile.width < 1) return BadPath(path, "partial width is not a decimal 1..255");
    elements.pop_back();
  }
  if (elements.size() > kMaxIndexElements) return BadPath(path, "index has too many elements");

  uint64_t index = 0;
  for (size_t i = 0; i < elements.size(); ++i) {
    absl::string_view element = elements[i];
    const bool last = i + 1 == elements.size();
    if (!last && !absl::ConsumePrefix(&element, "x")) {
      return BadPath(path, "index elements before the last must start with x");
    }
    if (element.size() != 3 || !IsDigits(element)) {
      return BadPath(path, "index elements must be three digits");
    }
    // "x000/..." would give one index a second, longer path.
    if (i == 0 && !last && element == "000") {
      return BadPath(path, "index has a leading zero element");
    }
    const uint64_t group = static_cast<uint64_t>((element[0] - '0') * 100 + (element[1] - '0') * 10 +
                                                 (element[2] - '0'));
    if (index > (kMaxTileIndex - group) / 1000) return BadPath(path, "index is too large");
    index = index * 1000 + group;
  }
  tile.index = index;
  return tile;
}

TileCounts TilesAtLevel(uint64_t tree_size, int level) {
  if (level < 0 || level * kTileHeight >= 64) return {};
  const uint64_t nodes = tree_size >> (level * kTileHeight);
  return TileCounts{nodes / kFullTileWidth, static_cast<int>(nodes % kFullTileWidth)};
}

bool TileWithinTree(const TilePath& tile, uint64_t tree_size) {
  if (tile.width < 1 || tile.width > kFullTileWidth) return false;
  const TileCounts counts = TilesAtLevel(tree_size, tile.entries ? 0 : tile.level);
  if (tile.index < counts.full) return true;
  return tile.index == counts.full && tile.width < kFullTileWidth &&
         tile.width <= counts.partial_width;
}

}  // namespace fedrelay::store
