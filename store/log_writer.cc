#include "store/log_writer.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"

namespace fedrelay::store {

LogWriter::LogWriter(LogStore* store, BatchObserver* observer, Options options)
    : store_(store), observer_(observer), options_(options) {
  thread_ = std::thread([this] { Run(); });
}

LogWriter::~LogWriter() { Stop(); }

void LogWriter::Submit(PrepareFn prepare, DoneFn done) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      inbox_.push_back(Item{std::move(prepare), std::move(done)});
      return;
    }
  }
  done(absl::UnavailableError("log writer is stopped"));
}

void LogWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t LogWriter::batches_written() const {
  absl::MutexLock lock(&mu_);
  return batches_written_;
}

uint64_t LogWriter::items_written() const {
  absl::MutexLock lock(&mu_);
  return items_written_;
}

void LogWriter::Run() {
  const size_t max_items = options_.max_batch_items == 0 ? 1 : options_.max_batch_items;
  for (;;) {
    std::vector<Item> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](LogWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stopping_ || !w->inbox_.empty();
          },
          this));
      if (inbox_.empty()) return;  // stopping, and everything submitted is answered
      const size_t n = std::min(max_items, inbox_.size());
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(inbox_.front()));
        inbox_.pop_front();
      }
    }

    // Prepare in order; an accepted item takes the next index.
    const uint64_t first_index = store_->Size();
    std::vector<std::string> leaves;
    std::vector<DoneFn> accepted;  // done callbacks of the items that got leaves[i]
    WriteSet side;
    for (Item& item : batch) {
      // Each item writes into its own set so a rejected item leaves no trace.
      WriteSet item_side;
      absl::StatusOr<std::string> leaf = item.prepare(first_index + leaves.size(), item_side);
      if (!leaf.ok()) {
        item.done(leaf.status());
        continue;
      }
      for (const WriteSet::Op& op : item_side.ops()) {
        if (op.value.has_value()) {
          side.Put(op.table, op.key, *op.value);
        } else {
          side.Delete(op.table, op.key);
        }
      }
      leaves.push_back(*std::move(leaf));
      accepted.push_back(std::move(item.done));
    }
    if (leaves.empty()) continue;

    absl::StatusOr<std::vector<std::string>> hashes = store_->Append(leaves, side);
    if (!hashes.ok()) {
      if (observer_ != nullptr) observer_->OnBatchFailed();
      for (DoneFn& done : accepted) done(hashes.status());
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      ++batches_written_;
      items_written_ += leaves.size();
    }
    if (observer_ != nullptr) observer_->OnBatchDurable(first_index, leaves);
    for (size_t i = 0; i < accepted.size(); ++i) {
      accepted[i](AppendedLeaf{first_index + i, std::move((*hashes)[i])});
    }
  }
}

}  // namespace fedrelay::store
