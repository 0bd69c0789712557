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

    // Prepare in order; a leaf takes the next index.
    const uint64_t first_index = store_->Size();
    std::vector<std::string> leaves;
    std::vector<DoneFn> appended;  // done callbacks of the items that got leaves[i]
    std::vector<std::pair<DoneFn, absl::Status>> refused_after_write;  // refusals with kept writes
    WriteSet side;
    for (Item& item : batch) {
      // Each item writes into its own set so a refused item leaves no trace.
      WriteSet item_side;
      Prepared prepared = item.prepare(first_index + leaves.size(), item_side);
      switch (prepared.kind()) {
        case Prepared::Kind::kAnswered:
          continue;
        case Prepared::Kind::kRefused:
          if (prepared.kept_writes().empty()) {
            item.done(prepared.status());
          } else {
            side.Merge(prepared.kept_writes());
            refused_after_write.emplace_back(std::move(item.done), prepared.status());
          }
          continue;
        case Prepared::Kind::kLeaf:
          side.Merge(item_side);
          leaves.push_back(std::move(prepared.leaf()));
          appended.push_back(std::move(item.done));
          continue;
      }
    }
    if (leaves.empty() && side.empty()) continue;

    absl::StatusOr<std::vector<std::string>> hashes =
        leaves.empty() ? absl::StatusOr<std::vector<std::string>>(std::vector<std::string>())
                       : store_->Append(leaves, side);
    if (hashes.ok() && leaves.empty()) {
      if (absl::Status written = store_->Write(side); !written.ok()) hashes = written;
    }
    if (!hashes.ok()) {
      if (observer_ != nullptr) observer_->OnBatchFailed();
      for (DoneFn& done : appended) done(hashes.status());
      for (auto& [done, refusal] : refused_after_write) done(refusal);
      continue;
    }
    if (!leaves.empty()) {
      absl::MutexLock lock(&mu_);
      ++batches_written_;
      items_written_ += leaves.size();
    }
    if (observer_ != nullptr) observer_->OnBatchDurable(first_index, leaves);
    for (size_t i = 0; i < appended.size(); ++i) {
      appended[i](AppendedLeaf{first_index + i, std::move((*hashes)[i])});
    }
    for (auto& [done, refusal] : refused_after_write) done(refusal);
  }
}

}  // namespace fedrelay::store
