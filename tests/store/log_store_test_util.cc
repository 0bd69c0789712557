#include "store/log_store_test_util.h"

#include "absl/strings/str_cat.h"
#include "base/crypto.h"

namespace fedrelay::store::testing {

std::vector<StoreFactory> AllStoreFactories() {
  std::vector<StoreFactory> factories;
  for (bool sync : {false, true}) {
    factories.push_back(StoreFactory{
        sync ? "RocksDbSynced" : "RocksDbUnsynced", [sync](const std::string& dir) {
          LogStoreOptions options;
          options.sync = sync;
          return LogStore::Open(dir, options);
        }});
  }
  return factories;
}

std::string ReferenceMth(const std::vector<std::string>& leaf_hashes, size_t begin, size_t end) {
  const size_t n = end - begin;
  if (n == 0) return Sha256("");
  if (n == 1) return leaf_hashes[begin];
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return Sha256(absl::StrCat(std::string(1, '\x01'), ReferenceMth(leaf_hashes, begin, begin + k),
                             ReferenceMth(leaf_hashes, begin + k, end)));
}

std::string TestLeaf(uint64_t i) {
  std::string leaf = absl::StrCat("leaf ", i, ":");
  leaf.append(i % 7 == 3 ? 0 : i % 97, static_cast<char>('a' + i % 26));
  if (i % 11 == 0) leaf.clear();
  return leaf;
}

}  // namespace fedrelay::store::testing
