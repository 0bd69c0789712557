// The single batched writer (after strfry's runWriter): callers submit items
// from any thread; one writer thread drains the inbox, asks its BatchHandler
// what each item is (a leaf, a refusal, or answered by the layer above) in log
// order, appends the whole batch with one synced write, then has the handler
// answer every item. If the write fails, every item in the batch that took an
// index gets the failure and nothing of the batch is visible.
//
// Batching adapts to load: an idle writer writes what it finds at once; a busy
// one (items arrived while it wrote the previous batch) lingers up to
// Options::busy_linger for its batch to fill, so a steady stream of requests
// costs fewer synced writes.
//
// Thread-safety: Submit and Stop are thread-safe. The handler's methods run on
// the writer thread, in log order (Answer also on a caller's thread for a
// Submit after Stop); they must not block for long (hand slow work such as
// signing to a thread of your own).
#ifndef FEDRELAY_STORE_LOG_WRITER_H_
#define FEDRELAY_STORE_LOG_WRITER_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/log_store.h"

namespace fedrelay::store {

struct AppendedLeaf {
  uint64_t leaf_index = 0;
  std::string leaf_hash;  // raw 32 bytes
};

// What BatchHandler::Prepare decided for one item: a value, never a status to decode.
class Prepared {
 public:
  enum class Kind {
    kLeaf,      // append leaf() at the index Prepare was given, with its side writes
    kRefused,   // no index; Answer gets status(); its side writes are dropped, but
                // kept_writes() join the batch's one write (Answer runs after it)
    kAnswered,  // no index and Answer is never called: the layer above answers the
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

// Everything the writer asks of the layer above, for items of type `Item`
// (a value the writer moves around and hands back; typically a shared_ptr).
template <typename Item>
class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  // What `item` is if it becomes leaf `leaf_index` (the next index of the
  // batch). A leaf's side writes go into `side`; they are dropped unless the
  // item is a leaf.
  virtual Prepared Prepare(Item& item, uint64_t leaf_index, WriteSet& side) = 0;
  // The batch's leaves [first_index, first_index + leaves.size()) and its kept
  // writes are durable (`leaves` is empty for a batch of refusals whose kept
  // writes were written). Runs before any item of the batch is answered.
  virtual void OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) = 0;
  // The batch's write failed; undo whatever its Prepare calls assumed.
  virtual void OnBatchFailed() = 0;
  // Once per item not Prepared as kAnswered: its leaf once durable, or the
  // refusal, the write's failure, or UNAVAILABLE for a Submit after Stop.
  virtual void Answer(Item& item, absl::StatusOr<AppendedLeaf> result) = 0;
};

template <typename Item>
class LogWriter {
 public:
  struct Options {
    size_t max_batch_items = 4096;
    // How long a busy writer waits for its batch to fill; 0 turns lingering off.
    absl::Duration busy_linger = absl::Microseconds(200);
  };

  // `store` and `handler` must outlive the writer.
  LogWriter(LogStore* store, BatchHandler<Item>* handler, Options options)
      : store_(store),
        handler_(handler),
        options_(options),
        max_items_(std::max<size_t>(options.max_batch_items, 1)) {
    thread_ = std::thread([this] { Run(); });
  }
  LogWriter(LogStore* store, BatchHandler<Item>* handler) : LogWriter(store, handler, Options()) {}
  ~LogWriter() { Stop(); }  // finishes what was submitted
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  void Submit(Item item) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) {
        inbox_.push_back(std::move(item));
        return;
      }
    }
    handler_->Answer(item, absl::UnavailableError("log writer is stopped"));
  }
  // Finishes what was submitted, then ends the thread. Later Submits get UNAVAILABLE.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  // Batches written and items in them, for metrics and tests.
  uint64_t batches_written() const {
    absl::MutexLock lock(&mu_);
    return batches_written_;
  }
  uint64_t items_written() const {
    absl::MutexLock lock(&mu_);
    return items_written_;
  }

 private:
  std::vector<Item> TakeBatch(bool busy);
  bool FullOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || inbox_.size() >= max_items_;
  }
  void WriteBatch(std::vector<Item>& batch);
  void Run() {
    bool busy = false;  // the first batch finds the writer idle
    for (;;) {
      std::vector<Item> batch = TakeBatch(busy);
      if (batch.empty()) return;
      WriteBatch(batch);
      absl::MutexLock lock(&mu_);
      busy = !inbox_.empty();  // items arrived while this batch was written
    }
  }

  LogStore* const store_;
  BatchHandler<Item>* const handler_;
  const Options options_;
  const size_t max_items_;
  mutable absl::Mutex mu_;
  std::deque<Item> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t batches_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t items_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Implementation.

// Waits for work; empty once stopping with nothing left.
template <typename Item>
std::vector<Item> LogWriter<Item>::TakeBatch(bool busy) {
  std::vector<Item> batch;
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](LogWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
        return w->stopping_ || !w->inbox_.empty();
      },
      this));
  if (busy && options_.busy_linger > absl::ZeroDuration()) {
    mu_.AwaitWithTimeout(absl::Condition(this, &LogWriter::FullOrStopping), options_.busy_linger);
  }
  const size_t n = std::min(max_items_, inbox_.size());
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(inbox_.front()));
    inbox_.pop_front();
  }
  return batch;
}

template <typename Item>
void LogWriter<Item>::WriteBatch(std::vector<Item>& batch) {
  // Prepare in order; a leaf takes the next index.
  const uint64_t first_index = store_->Size();
  std::vector<std::string> leaves;
  std::vector<Item*> appended;  // the items that got leaves[i]
  std::vector<std::pair<Item*, absl::Status>> refused_after_write;  // refusals with kept writes
  WriteSet side;
  for (Item& item : batch) {
    // Each item writes into its own set so a refused item leaves no trace.
    WriteSet item_side;
    Prepared prepared = handler_->Prepare(item, first_index + leaves.size(), item_side);
    switch (prepared.kind()) {
      case Prepared::Kind::kAnswered:
        continue;
      case Prepared::Kind::kRefused:
        if (prepared.kept_writes().empty()) {
          handler_->Answer(item, prepared.status());
        } else {
          side.Merge(prepared.kept_writes());
          refused_after_write.emplace_back(&item, prepared.status());
        }
        continue;
      case Prepared::Kind::kLeaf:
        side.Merge(item_side);
        leaves.push_back(std::move(prepared.leaf()));
        appended.push_back(&item);
        continue;
    }
  }
  if (leaves.empty() && side.empty()) return;

  absl::StatusOr<std::vector<std::string>> hashes =
      leaves.empty() ? absl::StatusOr<std::vector<std::string>>(std::vector<std::string>())
                     : store_->Append(leaves, side);
  if (hashes.ok() && leaves.empty()) {
    if (absl::Status written = store_->Write(side); !written.ok()) hashes = written;
  }
  if (!hashes.ok()) {
    handler_->OnBatchFailed();
    for (Item* item : appended) handler_->Answer(*item, hashes.status());
    for (auto& [item, refusal] : refused_after_write) handler_->Answer(*item, refusal);
    return;
  }
  if (!leaves.empty()) {
    absl::MutexLock lock(&mu_);
    ++batches_written_;
    items_written_ += leaves.size();
  }
  handler_->OnBatchDurable(first_index, leaves);
  for (size_t i = 0; i < appended.size(); ++i) {
    handler_->Answer(*appended[i], AppendedLeaf{first_index + i, std::move((*hashes)[i])});
  }
  for (auto& [item, refusal] : refused_after_write) handler_->Answer(*item, refusal);
}

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_WRITER_H_
