#include "store/merkle.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/crypto.h"
#include "base/status_macros.h"

namespace fedrelay::store {
namespace {

// Largest power of two strictly less than n (RFC 6962's split point); n >= 2.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// A node read from `nodes`, checked to be a hash: a reader handing back
// anything else is a corrupt store, and hashing it would only hide that.
absl::StatusOr<std::string> ReadNode(const SubtreeHashReader& nodes, int level, uint64_t index) {
  ASSIGN_OR_RETURN(std::string hash, nodes.GetNode(level, index));
  if (hash.size() != kSha256Bytes) {
    return absl::DataLossError(absl::StrCat("merkle node (", level, ", ", index, ") is ",
                                            hash.size(), " bytes, want ", kSha256Bytes));
  }
  return hash;
}

// MTH(D[begin:end]), begin < end. A range that is exactly one complete subtree
// is a single read; otherwise RFC 6962's split recursion, whose left half is a
// complete subtree whenever `begin` is aligned to it (always so for roots and
// proofs, which makes those O(log n) reads).
absl::StatusOr<std::string> Mth(const SubtreeHashReader& nodes, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return ReadNode(nodes, std::countr_zero(n), begin / n);
  }
  const uint64_t k = SplitPoint(n);
  ASSIGN_OR_RETURN(std::string left, Mth(nodes, begin, begin + k));
  ASSIGN_OR_RETURN(std::string right, Mth(nodes, begin + k, end));
  return HashChildren(left, right);
}

absl::Status CheckHashSize(absl::string_view hash, absl::string_view what) {
  if (hash.size() != kSha256Bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", hash.size(), " bytes, want ", kSha256Bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckProofHashes(const std::vector<std::string>& proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    RETURN_IF_ERROR(CheckHashSize(proof[i], absl::StrCat("proof element ", i)));
  }
  return absl::OkStatus();
}

// Shifts fn and sn right together until fn's low bit is set or fn is zero.
void ShiftWhileEven(uint64_t& fn, uint64_t& sn) {
  if (fn == 0) return;
  const int shift = std::countr_zero(fn);
  fn >>= shift;
  sn >>= shift;
}

}  // namespace

std::string HashLeaf(absl::string_view leaf_bytes) {
  std::string input;
  input.reserve(1 + leaf_bytes.size());
  input.push_back('\x00');
  input.append(leaf_bytes.data(), leaf_bytes.size());
  return Sha256(input);
}

std::string HashChildren(absl::string_view left, absl::string_view right) {
  std::string input;
  input.reserve(1 + left.size() + right.size());
  input.push_back('\x01');
  input.append(left.data(), left.size());
  input.append(right.data(), right.size());
  return Sha256(input);
}

std::string EmptyTreeRoot() { return Sha256(""); }

absl::StatusOr<std::string> RangeHash(const SubtreeHashReader& nodes, uint64_t begin,
                                      uint64_t end) {
  if (begin >= end) {
    return absl::InvalidArgumentError(
        absl::StrCat("range hash needs begin < end, got [", begin, ", ", end, ")"));
  }
  return Mth(nodes, begin, end);
}

absl::StatusOr<std::string> RootHash(const SubtreeHashReader& nodes, uint64_t tree_size) {
  if (tree_size == 0) return EmptyTreeRoot();
  return Mth(nodes, 0, tree_size);
}

