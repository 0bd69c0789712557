#include "store/tiles.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace fedrelay::store {
namespace {

TilePath Hash(int level, uint64_t index, int width = kFullTileWidth) {
  return TilePath{false, level, index, width};
}
TilePath Entries(uint64_t index, int width = kFullTileWidth) {
  return TilePath{true, 0, index, width};
}

TEST(TilePathTest, FormatsIndexAsThreeDigitElements) {
  EXPECT_EQ(FormatTilePath(Hash(0, 1234067)), "tile/0/x001/x234/067");
  EXPECT_EQ(FormatTilePath(Hash(0, 0)), "tile/0/000");
  EXPECT_EQ(FormatTilePath(Hash(2, 999)), "tile/2/999");
  EXPECT_EQ(FormatTilePath(Hash(63, 1000)), "tile/63/x001/000");
  EXPECT_EQ(FormatTilePath(Hash(1, 5, 8)), "tile/1/005.p/8");
  EXPECT_EQ(FormatTilePath(Entries(1234067)), "tile/entries/x001/x234/067");
  EXPECT_EQ(FormatTilePath(Entries(0, 255)), "tile/entries/000.p/255");
  EXPECT_EQ(FormatTilePath(Hash(0, UINT64_MAX / 256)), "tile/0/x072/x057/x594/x037/x927/935");
}

TEST(TilePathTest, ParseInvertsFormat) {
  std::vector<uint64_t> indices;
  for (uint64_t i = 0; i < 2100; ++i) indices.push_back(i);
  for (uint64_t p = 1000; p <= uint64_t{1000000000000000}; p *= 1000) {
    indices.insert(indices.end(), {p - 1, p, p + 1, p * 7 + 42});
  }
  indices.push_back(UINT64_MAX / 256);
  for (uint64_t index : indices) {
    for (const TilePath& tile : {Hash(0, index), Hash(1, index, 1), Hash(63, index, 255),
                                 Entries(index), Entries(index, 128)}) {
      const std::string path = FormatTilePath(tile);
      absl::StatusOr<TilePath> parsed = ParseTilePath(path);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(*parsed, tile) << path;
      EXPECT_EQ(FormatTilePath(*parsed), path);
    }
  }
}

TEST(TilePathTest, ParsesSpecExamples) {
  absl::StatusOr<TilePath> tile = ParseTilePath("tile/0/x001/x234/067");
  ASSERT_TRUE(tile.ok()) << tile.status();
  EXPECT_EQ(*tile, Hash(0, 1234067));
  tile = ParseTilePath("tile/entries/x001/x234/067.p/8");
  ASSERT_TRUE(tile.ok()) << tile.status();
  EXPECT_EQ(*tile, Entries(1234067, 8));
  tile = ParseTilePath("tile/3/000.p/1");
  ASSERT_TRUE(tile.ok()) << tile.status();
  EXPECT_EQ(*tile, Hash(3, 0, 1));
}

TEST(TilePathTest, RejectsEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      "/tile/0/000",                // leading slash is the caller's
      "tiles/0/000",
      "tile/0",
      "tile/0/",
      "tile//000",
      "tile/64/000",                // level above 63
      "tile/00/000",                // leading zero in level
      "tile/01/000",
      "tile/-1/000",
      "tile/+1/000",
      "tile/x/000",
      "tile/data/000",
      "tile/entries",
      "tile/0/00",                  // short element
      "tile/0/0000",
      "tile/0/1",
      "tile/0/x000",                // x on the last element
      "tile/0/001/000",             // missing x
      "tile/0/x1/000",
      "tile/0/x0001/000",
      "tile/0/x000/001",            // leading zero element: that is tile/0/001
      "tile/0/x000/x001/000",
      "tile/0/X001/000",
      "tile/0/x001/",
      "tile/0/x001//000",
      "tile/0/0a0",
      "tile/0/ 00",
      "tile/0/000/",
      "tile/0/000.p",
      "tile/0/000.p/",
      "tile/0/000.p/0",             // width 0
      "tile/0/000.p/256",           // a full tile has no .p
      "tile/0/000.p/300",
      "tile/0/000.p/08",            // leading zero in width
      "tile/0/000.p/+8",
      "tile/0/000.p/8/",
      "tile/0/000.p/8/9",
      "tile/0/000.P/8",
      "tile/0/000.q/8",
      "tile/0/x001.p/000",
      "tile/0/000.p/8.p/8",
      "tile/0/x072/x057/x594/x037/x927/936",  // index * 256 would overflow
      "tile/0/x018/x446/x744/x073/x709/x551/616",
      "tile/0/x001/x001/x001/x001/x001/x001/x001/000",
  };
  for (const std::string& path : bad) {
    absl::StatusOr<TilePath> tile = ParseTilePath(path);
    if (tile.ok()) {
      ADD_FAILURE() << "accepted \"" << path << "\" as " << FormatTilePath(*tile);
    } else {
      EXPECT_EQ(tile.status().code(), absl::StatusCode::kInvalidArgument) << path;
    }
  }
}

