#include "store/log_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "rocksdb/db.h"
#include "store/log_store_test_util.h"
#include "store/merkle.h"

namespace fedrelay::store {
namespace {

using ::fedrelay::store::testing::AllStoreFactories;
using ::fedrelay::store::testing::ReferenceMth;
using ::fedrelay::store::testing::StoreFactory;
using ::fedrelay::store::testing::TempDir;
using ::fedrelay::store::testing::TestLeaf;
using ::testing::HasSubstr;

std::string U64Be(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  return out;
}

std::string NodeKey(int level, uint64_t index) {
  return absl::StrCat(std::string(1, static_cast<char>(level)), U64Be(index));
}

class LogStoreTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  std::unique_ptr<LogStore> OpenStore() {
    absl::StatusOr<std::unique_ptr<LogStore>> store = GetParam().open(dir_.path());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Appends TestLeaf(size) .. TestLeaf(n - 1) in batches of varying sizes and
  // records their hashes in leaf_hashes_.
  void AppendUpTo(LogStore& store, uint64_t n) {
    uint64_t batch = 1;
    while (store.Size() < n) {
      std::vector<std::string> leaves;
      for (uint64_t i = store.Size(); i < n && leaves.size() < batch; ++i) {
        leaves.push_back(TestLeaf(i));
      }
      absl::StatusOr<std::vector<std::string>> hashes = store.Append(leaves, WriteSet());
      ASSERT_TRUE(hashes.ok()) << hashes.status();
      ASSERT_EQ(hashes->size(), leaves.size());
      for (size_t i = 0; i < leaves.size(); ++i) {
        EXPECT_EQ((*hashes)[i], HashLeaf(leaves[i]));
        leaf_hashes_.push_back((*hashes)[i]);
      }
      batch = batch % 13 + 1;
    }
  }