absl::StatusOr<std::vector<std::string>> InclusionProof(const SubtreeHashReader& nodes,
                                                        uint64_t leaf_index, uint64_t tree_size) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof for leaf ", leaf_index,
                                                   " in a tree of size ", tree_size));
  }
  // PATH(m, D[begin:end]) walked top-down; the audit path lists siblings
  // bottom-up, so collect and reverse.
  std::vector<std::string> path;
  uint64_t begin = 0;
  uint64_t end = tree_size;
  while (end - begin > 1) {
    const uint64_t k = SplitPoint(end - begin);
    const uint64_t mid = begin + k;
    if (leaf_index < mid) {
      ASSIGN_OR_RETURN(std::string sibling, Mth(nodes, mid, end));
      path.push_back(std::move(sibling));
      end = mid;
    } else {
      ASSIGN_OR_RETURN(std::string sibling, Mth(nodes, begin, mid));
      path.push_back(std::move(sibling));
      begin = mid;
    }
  }
  std::reverse(path.begin(), path.end());
  return path;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(const SubtreeHashReader& nodes,
                                                          uint64_t first, uint64_t second) {
  if (first > second) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof from size ", first, " to smaller size ", second));
  }
  std::vector<std::string> proof;
  if (first == 0 || first == second) return proof;
  // SUBPROOF(m, D[begin:end], whole) walked top-down, as for InclusionProof;
  // `m` counts the old tree's leaves within [begin, end).
  uint64_t m = first;
  uint64_t begin = 0;
  uint64_t end = second;
  bool whole = true;  // is D[begin:end] still a prefix of the old tree's root path?
  while (m != end - begin) {
    const uint64_t k = SplitPoint(end - begin);
    const uint64_t mid = begin + k;
    if (m <= k) {
      ASSIGN_OR_RETURN(std::string right, Mth(nodes, mid, end));
      proof.push_back(std::move(right));
      end = mid;
    } else {
      ASSIGN_OR_RETURN(std::string left, Mth(nodes, begin, mid));
      proof.push_back(std::move(left));
      m -= k;
      begin = mid;
      whole = false;
    }
  }
  if (!whole) {
    ASSIGN_OR_RETURN(std::string old_subtree, Mth(nodes, begin, end));
    proof.push_back(std::move(old_subtree));
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

absl::Status VerifyInclusion(absl::string_view leaf_hash, uint64_t leaf_index, uint64_t tree_size,
                             const std::vector<std::string>& proof, absl::string_view root) {
  if (leaf_index >= tree_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("leaf index ", leaf_index, " is not below tree size ", tree_size));
  }
  RETURN_IF_ERROR(CheckHashSize(leaf_hash, "leaf hash"));
  RETURN_IF_ERROR(CheckHashSize(root, "root"));
  RETURN_IF_ERROR(CheckProofHashes(proof));
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                     " elements, too many for leaf ", leaf_index,
                                                     " of ", tree_size));
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      if ((fn & 1) == 0) ShiftWhileEven(fn, sn);
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                   " elements, too few for leaf ", leaf_index,
                                                   " of ", tree_size));
  }
  if (r != root) {
    return absl::FailedPreconditionError(absl::StrCat(
        "inclusion proof for leaf ", leaf_index, " does not lead to the root of size ", tree_size));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t first, uint64_t second,
                               const std::vector<std::string>& proof,
                               absl::string_view first_root, absl::string_view second_root) {
  if (first > second) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency from size ", first, " to smaller size ", second));
  }
  RETURN_IF_ERROR(CheckHashSize(first_root, "first root"));
  RETURN_IF_ERROR(CheckHashSize(second_root, "second root"));
  RETURN_IF_ERROR(CheckProofHashes(proof));
  if (first == second) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError("consistency proof between equal sizes must be empty");
    }
    if (first_root != second_root) {
      return absl::FailedPreconditionError(
          absl::StrCat("different roots for the same tree size ", first));
    }
    return absl::OkStatus();
  }
  if (first == 0) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError("consistency proof from size 0 must be empty");
    }
    if (first_root != EmptyTreeRoot()) {
      return absl::FailedPreconditionError("first root is not the empty tree's root");
    }
    return absl::OkStatus();
  }
  if (proof.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("empty consistency proof from size ", first, " to ", second));
  }

  // RFC 9162 section 2.1.4.2. Prepending first_root for a power-of-two `first`
  // is done by starting from it instead of from proof[0].
  size_t next = 0;
  std::string fr;
  if (std::has_single_bit(first)) {
    fr = std::string(first_root);
  } else {
    fr = proof[next++];
  }
  std::string sr = fr;
  uint64_t fn = first - 1;
  uint64_t sn = second - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const std::string& c = proof[next];
    if (sn == 0) {
      return absl::InvalidArgumentError(absl::StrCat("consistency proof has ", proof.size(),
                                                     " elements, too many for sizes ", first,
                                                     " -> ", second));
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      if ((fn & 1) == 0) ShiftWhileEven(fn, sn);
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof has ", proof.size(),
                                                   " elements, too few for sizes ", first, " -> ",
                                                   second));
  }
  if (fr != first_root) {
    return absl::FailedPreconditionError(
        absl::StrCat("consistency proof does not lead to the root of size ", first));
  }
  if (sr != second_root) {
    return absl::FailedPreconditionError(
        absl::StrCat("consistency proof does not lead to the root of size ", second));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<NodeUpdate>> NodesForAppend(const SubtreeHashReader& nodes,
                                                       uint64_t leaf_index,
                                                       absl::string_view leaf_hash) {
  RETURN_IF_ERROR(CheckHashSize(leaf_hash, "leaf hash"));
  std::vector<NodeUpdate> updates;
  updates.push_back(NodeUpdate{0, leaf_index, std::string(leaf_hash)});
  // Each trailing one bit of leaf_index closes one more complete subtree whose
  // left half is already stored.
  uint64_t index = leaf_index;
  int level = 0;
  while ((index & 1) != 0) {
    ASSIGN_OR_RETURN(std::string left, ReadNode(nodes, level, index - 1));
    std::string hash = HashChildren(left, updates.back().hash);
    ++level;
    index >>= 1;
    updates.push_back(NodeUpdate{level, index, std::move(hash)});
  }
  return updates;
}

void InMemoryTree::AppendLeafHash(absl::string_view leaf_hash) {
  // Same walk as NodesForAppend, but over levels_ directly: there is no error
  // to report (left siblings exist by construction), and a malformed hash is
  // stored as given so GetNode readers flag it rather than it being hidden here.
  uint64_t index = size();
  std::string hash(leaf_hash);
  for (size_t level = 0;; ++level) {
    if (levels_.size() <= level) levels_.resize(level + 1);
    levels_[level].push_back(hash);
    if ((index & 1) == 0) break;
    hash = HashChildren(levels_[level][index - 1], hash);
    index >>= 1;
  }
}

absl::StatusOr<std::string> InMemoryTree::GetNode(int level, uint64_t index) const {
  if (level < 0 || static_cast<size_t>(level) >= levels_.size() ||
      index >= levels_[level].size()) {
    return absl::NotFoundError(absl::StrCat("no complete merkle node (", level, ", ", index,
                                            ") in a tree of size ", size()));
  }
  return levels_[level][index];
}

}  // namespace fedrelay::store
