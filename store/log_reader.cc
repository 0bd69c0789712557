#include "store/log_reader.h"

#include "absl/strings/str_cat.h"

namespace fedrelay::store {

absl::StatusOr<std::string> LogReader::RootHash(uint64_t tree_size) const {
  if (tree_size > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", tree_size, " exceeds the log size ", Size()));
  }
  return store::RootHash(Nodes(), tree_size);
}

absl::StatusOr<std::vector<std::string>> LogReader::InclusionProof(uint64_t leaf_index,
                                                                  uint64_t tree_size) const {
  if (tree_size > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", tree_size, " exceeds the log size ", Size()));
  }
  return store::InclusionProof(Nodes(), leaf_index, tree_size);
}

absl::StatusOr<std::vector<std::string>> LogReader::ConsistencyProof(uint64_t first,
                                                                    uint64_t second) const {
  if (second > Size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", second, " exceeds the log size ", Size()));
  }
  return store::ConsistencyProof(Nodes(), first, second);
}

}  // namespace fedrelay::store
