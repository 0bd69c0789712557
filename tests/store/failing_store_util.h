// A LogStore that wraps a real one so tests can fail or hold its appends:
// Append fails with UNAVAILABLE ("disk on fire") while `fail` is set, and
// waits while held (a batch "being written" for as long as a test needs).
#ifndef FEDRELAY_TESTS_STORE_FAILING_STORE_UTIL_H_
#define FEDRELAY_TESTS_STORE_FAILING_STORE_UTIL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "store/log_store.h"

namespace fedrelay::store::testing {

class FailingStore : public LogStore {
 public:
  explicit FailingStore(LogStore* inner) : inner_(inner) {}
  std::atomic<bool> fail{false};
  std::atomic<int> append_calls{0};

  // While held, each Append waits until Release(); WaitUntilHolding returns
  // once one is waiting.
  void Hold() {
    absl::MutexLock lock(&hold_mu_);
    hold_ = true;
  }
  void Release() {
    absl::MutexLock lock(&hold_mu_);
    hold_ = false;
  }
  void WaitUntilHolding() {
    absl::MutexLock lock(&hold_mu_);
    hold_mu_.Await(absl::Condition(&holding_));
  }

  uint64_t Size() const override { return inner_->Size(); }
  absl::StatusOr<std::vector<std::string>> Append(const std::vector<std::string>& leaves,
                                                  const WriteSet& side) override {
    ++append_calls;
    {
      absl::MutexLock lock(&hold_mu_);
      holding_ = hold_;
      hold_mu_.Await(absl::Condition(+[](bool* hold) { return !*hold; }, &hold_));
      holding_ = false;
    }
    if (fail) return absl::UnavailableError("disk on fire");
    return inner_->Append(leaves, side);
  }
  absl::StatusOr<std::string> GetLeaf(uint64_t index) const override {
    return inner_->GetLeaf(index);
  }
  absl::Status ScanLeaves(uint64_t begin, uint64_t end,
                          const std::function<bool(uint64_t, absl::string_view)>& fn) const override {
    return inner_->ScanLeaves(begin, end, fn);
  }
  const SubtreeHashReader& Nodes() const override { return inner_->Nodes(); }
  absl::StatusOr<std::string> ReadTile(int level, uint64_t index, int width) const override {
    return inner_->ReadTile(level, index, width);
  }
  absl::StatusOr<std::string> ReadEntryBundle(uint64_t index, int width) const override {
    return inner_->ReadEntryBundle(index, width);
  }
  absl::Status SaveCheckpoint(const StoredCheckpoint& checkpoint) override {
    return inner_->SaveCheckpoint(checkpoint);
  }
  std::optional<StoredCheckpoint> LatestCheckpoint() const override {
    return inner_->LatestCheckpoint();
  }
  absl::StatusOr<std::optional<std::string>> Get(Table table,
                                                 absl::string_view key) const override {
    return inner_->Get(table, key);
  }
  absl::Status Scan(Table table, absl::string_view prefix,
                    const std::function<bool(absl::string_view, absl::string_view)>& fn)
      const override {
    return inner_->Scan(table, prefix, fn);
  }
  absl::Status Write(const WriteSet& writes) override { return inner_->Write(writes); }
  absl::Status VerifyIntegrity(
      const std::function<void(uint64_t, uint64_t)>& progress) const override {
    return inner_->VerifyIntegrity(progress);
  }

 private:
  LogStore* const inner_;
  absl::Mutex hold_mu_;
  bool hold_ ABSL_GUARDED_BY(hold_mu_) = false;
  bool holding_ ABSL_GUARDED_BY(hold_mu_) = false;
};

}  // namespace fedrelay::store::testing

#endif  // FEDRELAY_TESTS_STORE_FAILING_STORE_UTIL_H_
