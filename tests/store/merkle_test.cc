#include "store/merkle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/encoding.h"

namespace fedrelay::store {
namespace {

constexpr uint64_t kMaxSize = 70;

// ---- A deliberately dumb RFC 6962 section 2.1 reference over all leaf hashes. ----

using Hashes = std::vector<std::string>;

Hashes Slice(const Hashes& d, size_t begin, size_t end) {
  return Hashes(d.begin() + begin, d.begin() + end);
}

size_t RefSplit(size_t n) {
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

std::string RefMth(const Hashes& d) {
  if (d.empty()) return Sha256("");
  if (d.size() == 1) return d[0];
  const size_t k = RefSplit(d.size());
  return Sha256(absl::StrCat(std::string(1, '\x01'), RefMth(Slice(d, 0, k)),
                             RefMth(Slice(d, k, d.size()))));
}

Hashes RefPath(size_t m, const Hashes& d) {
  if (d.size() <= 1) return {};
  const size_t k = RefSplit(d.size());
  Hashes path;
  if (m < k) {
    path = RefPath(m, Slice(d, 0, k));
    path.push_back(RefMth(Slice(d, k, d.size())));
  } else {
    path = RefPath(m - k, Slice(d, k, d.size()));
    path.push_back(RefMth(Slice(d, 0, k)));
  }
  return path;
}

Hashes RefSubproof(size_t m, const Hashes& d, bool b) {
  if (m == d.size()) {
    if (b) return {};
    return {RefMth(d)};
  }
  const size_t k = RefSplit(d.size());
  Hashes proof;
  if (m <= k) {
    proof = RefSubproof(m, Slice(d, 0, k), b);
    proof.push_back(RefMth(Slice(d, k, d.size())));
  } else {
    proof = RefSubproof(m - k, Slice(d, k, d.size()), false);
    proof.push_back(RefMth(Slice(d, 0, k)));
  }
  return proof;
}

Hashes RefProof(size_t m, const Hashes& d) {
  if (m == 0 || m == d.size()) return {};
  return RefSubproof(m, d, true);
}

// ---- Fixtures. ----

std::string LeafData(uint64_t i) { return absl::StrCat("leaf-", i); }

Hashes LeafHashes(uint64_t n) {
  Hashes hashes;
  for (uint64_t i = 0; i < n; ++i) hashes.push_back(HashLeaf(LeafData(i)));
  return hashes;
}

// Wraps a full tree and enforces the reader contract for a smaller tree: every
// node asked for must be complete within `tree_size`. Also counts reads so the
// tests can tell O(log n) node reads from a scan of the leaves.
class CheckingReader : public SubtreeHashReader {
 public:
  CheckingReader(const InMemoryTree& tree, uint64_t tree_size)
      : tree_(tree), tree_size_(tree_size) {}

  absl::StatusOr<std::string> GetNode(int level, uint64_t index) const override {
    ++reads_;
    EXPECT_GE(level, 0);
    EXPECT_LE((index + 1) << level, tree_size_)
        << "node (" << level << ", " << index << ") is not complete in a tree of size "
        << tree_size_;
    return tree_.GetNode(level, index);
  }

  int reads() const { return reads_; }

 private:
  const InMemoryTree& tree_;
  uint64_t tree_size_;
  mutable int reads_ = 0;
};

int CeilLog2(uint64_t n) {
  int bits = 0;
  while ((uint64_t{1} << bits) < n) ++bits;
  return bits;
}

class MerkleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    leaves_ = LeafHashes(kMaxSize + 1);  // one spare for "the next size" checks
    for (const std::string& leaf : leaves_) tree_.AppendLeafHash(leaf);
  }

  std::string RefRoot(uint64_t size) const { return RefMth(Slice(leaves_, 0, size)); }

