#include "store/key_value_store.h"

#include <utility>

namespace fedrelay::store {

void WriteSet::Put(Table table, absl::string_view key, absl::string_view value) {
  ops_.push_back(Op{table, std::string(key), std::string(value)});
}

void WriteSet::Merge(const WriteSet& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
}

void WriteSet::Delete(Table table, absl::string_view key) {
  ops_.push_back(Op{table, std::string(key), std::nullopt});
}

absl::Status KeyValueStore::ScanFrom(
    Table table, absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  return Scan(table, prefix, [&](absl::string_view key, absl::string_view value) {
    return key < start || fn(key, value);
  });
}

}  // namespace fedrelay::store