  TempDir dir_;
  std::vector<std::string> leaf_hashes_;
};

TEST_P(LogStoreTest, EmptyStore) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Size(), 0u);
  EXPECT_EQ(*store->RootHash(0), EmptyTreeRoot());
  EXPECT_EQ(store->GetLeaf(0).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(0, 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadEntryBundle(0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->LatestCheckpoint().has_value());
  EXPECT_FALSE(store->RootHash(1).ok());
  EXPECT_TRUE(store->VerifyIntegrity().ok());
}

TEST_P(LogStoreTest, AppendReadAndScan) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  AppendUpTo(*store, 100);
  ASSERT_EQ(store->Size(), 100u);
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(*store->GetLeaf(i), TestLeaf(i)) << i;
  EXPECT_EQ(store->GetLeaf(100).status().code(), absl::StatusCode::kNotFound);

  std::vector<uint64_t> seen;
  ASSERT_TRUE(store
                  ->ScanLeaves(10, 1000,
                               [&](uint64_t index, absl::string_view leaf) {
                                 EXPECT_EQ(leaf, TestLeaf(index));
                                 seen.push_back(index);
                                 return true;
                               })
                  .ok());
  ASSERT_EQ(seen.size(), 90u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 10 + i);

  seen.clear();
  ASSERT_TRUE(store
                  ->ScanLeaves(5, 50,
                               [&](uint64_t index, absl::string_view) {
                                 seen.push_back(index);
                                 return seen.size() < 3;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<uint64_t>{5, 6, 7}));

  seen.clear();
  ASSERT_TRUE(store->ScanLeaves(100, 200, [&](uint64_t index, absl::string_view) {
    seen.push_back(index);
    return true;
  }).ok());
  EXPECT_TRUE(seen.empty());
}

TEST_P(LogStoreTest, EmptyAppendKeepsSizeAndAppliesSideWrites) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteSet side;
  side.Put(Table::kAux, "k", "v");
  absl::StatusOr<std::vector<std::string>> hashes = store->Append({}, side);
  ASSERT_TRUE(hashes.ok()) << hashes.status();
  EXPECT_TRUE(hashes->empty());
  EXPECT_EQ(store->Size(), 0u);
  EXPECT_EQ(*store->Get(Table::kAux, "k"), std::optional<std::string>("v"));
}

TEST_P(LogStoreTest, RootsMatchInMemoryTreeAndReferenceAtEverySize) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  InMemoryTree tree;
  for (uint64_t n = 1; n <= 300; ++n) {
    AppendUpTo(*store, n);
    tree.AppendLeafHash(leaf_hashes_.back());
  }
  for (uint64_t n = 0; n <= 300; ++n) {
    absl::StatusOr<std::string> root = store->RootHash(n);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, *RootHash(tree, n)) << n;
    EXPECT_EQ(*root, ReferenceMth(leaf_hashes_, 0, n)) << n;
  }
  EXPECT_EQ(store->RootHash(301).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LogStoreTest, ProofsVerify) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  AppendUpTo(*store, 70);
  for (uint64_t n = 1; n <= 70; ++n) {
    const std::string root = *store->RootHash(n);
    for (uint64_t i = 0; i < n; ++i) {
      absl::StatusOr<std::vector<std::string>> proof = store->InclusionProof(i, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(VerifyInclusion(leaf_hashes_[i], i, n, *proof, root).ok()) << i << "/" << n;
    }
    for (uint64_t m = 1; m <= n; ++m) {
      absl::StatusOr<std::vector<std::string>> proof = store->ConsistencyProof(m, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(VerifyConsistency(m, n, *proof, *store->RootHash(m), root).ok())
          << m << "->" << n;
    }
  }
  EXPECT_FALSE(store->InclusionProof(3, 71).ok());
  EXPECT_FALSE(store->ConsistencyProof(3, 71).ok());
}

TEST_P(LogStoreTest, TilesAndEntryBundlesAreByteExact) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const uint64_t n = 256 * 5 + 17;
  AppendUpTo(*store, n);

  // Level 0 tiles: leaf hashes.
  for (uint64_t t = 0; t <= 5; ++t) {
    const int width = t < 5 ? 256 : 17;
    std::string want;
    for (int i = 0; i < width; ++i) want += HashLeaf(TestLeaf(t * 256 + i));
    absl::StatusOr<std::string> tile = store->ReadTile(0, t, width);
    ASSERT_TRUE(tile.ok()) << tile.status();
    EXPECT_EQ(*tile, want) << t;
    // A partial tile is a prefix of the full one.
    EXPECT_EQ(*store->ReadTile(0, t, 3), want.substr(0, 3 * 32));
  }
  // Level 1 tile: roots of the five complete 256-leaf subtrees.
  std::string want_level1;
  for (uint64_t t = 0; t < 5; ++t) want_level1 += ReferenceMth(leaf_hashes_, t * 256, t * 256 + 256);
  EXPECT_EQ(*store->ReadTile(1, 0, 5), want_level1);

  EXPECT_EQ(store->ReadTile(0, 5, 18).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(0, 6, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(1, 0, 6).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(2, 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(0, UINT64_MAX, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadTile(0, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadTile(0, 0, 257).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ReadTile(-1, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);

  for (uint64_t b = 0; b <= 5; ++b) {
    const int width = b < 5 ? 256 : 17;
    std::string want;
    for (int i = 0; i < width; ++i) {
      const std::string leaf = TestLeaf(b * 256 + i);
      want.push_back(static_cast<char>(leaf.size() >> 8));
      want.push_back(static_cast<char>(leaf.size() & 0xff));
      want += leaf;
    }
    absl::StatusOr<std::string> bundle = store->ReadEntryBundle(b, width);
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    EXPECT_EQ(*bundle, want) << b;
  }
  EXPECT_EQ(store->ReadEntryBundle(5, 18).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadEntryBundle(6, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadEntryBundle(UINT64_MAX, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->ReadEntryBundle(0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LogStoreTest, EntryBundleCarriesLongLeafLength) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  const std::string big(65535, 'x');
  ASSERT_TRUE(store->Append({big, "y"}, WriteSet()).ok());
  EXPECT_EQ(*store->ReadEntryBundle(0, 2), absl::StrCat("\xff\xff", big, std::string("\x00\x01y", 3)));
}

TEST_P(LogStoreTest, RejectsLeafTooLongForTiles) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteSet side;
  side.Put(Table::kState, "k", "v");
  absl::StatusOr<std::vector<std::string>> result =
      store->Append({"ok", std::string(65536, 'x')}, side);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing of the batch was written, side writes included.
  EXPECT_EQ(store->Size(), 0u);
  EXPECT_EQ(*store->Get(Table::kState, "k"), std::nullopt);
}

TEST_P(LogStoreTest, Tables) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteSet writes;
  writes.Put(Table::kState, "ban/a", "1");
  writes.Put(Table::kState, "ban/b", "2");
  writes.Put(Table::kState, "bz", "3");
  writes.Put(Table::kState, "ba", "4");
  writes.Put(Table::kSeenRequests, "ban/a", "replay");
  writes.Put(Table::kCursors, "c", "cursor");
  writes.Put(Table::kAux, "a", std::string("\x00\xff", 2));
  ASSERT_TRUE(store->Write(writes).ok());

  EXPECT_EQ(*store->Get(Table::kState, "ban/a"), std::optional<std::string>("1"));
  EXPECT_EQ(*store->Get(Table::kSeenRequests, "ban/a"), std::optional<std::string>("replay"));
  EXPECT_EQ(*store->Get(Table::kCursors, "ban/a"), std::nullopt);
  EXPECT_EQ(*store->Get(Table::kAux, "a"), std::optional<std::string>(std::string("\x00\xff", 2)));

  std::vector<std::pair<std::string, std::string>> seen;
  auto collect = [&](absl::string_view key, absl::string_view value) {
    seen.emplace_back(std::string(key), std::string(value));
    return true;
  };
  ASSERT_TRUE(store->Scan(Table::kState, "ban/", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"ban/a", "1"}, {"ban/b", "2"}}));
  seen.clear();
  ASSERT_TRUE(store->Scan(Table::kState, "", collect).ok());
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.front().first, "ba");
  seen.clear();
  ASSERT_TRUE(store->Scan(Table::kState, "", [&](absl::string_view key, absl::string_view value) {
    seen.emplace_back(std::string(key), std::string(value));
    return false;
  }).ok());
  EXPECT_EQ(seen.size(), 1u);

  WriteSet deletes;
  deletes.Delete(Table::kState, "ban/a");
  deletes.Put(Table::kState, "ban/b", "changed");
  ASSERT_TRUE(store->Write(deletes).ok());
  EXPECT_EQ(*store->Get(Table::kState, "ban/a"), std::nullopt);
  EXPECT_EQ(*store->Get(Table::kState, "ban/b"), std::optional<std::string>("changed"));
  EXPECT_EQ(*store->Get(Table::kSeenRequests, "ban/a"), std::optional<std::string>("replay"));
  // Tables do not touch the log.
  EXPECT_EQ(store->Size(), 0u);
}

// WriteDerived (member index, watermarks) skips the fsync but is otherwise a
// Write: atomic, read back at once, and kept with the appends that follow it.
TEST_P(LogStoreTest, DerivedWritesAreVisibleAtOnceAndKeptByLaterAppends) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    WriteSet derived;
    derived.Put(Table::kAux, "index/u/1", "dm_invite");
    derived.Put(Table::kAux, "index/watermark", "1");
    ASSERT_TRUE(store->WriteDerived(derived).ok());
    EXPECT_EQ(*store->Get(Table::kAux, "index/watermark"), std::optional<std::string>("1"));
    ASSERT_TRUE(store->Append({"leaf"}, WriteSet()).ok());
  }
  auto reopened = OpenStore();
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->Size(), 1u);
  EXPECT_EQ(*reopened->Get(Table::kAux, "index/u/1"), std::optional<std::string>("dm_invite"));
  EXPECT_EQ(*reopened->Get(Table::kAux, "index/watermark"), std::optional<std::string>("1"));
}