  Hashes leaves_;
  InMemoryTree tree_;
};

// ---- Hash primitives. ----

TEST(MerkleHashTest, DomainSeparatedHashes) {
  ASSERT_TRUE(InitCrypto().ok());
  EXPECT_EQ(HashLeaf("abc"), Sha256(std::string("\x00" "abc", 4)));
  EXPECT_EQ(HashChildren("L", "R"), Sha256("\x01LR"));
  EXPECT_EQ(EmptyTreeRoot(), Sha256(""));
  EXPECT_EQ(HexEncode(EmptyTreeRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // A leaf and an interior node over the same bytes must differ.
  EXPECT_NE(HashLeaf("\x01LR"), HashChildren("L", "R"));
}

TEST_F(MerkleTest, RootsMatchSharedVectors) {
  std::ifstream in(FEDRELAY_SOURCE_DIR "/tests/vectors/merkle.json");
  ASSERT_TRUE(in) << "missing tests/vectors/merkle.json";
  const nlohmann::json vectors = nlohmann::json::parse(in);
  const auto& leaves = vectors.at("leaves_ascii");
  InMemoryTree tree;
  for (const auto& leaf : leaves) tree.AppendLeafHash(HashLeaf(leaf.get<std::string>()));
  int checked = 0;
  for (const auto& root : vectors.at("roots")) {
    const uint64_t size = root.at("size").get<uint64_t>();
    ASSERT_LE(size, tree.size());
    absl::StatusOr<std::string> got = RootHash(tree, size);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(HexEncode(*got), root.at("root_hex").get<std::string>()) << "size " << size;
    EXPECT_EQ(Base64Encode(*got), root.at("root_b64").get<std::string>()) << "size " << size;
    ++checked;
  }
  EXPECT_EQ(checked, 14);
}

// tests/vectors/merkle_proofs.json: every audit path and consistency proof of
// the 13 vector leaves, made by an RFC 6962 transcription that is not ours.
TEST_F(MerkleTest, ProofsMatchVectors) {
  std::ifstream leaves_in(FEDRELAY_SOURCE_DIR "/tests/vectors/merkle.json");
  std::ifstream proofs_in(FEDRELAY_SOURCE_DIR "/tests/vectors/merkle_proofs.json");
  ASSERT_TRUE(leaves_in && proofs_in) << "missing tests/vectors/merkle.json or merkle_proofs.json";
  const nlohmann::json leaves = nlohmann::json::parse(leaves_in).at("leaves_ascii");
  const nlohmann::json proofs = nlohmann::json::parse(proofs_in);
  InMemoryTree tree;
  for (const auto& leaf : leaves) tree.AppendLeafHash(HashLeaf(leaf.get<std::string>()));
  const auto unhex = [](const nlohmann::json& hex) {
    return HexDecode(hex.get<std::string>(), "hash", 32).value();
  };
  const auto hashes = [&unhex](const nlohmann::json& hex_list) {
    Hashes out;
    for (const auto& hex : hex_list) out.push_back(unhex(hex));
    return out;
  };

  int inclusions = 0;
  for (const auto& v : proofs.at("inclusion")) {
    const uint64_t index = v.at("leaf_index").get<uint64_t>();
    const uint64_t size = v.at("tree_size").get<uint64_t>();
    const Hashes want = hashes(v.at("path_hex"));
    absl::StatusOr<Hashes> got = InclusionProof(tree, index, size);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << "inclusion of " << index << " in " << size;
    EXPECT_EQ(HexEncode(HashLeaf(leaves.at(index).get<std::string>())),
              v.at("leaf_hash_hex").get<std::string>());
    EXPECT_TRUE(
        VerifyInclusion(unhex(v.at("leaf_hash_hex")), index, size, want, unhex(v.at("root_hex"))).ok())
        << "inclusion of " << index << " in " << size;
    ++inclusions;
  }
  int consistencies = 0;
  for (const auto& v : proofs.at("consistency")) {
    const uint64_t first = v.at("first_tree_size").get<uint64_t>();
    const uint64_t second = v.at("second_tree_size").get<uint64_t>();
    const Hashes want = hashes(v.at("proof_hex"));
    absl::StatusOr<Hashes> got = ConsistencyProof(tree, first, second);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << "consistency " << first << " -> " << second;
    EXPECT_TRUE(VerifyConsistency(first, second, want, unhex(v.at("first_root_hex")),
                                  unhex(v.at("second_root_hex")))
                    .ok())
        << "consistency " << first << " -> " << second;
    ++consistencies;
  }
  // Every leaf of every size 1..13, and every pair of sizes 1 <= first <= second <= 13.
  EXPECT_EQ(inclusions, 91);
  EXPECT_EQ(consistencies, 91);
}

// ---- Roots and ranges. ----

TEST_F(MerkleTest, RootHashMatchesReferenceWithLogarithmicReads) {
  for (uint64_t size = 0; size <= kMaxSize; ++size) {
    CheckingReader reader(tree_, size);
    absl::StatusOr<std::string> root = RootHash(reader, size);
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(*root, RefRoot(size)) << "size " << size;
    // One node per set bit of size.
    EXPECT_EQ(reader.reads(), std::popcount(size)) << "size " << size;
  }
  EXPECT_EQ(RootHash(tree_, 0).value(), EmptyTreeRoot());
  EXPECT_EQ(RootHash(tree_, 1).value(), leaves_[0]);
}

TEST_F(MerkleTest, RangeHashMatchesReferenceForEveryRange) {
  for (uint64_t begin = 0; begin < kMaxSize; ++begin) {
    for (uint64_t end = begin + 1; end <= kMaxSize; ++end) {
      CheckingReader reader(tree_, end);
      absl::StatusOr<std::string> hash = RangeHash(reader, begin, end);
      ASSERT_TRUE(hash.ok()) << hash.status();
      EXPECT_EQ(*hash, RefMth(Slice(leaves_, begin, end))) << "[" << begin << ", " << end << ")";
    }
  }
}

TEST_F(MerkleTest, RangeHashOfAlignedSubtreeIsOneRead) {
  CheckingReader reader(tree_, 64);
  absl::StatusOr<std::string> hash = RangeHash(reader, 32, 64);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(*hash, tree_.GetNode(5, 1).value());
}

TEST_F(MerkleTest, RangeHashRejectsEmptyRange) {
  EXPECT_EQ(RangeHash(tree_, 5, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RangeHash(tree_, 6, 5).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MerkleTest, ReaderErrorsPropagate) {
  InMemoryTree small;
  for (int i = 0; i < 3; ++i) small.AppendLeafHash(leaves_[i]);
  EXPECT_FALSE(RootHash(small, 5).ok());
  EXPECT_FALSE(InclusionProof(small, 0, 5).ok());
  EXPECT_FALSE(ConsistencyProof(small, 2, 5).ok());
}

TEST_F(MerkleTest, MalformedStoredNodeIsDataLoss) {
  InMemoryTree bad;
  bad.AppendLeafHash("short");
  EXPECT_EQ(RootHash(bad, 1).status().code(), absl::StatusCode::kDataLoss);
}

// ---- Inclusion. ----

TEST_F(MerkleTest, InclusionProofsMatchReferenceAndVerify) {
  for (uint64_t size = 1; size <= kMaxSize; ++size) {
    const std::string root = RefRoot(size);
    for (uint64_t index = 0; index < size; ++index) {
      CheckingReader reader(tree_, size);
      absl::StatusOr<Hashes> proof = InclusionProof(reader, index, size);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_EQ(*proof, RefPath(index, Slice(leaves_, 0, size)))
          << "leaf " << index << " of " << size;
      EXPECT_LE(reader.reads(), 2 * CeilLog2(size)) << "leaf " << index << " of " << size;
      EXPECT_TRUE(VerifyInclusion(leaves_[index], index, size, *proof, root).ok())
          << "leaf " << index << " of " << size;
    }
  }
}

TEST_F(MerkleTest, InclusionProofRejectsIndexOutsideTree) {
  EXPECT_EQ(InclusionProof(tree_, 5, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(InclusionProof(tree_, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MerkleTest, TamperedInclusionProofsFail) {
  for (uint64_t size = 1; size <= kMaxSize; ++size) {
    const std::string root = RefRoot(size);
    for (uint64_t index = 0; index < size; ++index) {
      const Hashes proof = InclusionProof(tree_, index, size).value();
      const std::string& leaf = leaves_[index];
      SCOPED_TRACE(absl::StrCat("leaf ", index, " of ", size));
      // Every single flipped bit in every element.
      for (size_t i = 0; i < proof.size(); ++i) {
        Hashes bad = proof;
        bad[i][i % kSha256Bytes] ^= 0x01;
        EXPECT_FALSE(VerifyInclusion(leaf, index, size, bad, root).ok()) << "element " << i;
      }
      // Another leaf, another index, another size, another root.
      EXPECT_FALSE(VerifyInclusion(leaves_[(index + 1) % kMaxSize], index, size, proof, root).ok());
      if (size > 1) {
        EXPECT_FALSE(VerifyInclusion(leaf, (index + 1) % size, size, proof, root).ok());
      }
      // A proof for this size is no proof for a neighbouring size's tree.
      EXPECT_FALSE(VerifyInclusion(leaf, index, size + 1, proof, RefRoot(size + 1)).ok());
      if (index < size - 1) {
        EXPECT_FALSE(VerifyInclusion(leaf, index, size - 1, proof, RefRoot(size - 1)).ok());
      }
      EXPECT_FALSE(VerifyInclusion(leaf, index, size, proof, RefRoot(size + 1)).ok());
      // Too long, too short, reordered.
      Hashes longer = proof;
      longer.push_back(root);
      EXPECT_FALSE(VerifyInclusion(leaf, index, size, longer, root).ok());
      Hashes prefixed = proof;
      prefixed.insert(prefixed.begin(), leaf);
      EXPECT_FALSE(VerifyInclusion(leaf, index, size, prefixed, root).ok());
      if (!proof.empty()) {
        Hashes shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(VerifyInclusion(leaf, index, size, shorter, root).ok());
      }
      if (proof.size() >= 2) {
        Hashes swapped = proof;
        std::swap(swapped[0], swapped[1]);
        EXPECT_FALSE(VerifyInclusion(leaf, index, size, swapped, root).ok());
      }
    }
  }
}

TEST_F(MerkleTest, VerifyInclusionEdgeCases) {
  // Size 1: the leaf is the root and the proof is empty.
  EXPECT_TRUE(VerifyInclusion(leaves_[0], 0, 1, {}, leaves_[0]).ok());
  EXPECT_FALSE(VerifyInclusion(leaves_[0], 0, 1, {leaves_[0]}, leaves_[0]).ok());
  EXPECT_EQ(VerifyInclusion(leaves_[0], 0, 0, {}, EmptyTreeRoot()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(leaves_[0], 3, 3, {}, leaves_[0]).code(),
            absl::StatusCode::kInvalidArgument);
  // A root mismatch on a well-formed proof says so.
  const Hashes proof = InclusionProof(tree_, 6, 7).value();
  EXPECT_EQ(VerifyInclusion(leaves_[6], 6, 7, proof, RefRoot(8)).code(),
            absl::StatusCode::kFailedPrecondition);
  // Malformed hashes are rejected before any hashing.
  EXPECT_EQ(VerifyInclusion("short", 6, 7, proof, RefRoot(7)).code(),
            absl::StatusCode::kInvalidArgument);
  Hashes truncated = proof;
  truncated[0].pop_back();
  EXPECT_EQ(VerifyInclusion(leaves_[6], 6, 7, truncated, RefRoot(7)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MerkleTest, InclusionOfLastLeafInLargeTree) {
  // Large indices exercise the shifting in the verifier without a large tree:
  // a leaf's path in a perfect tree of 2^40 leaves needs only its own path.
  // Build it from synthetic siblings and check the verifier agrees with a
  // straightforward fold.
  const uint64_t size = uint64_t{1} << 40;
  const uint64_t index = size - 1;
  Hashes proof;
  std::string root = leaves_[0];
  for (int level = 0; level < 40; ++level) {
    proof.push_back(leaves_[1 + level]);
    root = HashChildren(proof.back(), root);
  }
  EXPECT_TRUE(VerifyInclusion(leaves_[0], index, size, proof, root).ok());
  EXPECT_FALSE(VerifyInclusion(leaves_[0], index - 1, size, proof, root).ok());
}

// ---- Consistency. ----

TEST_F(MerkleTest, ConsistencyProofsMatchReferenceAndVerify) {
  for (uint64_t second = 0; second <= kMaxSize; ++second) {
    const std::string second_root = RefRoot(second);
    for (uint64_t first = 0; first <= second; ++first) {
      CheckingReader reader(tree_, second);
      absl::StatusOr<Hashes> proof = ConsistencyProof(reader, first, second);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_EQ(*proof, RefProof(first, Slice(leaves_, 0, second)))
          << "sizes " << first << " -> " << second;
      EXPECT_LE(reader.reads(), 2 * CeilLog2(second) + 1);
      EXPECT_TRUE(VerifyConsistency(first, second, *proof, RefRoot(first), second_root).ok())
          << "sizes " << first << " -> " << second;
    }
  }
}

TEST_F(MerkleTest, ConsistencyProofRejectsShrinkingTree) {
  EXPECT_EQ(ConsistencyProof(tree_, 6, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(6, 5, {}, RefRoot(6), RefRoot(5)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MerkleTest, TamperedConsistencyProofsFail) {
  for (uint64_t second = 1; second <= kMaxSize; ++second) {
    const std::string second_root = RefRoot(second);
    for (uint64_t first = 1; first < second; ++first) {
      const Hashes proof = ConsistencyProof(tree_, first, second).value();
      const std::string first_root = RefRoot(first);
      SCOPED_TRACE(absl::StrCat("sizes ", first, " -> ", second));
      ASSERT_FALSE(proof.empty());
      for (size_t i = 0; i < proof.size(); ++i) {
        Hashes bad = proof;
        bad[i][i % kSha256Bytes] ^= 0x80;
        EXPECT_FALSE(VerifyConsistency(first, second, bad, first_root, second_root).ok())
            << "element " << i;
      }
      // Wrong roots: each other's, or a neighbour's.
      EXPECT_FALSE(VerifyConsistency(first, second, proof, second_root, second_root).ok());
      EXPECT_FALSE(VerifyConsistency(first, second, proof, first_root, first_root).ok());
      EXPECT_FALSE(VerifyConsistency(first, second, proof, RefRoot(first - 1), second_root).ok());
      EXPECT_FALSE(VerifyConsistency(first, second, proof, first_root, RefRoot(second + 1)).ok());
      // A proof for these sizes is no proof for neighbouring sizes.
      EXPECT_FALSE(
          VerifyConsistency(first, second + 1, proof, first_root, RefRoot(second + 1)).ok());
      if (first + 1 < second) {
        EXPECT_FALSE(
            VerifyConsistency(first + 1, second, proof, RefRoot(first + 1), second_root).ok());
      }
      // Lengths.
      EXPECT_FALSE(VerifyConsistency(first, second, {}, first_root, second_root).ok());
      Hashes longer = proof;
      longer.push_back(second_root);
      EXPECT_FALSE(VerifyConsistency(first, second, longer, first_root, second_root).ok());
      Hashes shorter(proof.begin(), proof.end() - 1);
      EXPECT_FALSE(VerifyConsistency(first, second, shorter, first_root, second_root).ok());
    }
  }
}

TEST_F(MerkleTest, VerifyConsistencyEdgeCases) {
  const std::string root5 = RefRoot(5);
  // Equal sizes: empty proof, equal roots.
  EXPECT_TRUE(VerifyConsistency(5, 5, {}, root5, root5).ok());
  EXPECT_EQ(VerifyConsistency(5, 5, {}, root5, RefRoot(6)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(VerifyConsistency(5, 5, {root5}, root5, root5).code(),
            absl::StatusCode::kInvalidArgument);
  // From the empty tree: empty proof, and the first root must be the empty root.
  EXPECT_TRUE(VerifyConsistency(0, 5, {}, EmptyTreeRoot(), root5).ok());
  EXPECT_TRUE(VerifyConsistency(0, 0, {}, EmptyTreeRoot(), EmptyTreeRoot()).ok());
  EXPECT_FALSE(VerifyConsistency(0, 5, {}, root5, root5).ok());
  EXPECT_EQ(VerifyConsistency(0, 5, {root5}, EmptyTreeRoot(), root5).code(),
            absl::StatusCode::kInvalidArgument);
  // Power-of-two first size: the proof omits the first root.
  const Hashes proof = ConsistencyProof(tree_, 4, 7).value();
  EXPECT_TRUE(VerifyConsistency(4, 7, proof, RefRoot(4), RefRoot(7)).ok());
  // Malformed roots.
  EXPECT_EQ(VerifyConsistency(4, 7, proof, "x", RefRoot(7)).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- Appending. ----

// A reader over exactly the nodes NodesForAppend has produced so far.
class MapReader : public SubtreeHashReader {
 public:
  absl::StatusOr<std::string> GetNode(int level, uint64_t index) const override {
    auto it = nodes_.find({level, index});
    if (it == nodes_.end()) return absl::NotFoundError("no such node");
    return it->second;
  }
  std::map<std::pair<int, uint64_t>, std::string> nodes_;
};

TEST_F(MerkleTest, NodesForAppendBuildsTheSameTree) {
  MapReader reader;
  for (uint64_t i = 0; i < kMaxSize; ++i) {
    absl::StatusOr<std::vector<NodeUpdate>> updates = NodesForAppend(reader, i, leaves_[i]);
    ASSERT_TRUE(updates.ok()) << updates.status();
    // Level L is completed exactly when (i + 1) is a multiple of 2^L.
    const int expected_levels = std::countr_zero(i + 1) + 1;
    ASSERT_EQ(updates->size(), static_cast<size_t>(expected_levels)) << "leaf " << i;
    for (int level = 0; level < expected_levels; ++level) {
      const NodeUpdate& update = (*updates)[level];
      EXPECT_EQ(update.level, level);
      EXPECT_EQ(update.index, i >> level);
      const uint64_t first_leaf = update.index << level;
      EXPECT_EQ(update.hash, RefMth(Slice(leaves_, first_leaf, first_leaf + (uint64_t{1} << level))));
      reader.nodes_[{update.level, update.index}] = update.hash;
    }
    EXPECT_EQ(RootHash(reader, i + 1).value(), RefRoot(i + 1));
  }
}

TEST_F(MerkleTest, NodesForAppendNeedsEarlierLeaves) {
  MapReader empty;
  EXPECT_TRUE(NodesForAppend(empty, 0, leaves_[0]).ok());
  EXPECT_FALSE(NodesForAppend(empty, 1, leaves_[1]).ok());
  EXPECT_EQ(NodesForAppend(empty, 0, "short").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MerkleTest, InMemoryTreeExposesOnlyCompleteNodes) {
  InMemoryTree tree;
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_FALSE(tree.GetNode(0, 0).ok());
  for (int i = 0; i < 5; ++i) tree.AppendLeafHash(leaves_[i]);
  EXPECT_EQ(tree.size(), 5u);
  EXPECT_EQ(tree.GetNode(0, 4).value(), leaves_[4]);
  EXPECT_EQ(tree.GetNode(2, 0).value(), RefRoot(4));
  EXPECT_FALSE(tree.GetNode(0, 5).ok());
  EXPECT_FALSE(tree.GetNode(1, 2).ok());  // leaves 4..5: only one of them exists
  EXPECT_FALSE(tree.GetNode(3, 0).ok());
  EXPECT_FALSE(tree.GetNode(-1, 0).ok());
}

}  // namespace
}  // namespace fedrelay::store
