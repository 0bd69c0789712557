// Helpers shared by the log store, writer and crash tests.
#ifndef FEDRELAY_TESTS_STORE_LOG_STORE_TEST_UTIL_H_
#define FEDRELAY_TESTS_STORE_LOG_STORE_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/temp_dir.h"
#include "store/log_store.h"

namespace fedrelay::store::testing {

// A fresh directory $TMPDIR/fedrelay-store-XXXXXX, removed with everything in
// it on destruction.
class TempDir : public ::fedrelay::testing::TempDir {
 public:
  TempDir() : ::fedrelay::testing::TempDir("fedrelay-store-") {}
};

// How a suite gets a LogStore: each implementation the suite runs against is one of these.
struct StoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<LogStore>>(const std::string& dir)> open;
};
// Every LogStore implementation (today: RocksDB with sync on and off).
std::vector<StoreFactory> AllStoreFactories();

// A deliberately dumb RFC 6962 MTH over leaf hashes (recursive split), for
// checking the store against something that shares none of its code paths.
std::string ReferenceMth(const std::vector<std::string>& leaf_hashes, size_t begin, size_t end);

// Leaf `i` of the test logs: varied lengths including empty.
std::string TestLeaf(uint64_t i);

}  // namespace fedrelay::store::testing

#endif  // FEDRELAY_TESTS_STORE_LOG_STORE_TEST_UTIL_H_
