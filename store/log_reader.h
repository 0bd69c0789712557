// Reading the log: its size, its leaves and its Merkle tree (roots and
// proofs computed from O(log n) stored complete-subtree hashes).
//
// Thread-safety: implementations are thread-safe and may be read while the
// log grows; a reader sees a prefix of the log (Size() only moves forward).
#ifndef FEDRELAY_STORE_LOG_READER_H_
#define FEDRELAY_STORE_LOG_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/merkle.h"

namespace fedrelay::store {

class LogReader {
 public:
  virtual ~LogReader() = default;

  // Number of leaves.
  virtual uint64_t Size() const = 0;
  virtual absl::StatusOr<std::string> GetLeaf(uint64_t index) const = 0;
  // Calls `fn(index, leaf_bytes)` for [begin, min(end, Size())) in order until it returns false.
  virtual absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                                  const std::function<bool(uint64_t, absl::string_view)>& fn) const = 0;

  // The complete-subtree hashes of the log (see merkle.h).
  virtual const SubtreeHashReader& Nodes() const = 0;
  // INVALID_ARGUMENT when a size is beyond Size().
  absl::StatusOr<std::string> RootHash(uint64_t tree_size) const;
  absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t leaf_index, uint64_t tree_size) const;
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t first, uint64_t second) const;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_READER_H_