// The dumb way: how many nodes a tree has at a Merkle level, then cut into 256s.
TileCounts ReferenceCounts(uint64_t tree_size, int level) {
  uint64_t nodes = tree_size;
  for (int i = 0; i < level * kTileHeight && nodes > 0; ++i) nodes /= 2;
  return TileCounts{nodes / 256, static_cast<int>(nodes % 256)};
}

TEST(TileCountsTest, MatchesReference) {
  std::vector<uint64_t> sizes = {0, 1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537,
                                 1234567, uint64_t{1} << 40, UINT64_MAX};
  for (uint64_t size : sizes) {
    for (int level = 0; level <= kMaxTileLevel; ++level) {
      const TileCounts got = TilesAtLevel(size, level);
      const TileCounts want = ReferenceCounts(size, level);
      EXPECT_EQ(got.full, want.full) << "size " << size << " level " << level;
      EXPECT_EQ(got.partial_width, want.partial_width) << "size " << size << " level " << level;
    }
  }
  EXPECT_EQ(TilesAtLevel(256 * 3 + 5, 0).full, 3u);
  EXPECT_EQ(TilesAtLevel(256 * 3 + 5, 0).partial_width, 5);
  EXPECT_EQ(TilesAtLevel(256 * 256, 1).full, 1u);
  EXPECT_EQ(TilesAtLevel(256 * 256, 1).partial_width, 0);
  EXPECT_EQ(TilesAtLevel(UINT64_MAX, 7).partial_width, 255);
  EXPECT_EQ(TilesAtLevel(UINT64_MAX, 8).partial_width, 0);
}

TEST(TileCountsTest, WithinTree) {
  const uint64_t size = 256 * 3 + 5;  // three full level-0 tiles, one of width 5
  EXPECT_TRUE(TileWithinTree(Hash(0, 2), size));
  EXPECT_FALSE(TileWithinTree(Hash(0, 3), size));
  EXPECT_TRUE(TileWithinTree(Hash(0, 3, 5), size));
  EXPECT_TRUE(TileWithinTree(Hash(0, 3, 1), size));  // an older partial is still fixed
  EXPECT_FALSE(TileWithinTree(Hash(0, 3, 6), size));
  EXPECT_FALSE(TileWithinTree(Hash(0, 4, 1), size));
  EXPECT_TRUE(TileWithinTree(Hash(0, 1, 7), size));  // prefix of a full tile
  EXPECT_TRUE(TileWithinTree(Entries(3, 5), size));
  EXPECT_FALSE(TileWithinTree(Entries(3), size));
  EXPECT_TRUE(TileWithinTree(Hash(1, 0, 3), size));  // three level-8 nodes
  EXPECT_FALSE(TileWithinTree(Hash(1, 0, 4), size));
  EXPECT_FALSE(TileWithinTree(Hash(1, 0), size));
  EXPECT_FALSE(TileWithinTree(Hash(0, 0, 1), 0));
  EXPECT_FALSE(TileWithinTree(Hash(0, 0, 0), size));
  EXPECT_TRUE(TileWithinTree(Hash(0, 0), 256));
  EXPECT_FALSE(TileWithinTree(Hash(1, 0, 1), 255));
}

}  // namespace
}  // namespace fedrelay::store
