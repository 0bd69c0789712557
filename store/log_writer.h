// The single batched writer (after strfry's runWriter): callers submit items
// from any thread; one writer thread drains the inbox, asks each item for its
// leaf in log order, appends the whole batch with one synced write, then
// answers every item. If the write fails, every item in the batch gets the
// failure and nothing of the batch is visible.
//
// Thread-safety: Submit is thread-safe. Prepare, the observer and Done callbacks
// run on the writer thread, in log order; they must not block for long.
#ifndef FEDRELAY_STORE_LOG_WRITER_H_
#define FEDRELAY_STORE_LOG_WRITER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/log_store.h"

namespace fedrelay::store {

struct AppendedLeaf {
  uint64_t leaf_index = 0;
  std::string leaf_hash;  // raw 32 bytes
};

class LogWriter {
 public:
  // Called on the writer thread with the index the item gets if it is
  // accepted. Returns the leaf bytes (and may add side writes to `side`), or an
  // error: the item is then rejected with that error, takes no index, and the
  // side writes it added are dropped.
  using PrepareFn = std::function<absl::StatusOr<std::string>(uint64_t leaf_index, WriteSet& side)>;
  // Called once per item after its batch is durable (or failed, or it was rejected).
  using DoneFn = std::function<void(absl::StatusOr<AppendedLeaf>)>;

  // Lets the layer above keep in-memory state in step with the batch. The
  // writer's observer may be null.
  class BatchObserver {
   public:
    virtual ~BatchObserver() = default;
    // The batch's leaves [first_index, first_index + leaves.size()) are durable.
    virtual void OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) = 0;
    // The batch's write failed; undo whatever its Prepare calls assumed.
    virtual void OnBatchFailed() = 0;
  };

  struct Options {
    size_t max_batch_items = 4096;
  };

  LogWriter(LogStore* store, BatchObserver* observer, Options options);
  LogWriter(LogStore* store, BatchObserver* observer) : LogWriter(store, observer, Options()) {}
  ~LogWriter();  // Stop()s

  void Submit(PrepareFn prepare, DoneFn done);
  // Finishes what was submitted, then ends the thread. Later Submits get UNAVAILABLE.
  void Stop();

  // Batches written and items in them, for metrics and tests.
  uint64_t batches_written() const;
  uint64_t items_written() const;

 private:
  struct Item {
    PrepareFn prepare;
    DoneFn done;
  };
  void Run();

  LogStore* const store_;
  BatchObserver* const observer_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<Item> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t batches_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t items_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_WRITER_H_
