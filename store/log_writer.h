// The single batched writer (after strfry's runWriter): callers submit items
// from any thread; the writer thread drains the inbox, asks its BatchHandler
// what each item is (a leaf, a refusal, or answered by the layer above) in log
// order, hands the batch to a committer thread that appends it with one synced
// write, then has the handler answer every item. If the write fails, every item
// in the batch that took an index gets the failure and nothing of the batch is
// visible.
//
// The two threads overlap: while one batch's synced write runs, the writer
// prepares what arrives meanwhile as the next batch (on top of the one being
// written), and starts writing it as soon as the disk is done. That is the
// batching's adaptivity: an idle writer writes what it finds at once; under
// load a batch is what arrived during the previous write, and preparing it
// costs no extra time. If a write fails, the batch prepared on top of it fails
// too, as its decisions assumed the failed one.
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
#include <memory>
#include <optional>
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
//
// A batch's life: Prepare for each of its items, then OnBatchPrepared if it
// has anything to write (a batch of refusals without kept writes and answered
// items ends there, with no other call), then OnBatchDurable or OnBatchFailed.
// The next batch's Prepare calls may come between OnBatchPrepared and the end
// of the one before (at most one batch is being written at a time): they must
// see the state the batch being written leaves. Batches end in the order they
// were prepared, and a batch prepared on top of a failed one fails too.
template <typename Item>
class BatchHandler {
 public:
  virtual ~BatchHandler() = default;
  // What `item` is if it becomes leaf `leaf_index` (the next index of the
  // log as it will be after the batches before). A leaf's side writes go into
  // `side`; they are dropped unless the item is a leaf.
  virtual Prepared Prepare(Item& item, uint64_t leaf_index, WriteSet& side) = 0;
  // The items Prepared since the last OnBatchPrepared are a batch that will
  // be written; the next Prepare starts a new batch.
  virtual void OnBatchPrepared() = 0;
  // The oldest unfinished batch's leaves [first_index, first_index +
  // leaves.size()) and its kept writes are durable (`leaves` is empty for a
  // batch of refusals whose kept writes were written). Runs before any item
  // of the batch is answered.
  virtual void OnBatchDurable(uint64_t first_index, const std::vector<std::string>& leaves) = 0;
  // The oldest unfinished batch's write failed, or the batch before it did;
  // undo whatever its Prepare calls assumed.
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
  };

  // `store` and `handler` must outlive the writer.
  LogWriter(LogStore* store, BatchHandler<Item>* handler, Options options)
      : store_(store),
        handler_(handler),
        max_items_(std::max<size_t>(options.max_batch_items, 1)) {
    committer_ = std::thread([this] { CommitLoop(); });
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
  // Finishes what was submitted, then ends the threads. Later Submits get UNAVAILABLE.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
    {
      absl::MutexLock lock(&mu_);
      committer_exit_ = true;
    }
    if (committer_.joinable()) committer_.join();
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
  // One batch from its first Prepare to its answers.
  struct Batch {
    uint64_t first_index = 0;
    std::deque<Item> items;  // a deque: the pointers below stay valid as it grows
    std::vector<std::string> leaves;
    std::vector<Item*> appended;  // the items that got leaves[i]
    std::vector<std::pair<Item*, absl::Status>> refused_after_write;  // refusals with kept writes
    WriteSet side;
    bool HasWrites() const { return !leaves.empty() || !side.empty(); }
  };

  void Run();
  void PrepareItem(Batch& batch, Item item);
  // The committer's result for `batch` is in: tells the handler, answers.
  // Returns the failure, if the write failed.
  absl::Status FinishBatch(Batch& batch, absl::StatusOr<std::vector<std::string>> hashes);
  // `batch` was prepared on top of one whose write failed with `failure`.
  void FailBatch(Batch& batch, const absl::Status& failure);
  void AnswerFailed(Batch& batch, const absl::Status& failure);
  void CommitLoop();
  absl::StatusOr<std::vector<std::string>> Write(Batch& batch);

  // While a batch is written: wake for its end, or for items the batch being
  // prepared has room for (`room_`).
  bool CommitDoneOrItemsFit() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return commit_done_ || (room_ > 0 && !inbox_.empty());
  }
  bool StoppingOrItems() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !inbox_.empty();
  }
  bool CommitterHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return committer_exit_ || (committing_ != nullptr && !commit_done_);
  }

  LogStore* const store_;
  BatchHandler<Item>* const handler_;
  const size_t max_items_;
  mutable absl::Mutex mu_;
  std::deque<Item> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t room_ ABSL_GUARDED_BY(mu_) = 0;
  // The hand-off to the committer: the batch being written, and its result.
  Batch* committing_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool commit_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<std::vector<std::string>> commit_result_ ABSL_GUARDED_BY(mu_);
  bool committer_exit_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t batches_written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t items_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread committer_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// Implementation.

