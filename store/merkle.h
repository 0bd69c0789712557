// RFC 6962 Merkle tree hashing, proofs and their verification.
//
// The tree is described by the hashes of its complete subtrees: node (level L,
// index N) is MTH of leaves [N * 2^L, (N + 1) * 2^L). Level 0 nodes are leaf
// hashes. Every root and proof below is computed from O(log n) such nodes, so
// nothing ever scans all leaves. C2SP tlog-tiles serve exactly these nodes.
//
// Thread-safety: free functions are thread-safe; readers must be too.
#ifndef FEDRELAY_STORE_MERKLE_H_
#define FEDRELAY_STORE_MERKLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fedrelay::store {

// SHA-256(0x00 || leaf_bytes).
std::string HashLeaf(absl::string_view leaf_bytes);
// SHA-256(0x01 || left || right).
std::string HashChildren(absl::string_view left, absl::string_view right);
// MTH of the empty tree: SHA-256 of nothing.
std::string EmptyTreeRoot();

// Source of complete-subtree hashes. GetNode is only called for nodes that are
// complete within the tree being asked about.
class SubtreeHashReader {
 public:
  virtual ~SubtreeHashReader() = default;
  virtual absl::StatusOr<std::string> GetNode(int level, uint64_t index) const = 0;
};

// MTH(D[begin:end]) for any 0 <= begin < end.
absl::StatusOr<std::string> RangeHash(const SubtreeHashReader& nodes, uint64_t begin, uint64_t end);
// MTH of the first `tree_size` leaves (EmptyTreeRoot() for 0).
absl::StatusOr<std::string> RootHash(const SubtreeHashReader& nodes, uint64_t tree_size);

// RFC 6962 section 2.1.1 audit path; INVALID_ARGUMENT unless leaf_index < tree_size.
absl::StatusOr<std::vector<std::string>> InclusionProof(const SubtreeHashReader& nodes,
                                                        uint64_t leaf_index, uint64_t tree_size);
// RFC 6962 section 2.1.2 proof; INVALID_ARGUMENT unless first <= second.
// Empty for first == second or first == 0.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(const SubtreeHashReader& nodes,
                                                          uint64_t first, uint64_t second);

// Verification (RFC 9162 section 2.1.3.2 / 2.1.4.2 algorithms). OK or
// FAILED_PRECONDITION/INVALID_ARGUMENT saying what did not match.
absl::Status VerifyInclusion(absl::string_view leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                             const std::vector<std::string>& proof, absl::string_view root);
absl::Status VerifyConsistency(uint64_t first, uint64_t second, const std::vector<std::string>& proof,
                               absl::string_view first_root, absl::string_view second_root);

// A complete-subtree node that appending a leaf creates.
struct NodeUpdate {
  int level;
  uint64_t index;
  std::string hash;
};
// Nodes completed by appending leaf `leaf_index` (its level-0 node included):
// level 0 always, level L when (leaf_index + 1) is a multiple of 2^L. Left
// siblings are read from `nodes`, which must already hold every earlier leaf.
absl::StatusOr<std::vector<NodeUpdate>> NodesForAppend(const SubtreeHashReader& nodes,
                                                       uint64_t leaf_index,
                                                       absl::string_view leaf_hash);

// An in-memory tree, for tests and for auditors re-deriving a log.
class InMemoryTree : public SubtreeHashReader {
 public:
  void AppendLeafHash(absl::string_view leaf_hash);
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  absl::StatusOr<std::string> GetNode(int level, uint64_t index) const override;

 private:
  std::vector<std::vector<std::string>> levels_;  // levels_[L][N]
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_MERKLE_H_
