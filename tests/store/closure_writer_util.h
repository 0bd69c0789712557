// A LogWriter whose items carry their own Prepare and Answer as closures, for
// tests that script what each item is. Its handler records, in order, what the
// writer told it about batches, so tests can check the order of
// OnBatchDurable / OnBatchFailed relative to the answers.
#ifndef FEDRELAY_TESTS_STORE_CLOSURE_WRITER_UTIL_H_
#define FEDRELAY_TESTS_STORE_CLOSURE_WRITER_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "store/log_writer.h"

namespace fedrelay::store::testing {

struct ClosureItem {
  std::function<Prepared(uint64_t leaf_index, WriteSet& side)> prepare;
  std::function<void(absl::StatusOr<AppendedLeaf>)> answer;
};

class RecordingHandler : public BatchHandler<ClosureItem> {
 public:
  Prepared Prepare(ClosureItem& item, uint64_t leaf_index, WriteSet& side) override {
    return item.prepare(leaf_index, side);
  }
  void OnBatchPrepared() override {
    absl::MutexLock lock(&mu);
    ++batches_prepared;
  }
  void OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) override {
    absl::MutexLock lock(&mu);
    events.push_back(absl::StrCat("durable ", first_index, "+", leaves.size()));
    durable_leaves += leaves.size();
    if (first_index != next_durable) contiguous = false;
    next_durable = first_index + leaves.size();
  }
  void OnBatchFailed() override {
    absl::MutexLock lock(&mu);
    events.push_back("failed");
  }
  void Answer(ClosureItem& item, absl::StatusOr<AppendedLeaf> result) override {
    item.answer(std::move(result));
  }
  void Note(const std::string& event) {
    absl::MutexLock lock(&mu);
    events.push_back(event);
  }

  absl::Mutex mu;
  std::vector<std::string> events;
  uint64_t batches_prepared = 0;
  uint64_t durable_leaves = 0;
  uint64_t next_durable = 0;
  bool contiguous = true;
};

class ClosureWriter : public LogWriter<ClosureItem> {
 public:
  using LogWriter::LogWriter;
  void Submit(std::function<Prepared(uint64_t, WriteSet&)> prepare,
              std::function<void(absl::StatusOr<AppendedLeaf>)> answer) {
    LogWriter::Submit(ClosureItem{std::move(prepare), std::move(answer)});
  }
};

}  // namespace fedrelay::store::testing

#endif  // FEDRELAY_TESTS_STORE_CLOSURE_WRITER_UTIL_H_