template <typename Item>
void LogWriter<Item>::Run() {
  std::unique_ptr<Batch> writing;    // handed to the committer
  std::unique_ptr<Batch> preparing;  // filling while `writing` is written
  for (;;) {
    std::vector<Item> taken;
    std::optional<absl::StatusOr<std::vector<std::string>>> written;  // `writing`'s result
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      room_ = max_items_ - (preparing != nullptr ? preparing->items.size() : 0);
      if (writing != nullptr) {
        mu_.Await(absl::Condition(this, &LogWriter::CommitDoneOrItemsFit));
      } else {
        mu_.Await(absl::Condition(this, &LogWriter::StoppingOrItems));
      }
      const size_t n = std::min(room_, inbox_.size());
      taken.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        taken.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
      if (writing != nullptr && commit_done_) {
        written = std::move(commit_result_);
        committing_ = nullptr;
        commit_done_ = false;
      }
      stopping = stopping_ && inbox_.empty();
    }
    if (!taken.empty()) {
      if (preparing == nullptr) {
        preparing = std::make_unique<Batch>();
        preparing->first_index = writing != nullptr
                                     ? writing->first_index + writing->leaves.size()
                                     : store_->Size();
      }
      for (Item& item : taken) PrepareItem(*preparing, std::move(item));
    }
    if (writing != nullptr) {
      if (!written.has_value()) continue;  // still being written: keep preparing
      absl::Status failure = FinishBatch(*writing, *std::move(written));
      writing.reset();
      if (!failure.ok() && preparing != nullptr) {
        FailBatch(*preparing, failure);
        preparing.reset();
      }
    }
    if (preparing != nullptr) {
      if (preparing->HasWrites()) {
        handler_->OnBatchPrepared();
        writing = std::move(preparing);
        absl::MutexLock lock(&mu_);
        committing_ = writing.get();
      }
      preparing.reset();  // with nothing to write, its items are answered already
      continue;
    }
    if (stopping && taken.empty()) return;
  }
}

template <typename Item>
void LogWriter<Item>::PrepareItem(Batch& batch, Item item) {
  batch.items.push_back(std::move(item));
  Item& held = batch.items.back();
  // Each item writes into its own set so a refused item leaves no trace.
  WriteSet item_side;
  Prepared prepared = handler_->Prepare(held, batch.first_index + batch.leaves.size(), item_side);
  switch (prepared.kind()) {
    case Prepared::Kind::kAnswered:
      return;
    case Prepared::Kind::kRefused:
      if (prepared.kept_writes().empty()) {
        handler_->Answer(held, prepared.status());
      } else {
        batch.side.Merge(prepared.kept_writes());
        batch.refused_after_write.emplace_back(&held, prepared.status());
      }
      return;
    case Prepared::Kind::kLeaf:
      batch.side.Merge(item_side);
      batch.leaves.push_back(std::move(prepared.leaf()));
      batch.appended.push_back(&held);
      return;
  }
}

template <typename Item>
absl::Status LogWriter<Item>::FinishBatch(Batch& batch,
                                          absl::StatusOr<std::vector<std::string>> hashes) {
  if (!hashes.ok()) {
    handler_->OnBatchFailed();
    AnswerFailed(batch, hashes.status());
    return hashes.status();
  }
  if (!batch.leaves.empty()) {
    absl::MutexLock lock(&mu_);
    ++batches_written_;
    items_written_ += batch.leaves.size();
  }
  handler_->OnBatchDurable(batch.first_index, batch.leaves);
  for (size_t i = 0; i < batch.appended.size(); ++i) {
    handler_->Answer(*batch.appended[i],
                     AppendedLeaf{batch.first_index + i, std::move((*hashes)[i])});
  }
  for (auto& [item, refusal] : batch.refused_after_write) handler_->Answer(*item, refusal);
  return absl::OkStatus();
}

template <typename Item>
void LogWriter<Item>::FailBatch(Batch& batch, const absl::Status& failure) {
  // Without writes its items are answered already and the handler kept no state for it.
  if (!batch.HasWrites()) return;
  handler_->OnBatchPrepared();
  handler_->OnBatchFailed();
  AnswerFailed(batch, failure);
}

template <typename Item>
void LogWriter<Item>::AnswerFailed(Batch& batch, const absl::Status& failure) {
  for (Item* item : batch.appended) handler_->Answer(*item, failure);
  for (auto& [item, refusal] : batch.refused_after_write) handler_->Answer(*item, refusal);
}

template <typename Item>
void LogWriter<Item>::CommitLoop() {
  for (;;) {
    Batch* batch = nullptr;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &LogWriter::CommitterHasWork));
      if (committing_ == nullptr || commit_done_) return;  // told to exit, nothing to write
      batch = committing_;
    }
    absl::StatusOr<std::vector<std::string>> hashes = Write(*batch);
    absl::MutexLock lock(&mu_);
    commit_result_ = std::move(hashes);
    commit_done_ = true;
  }
}

template <typename Item>
absl::StatusOr<std::vector<std::string>> LogWriter<Item>::Write(Batch& batch) {
  if (batch.leaves.empty()) {
    absl::Status written = store_->Write(batch.side);
    if (!written.ok()) return written;
    return std::vector<std::string>();
  }
  return store_->Append(batch.leaves, batch.side);
}

}  // namespace fedrelay::store

#endif  // FEDRELAY_STORE_LOG_WRITER_H_