TEST_P(LogStoreTest, ScanFromSeeksWithinThePrefix) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteSet writes;
  for (const char* key : {"idx/u/01", "idx/u/02", "idx/u/03", "idx/v/01", "idx/uu/01"}) {
    writes.Put(Table::kAux, key, key);
  }
  ASSERT_TRUE(store->Write(writes).ok());
  std::vector<std::string> seen;
  auto collect = [&](absl::string_view key, absl::string_view) {
    seen.emplace_back(key);
    return seen.size() < 2;
  };
  // The store's own seek and the base class's filtering default agree.
  ASSERT_TRUE(store->ScanFrom(Table::kAux, "idx/u/", "idx/u/02", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"idx/u/02", "idx/u/03"}));
  seen.clear();
  ASSERT_TRUE(store->LogStore::ScanFrom(Table::kAux, "idx/u/", "idx/u/02", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"idx/u/02", "idx/u/03"}));
  seen.clear();
  // A start before the prefix starts at the prefix; one past it finds nothing.
  ASSERT_TRUE(store->ScanFrom(Table::kAux, "idx/u/", "a", collect).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"idx/u/01", "idx/u/02"}));
  seen.clear();
  ASSERT_TRUE(store->ScanFrom(Table::kAux, "idx/u/", "idx/u/04", collect).ok());
  EXPECT_TRUE(seen.empty());
}

