// The single batched writer (after strfry's runWriter): callers submit items
// from any thread; one writer thread drains the inbox, asks each item what it
// is (a leaf, a refusal, or answered by the layer above) in log order, appends
// the whole batch with one synced write, then answers every item. If the write
// fails, every item in the batch that took an index gets the failure and
// nothing of the batch is visible.
//
// Thread-safety: Submit is thread-safe. Prepare, the observer and Done callbacks
// run on the writer thread, in log order; they must not block for long (hand
// slow work such as signing to a thread of your own).
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

// What Prepare decided for one item: a value, never a status to decode.
class Prepared {
 public:
  enum class Kind {
    kLeaf,      // append leaf() at the index Prepare was given, with its side writes
    kRefused,   // no index; done gets status(); its side writes are dropped, but
                // kept_writes() join the batch's one write (done runs after it)
    kAnswered,  // no index and done is never called: the layer above answers the
                // item itself (e.g. a byte-identical resubmission)
  };
  static Prepared Leaf(std::string leaf) { return Prepared(Kind::kLeaf, std::move(leaf), {}, {}); }
  static Prepared Refused(absl::Status status, WriteSet kept_writes = WriteSet()) {
    return Prepared(Kind::kRefused, {}, std::move(status), std::move(kept_writes));
  }
  static Prepared Answered() { return Prepared(Kind::kAnswered, {}, {}, {}); }
  // A leaf, or a refusal with its error.
  Prepared(absl::StatusOr<std::string> leaf)  // NOLINT: implicit on purpose
      : Prepared(leaf.ok() ? Leaf(*std::move(leaf)) : Refused(leaf.status())) {}

  Kind kind() const { return kind_; }
  std::string& leaf() { return leaf_; }
  const absl::Status& status() const { return status_; }
  const WriteSet& kept_writes() const { return kept_writes_; }

 private:
  Prepared(Kind kind, std::string leaf, absl::Status status, WriteSet kept_writes)
      : kind_(kind),
        leaf_(std::move(leaf)),
        status_(std::move(status)),
        kept_writes_(std::move(kept_writes)) {}
  Kind kind_;
  std::string leaf_;
  absl::Status status_;
  WriteSet kept_writes_;
};

class LogWriter {
 public:
  // Called on the writer thread with the index the item gets if it becomes a
  // leaf; may add the leaf's side writes to `side`.
  using PrepareFn = std::function<Prepared(uint64_t leaf_index, WriteSet& side)>;
  // Called once per item after its batch is durable (or failed, or it was rejected).
  using DoneFn = std::function<void(absl::StatusOr<AppendedLeaf>)>;

  // Lets the layer above keep in-memory state in step with the batch. The
  // writer's observer may be null.
  class BatchObserver {
   public:
    virtual ~BatchObserver() = default;
    // The batch's leaves [first_index, first_index + leaves.size()) and its
    // kept writes are durable (`leaves` is empty for a batch of refusals whose
    // kept writes were written).
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
