// A KeyValueStore in memory, for state a fan-out node mirrors from the bus and
// must not keep across a restart: the API key table (fanout/api_key_mirror.h)
// is loaded from the bus on every start, so a key revoked while the node was
// down is never live on it.
//
// Thread-safety: thread-safe; Scan copies the matching entries before calling
// `fn`, so `fn` may use the store.
#ifndef FEDRELAY_FANOUT_MEMORY_KEY_VALUE_STORE_H_
#define FEDRELAY_FANOUT_MEMORY_KEY_VALUE_STORE_H_

#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "store/key_value_store.h"

namespace fedrelay::fanout {

class MemoryKeyValueStore final : public store::KeyValueStore {
 public:
  absl::StatusOr<std::optional<std::string>> Get(store::Table table,
                                                 absl::string_view key) const override {
    absl::MutexLock lock(&mu_);
    const auto& rows = tables_[static_cast<size_t>(table)];
    auto it = rows.find(std::string(key));
    if (it == rows.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  absl::Status Scan(store::Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    std::vector<std::pair<std::string, std::string>> matching;
    {
      absl::MutexLock lock(&mu_);
      const auto& rows = tables_[static_cast<size_t>(table)];
      for (auto it = rows.lower_bound(std::string(prefix));
           it != rows.end() && absl::StartsWith(it->first, prefix); ++it) {
        matching.push_back(*it);
      }
    }
    for (const auto& [key, value] : matching) {
      if (!fn(key, value)) break;
    }
    return absl::OkStatus();
  }

  absl::Status Write(const store::WriteSet& writes) override {
    absl::MutexLock lock(&mu_);
    for (const store::WriteSet::Op& op : writes.ops()) {
      auto& rows = tables_[static_cast<size_t>(op.table)];
      if (op.value.has_value()) {
        rows[op.key] = *op.value;
      } else {
        rows.erase(op.key);
      }
    }
    return absl::OkStatus();
  }

 private:
  static constexpr size_t kTables = static_cast<size_t>(store::Table::kAux) + 1;
  mutable absl::Mutex mu_;
  std::array<std::map<std::string, std::string>, kTables> tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedrelay::fanout

#endif  // FEDRELAY_FANOUT_MEMORY_KEY_VALUE_STORE_H_