TEST_P(LogStoreTest, SideWritesLandWithTheAppend) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  WriteSet side;
  side.Put(Table::kState, "peer/x", "added");
  side.Delete(Table::kAux, "gone");
  ASSERT_TRUE(store->Write([] {
    WriteSet w;
    w.Put(Table::kAux, "gone", "soon");
    return w;
  }()).ok());
  ASSERT_TRUE(store->Append({"entry"}, side).ok());
  EXPECT_EQ(store->Size(), 1u);
  EXPECT_EQ(*store->Get(Table::kState, "peer/x"), std::optional<std::string>("added"));
  EXPECT_EQ(*store->Get(Table::kAux, "gone"), std::nullopt);
}

TEST_P(LogStoreTest, ReopenKeepsEverything) {
  std::string root;
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    AppendUpTo(*store, 77);
    WriteSet side;
    side.Put(Table::kCursors, "sub", "42");
    ASSERT_TRUE(store->Append({"last"}, side).ok());
    leaf_hashes_.push_back(HashLeaf("last"));
    root = *store->RootHash(78);
    ASSERT_TRUE(store->SaveCheckpoint(StoredCheckpoint{50, *store->RootHash(50), "note 50"}).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Size(), 78u);
  EXPECT_EQ(*store->RootHash(78), root);
  EXPECT_EQ(root, ReferenceMth(leaf_hashes_, 0, 78));
  for (uint64_t i = 0; i < 77; ++i) EXPECT_EQ(*store->GetLeaf(i), TestLeaf(i));
  EXPECT_EQ(*store->GetLeaf(77), "last");
  EXPECT_EQ(*store->Get(Table::kCursors, "sub"), std::optional<std::string>("42"));
  std::optional<StoredCheckpoint> checkpoint = store->LatestCheckpoint();
  ASSERT_TRUE(checkpoint.has_value());
  EXPECT_EQ(checkpoint->tree_size, 50u);
  EXPECT_EQ(checkpoint->root_hash, ReferenceMth(leaf_hashes_, 0, 50));
  EXPECT_EQ(checkpoint->note, "note 50");
  EXPECT_TRUE(store->VerifyIntegrity().ok());
  // And the log keeps growing where it left off.
  ASSERT_TRUE(store->Append({"after"}, WriteSet()).ok());
  leaf_hashes_.push_back(HashLeaf("after"));
  EXPECT_EQ(*store->RootHash(79), ReferenceMth(leaf_hashes_, 0, 79));
}

TEST_P(LogStoreTest, CheckpointNeverGoesBackwards) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    AppendUpTo(*store, 10);
    const std::string root5 = *store->RootHash(5);
    EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{11, root5, "n"}).code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{5, *store->RootHash(4), "n"}).code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{5, "short", "n"}).code(),
              absl::StatusCode::kInvalidArgument);
    ASSERT_TRUE(store->SaveCheckpoint(StoredCheckpoint{5, root5, "note 5"}).ok());
    EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{4, *store->RootHash(4), "n"}).code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{5, *store->RootHash(6), "n"}).code(),
              absl::StatusCode::kDataLoss);
    EXPECT_TRUE(store->SaveCheckpoint(StoredCheckpoint{5, root5, "note 5"}).ok());
    EXPECT_EQ(store->LatestCheckpoint()->tree_size, 5u);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LatestCheckpoint()->tree_size, 5u);
  EXPECT_EQ(store->SaveCheckpoint(StoredCheckpoint{3, *store->RootHash(3), "n"}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->SaveCheckpoint(StoredCheckpoint{10, *store->RootHash(10), "note 10"}).ok());
  EXPECT_EQ(store->LatestCheckpoint()->note, "note 10");
}

TEST_P(LogStoreTest, VerifyIntegrityReportsProgress) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  AppendUpTo(*store, 40);
  ASSERT_TRUE(store->SaveCheckpoint(StoredCheckpoint{40, *store->RootHash(40), "n"}).ok());
  uint64_t last_done = 0;
  uint64_t last_total = 0;
  EXPECT_TRUE(store
                  ->VerifyIntegrity([&](uint64_t done, uint64_t total) {
                    last_done = done;
                    last_total = total;
                  })
                  .ok());
  EXPECT_EQ(last_done, 40u);
  EXPECT_EQ(last_total, 40u);
}

INSTANTIATE_TEST_SUITE_P(AllStores, LogStoreTest, ::testing::ValuesIn(AllStoreFactories()),
                         [](const ::testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

// ---- A large log: open cost must not grow with the log. ----

TEST(LogStoreLargeTest, OpensAndServesLargeLogQuickly) {
  TempDir dir;
  constexpr uint64_t kSize = 200'000;
  std::vector<std::string> leaf_hashes;
  leaf_hashes.reserve(kSize);
  {
    LogStoreOptions options;
    options.sync = false;
    absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir.path(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < kSize; i += 1000) {
      std::vector<std::string> leaves;
      for (uint64_t j = i; j < i + 1000; ++j) leaves.push_back(TestLeaf(j));
      absl::StatusOr<std::vector<std::string>> hashes = (*store)->Append(leaves, WriteSet());
      ASSERT_TRUE(hashes.ok()) << hashes.status();
      leaf_hashes.insert(leaf_hashes.end(), hashes->begin(), hashes->end());
    }
    ASSERT_TRUE(
        (*store)->SaveCheckpoint(StoredCheckpoint{kSize, *(*store)->RootHash(kSize), "n"}).ok());
    std::printf("[ timing ] appended %llu leaves in %.3f s\n", static_cast<unsigned long long>(kSize),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  const auto opened = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> root = (*store)->RootHash(kSize);
  ASSERT_TRUE(root.ok()) << root.status();
  absl::StatusOr<std::vector<std::string>> proof = (*store)->InclusionProof(123'456, kSize);
  ASSERT_TRUE(proof.ok()) << proof.status();
  absl::StatusOr<std::string> tile = (*store)->ReadTile(0, 700, 256);
  ASSERT_TRUE(tile.ok()) << tile.status();
  const auto served = std::chrono::steady_clock::now();
  std::printf("[ timing ] open %.1f ms, then root + proof + tile %.1f ms\n",
              std::chrono::duration<double, std::milli>(opened - start).count(),
              std::chrono::duration<double, std::milli>(served - opened).count());

  EXPECT_EQ(*root, (*store)->LatestCheckpoint()->root_hash);
  EXPECT_TRUE(VerifyInclusion(leaf_hashes[123'456], 123'456, kSize, *proof, *root).ok());
  EXPECT_EQ(tile->substr(0, 32), leaf_hashes[700 * 256]);

  // Upper tile levels against an independent computation from the leaf hashes.
  std::string level1;
  for (uint64_t i = 0; i < 256; ++i) level1 += ReferenceMth(leaf_hashes, i * 256, i * 256 + 256);
  EXPECT_EQ(*(*store)->ReadTile(1, 0, 256), level1);
  const uint64_t level2_width = kSize / 65536;  // 3
  std::string level2;
  for (uint64_t i = 0; i < level2_width; ++i) {
    level2 += ReferenceMth(leaf_hashes, i * 65536, i * 65536 + 65536);
  }
  EXPECT_EQ(*(*store)->ReadTile(2, 0, static_cast<int>(level2_width)), level2);
  EXPECT_EQ((*store)->ReadTile(2, 0, static_cast<int>(level2_width) + 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*root, ReferenceMth(leaf_hashes, 0, kSize));

  const auto verify_start = std::chrono::steady_clock::now();
  EXPECT_TRUE((*store)->VerifyIntegrity().ok());
  std::printf("[ timing ] full integrity audit %.3f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - verify_start)
                  .count());
}

// ---- Corruption: damage the database behind the store's back. ----

// Opens the store's RocksDB directly, applies `edit` to the named column family.
void EditRaw(const std::string& dir, const std::string& cf_name,
             const std::function<void(rocksdb::DB*, rocksdb::ColumnFamilyHandle*)>& edit) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, descriptors, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == cf_name) edit(db, handles[i]);
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  delete db;
}

class LogStoreCorruptionTest : public ::testing::Test {
 protected:
  // A 40-leaf log with a checkpoint at 40.
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<std::string> leaves;
    for (uint64_t i = 0; i < 40; ++i) leaves.push_back(TestLeaf(i));
    ASSERT_TRUE((*store)->Append(leaves, WriteSet()).ok());
    ASSERT_TRUE((*store)->SaveCheckpoint(StoredCheckpoint{40, *(*store)->RootHash(40), "n"}).ok());
  }

  absl::Status OpenAndVerify() {
    absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir_.path());
    if (!store.ok()) return store.status();
    return (*store)->VerifyIntegrity();
  }

  TempDir dir_;
};

TEST_F(LogStoreCorruptionTest, IntactLogPasses) { EXPECT_TRUE(OpenAndVerify().ok()); }

TEST_F(LogStoreCorruptionTest, AlteredLeafIsFoundByTheAudit) {
  EditRaw(dir_.path(), "leaves", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, U64Be(17), "forged").ok());
  });
  absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir_.path());
  ASSERT_TRUE(store.ok()) << store.status();  // cheap checks cannot see a middle leaf
  absl::Status status = (*store)->VerifyIntegrity();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("leaf 17 "));
}

TEST_F(LogStoreCorruptionTest, AlteredLastLeafIsFoundAtOpen) {
  EditRaw(dir_.path(), "leaves", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, U64Be(39), "forged").ok());
  });
  absl::Status status = OpenAndVerify();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("leaf 39 "));
}

TEST_F(LogStoreCorruptionTest, TruncatedLogIsFoundAtOpen) {
  EditRaw(dir_.path(), "leaves", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf, U64Be(39)).ok());
  });
  absl::Status status = OpenAndVerify();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("stored size is 40 but the last leaf is at index 38"));
}

TEST_F(LogStoreCorruptionTest, MissingMiddleLeafIsFoundByTheAudit) {
  EditRaw(dir_.path(), "leaves", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf, U64Be(20)).ok());
  });
  absl::Status status = OpenAndVerify();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("leaf 20 is missing"));
}

TEST_F(LogStoreCorruptionTest, AlteredNodeOffTheRootPathIsFoundByTheAudit) {
  // Node (3, 1) covers leaves 8..15; the root of 40 reads (5, 0) and (3, 4) only.
  EditRaw(dir_.path(), "nodes", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, NodeKey(3, 1), std::string(32, 'z')).ok());
  });
  absl::StatusOr<std::unique_ptr<LogStore>> store = LogStore::Open(dir_.path());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::Status status = (*store)->VerifyIntegrity();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("merkle node (3, 1)"));
}

TEST_F(LogStoreCorruptionTest, AlteredNodeUnderTheCheckpointIsFoundAtOpen) {
  EditRaw(dir_.path(), "nodes", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, NodeKey(5, 0), std::string(32, 'z')).ok());
  });
  absl::Status status = LogStore::Open(dir_.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("latest checkpoint"));
  EXPECT_THAT(status.message(), HasSubstr("tree size 40"));
}

TEST_F(LogStoreCorruptionTest, LostUpperNodeIsFoundAtOpen) {
  EditRaw(dir_.path(), "nodes", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf, NodeKey(2, 9)).ok());
  });
  absl::Status status = LogStore::Open(dir_.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("last merkle node at level 2 is index 8"));
}

TEST_F(LogStoreCorruptionTest, SizeAheadOfTheLeavesIsFoundAtOpen) {
  EditRaw(dir_.path(), "meta", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, "size", U64Be(41)).ok());
  });
  absl::Status status = LogStore::Open(dir_.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("stored size is 41 but the last leaf is at index 39"));
}

TEST_F(LogStoreCorruptionTest, CheckpointAheadOfTheLogIsFoundAtOpen) {
  EditRaw(dir_.path(), "meta", [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
    std::string record;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf, "checkpoint", &record).ok());
    record.replace(0, 8, U64Be(41));
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf, "checkpoint", record).ok());
  });
  absl::Status status = LogStore::Open(dir_.path()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("checkpoint has tree size 41"));
}

}  // namespace
}  // namespace fedrelay::store
