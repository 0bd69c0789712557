#include "relay/grpc/verify_pool.h"

#include <algorithm>
#include <utility>

namespace fedrelay::relay {

VerifyPool::VerifyPool(size_t threads, size_t queue_capacity) : capacity_(std::max<size_t>(queue_capacity, 1)) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

VerifyPool::~VerifyPool() { Stop(); }

void VerifyPool::Post(std::function<void()> task) {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](VerifyPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
          return pool->stopping_ || pool->queue_.size() < pool->capacity_;
        },
        this));
    if (!stopping_) {
      queue_.push_back(std::move(task));
      return;
    }
  }
  task();
}

void VerifyPool::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void VerifyPool::Run() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](VerifyPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and everything posted has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

OrderedSubmitter::OrderedSubmitter(VerifyPool* pool, federation::Federation* federation)
    : pool_(pool), federation_(federation) {}

void OrderedSubmitter::Submit(federation::Submission submission, federation::DoneFn done) {
  uint64_t sequence;
  {
    absl::MutexLock lock(&mu_);
    sequence = next_++;
    slots_.push_back(Slot{std::nullopt, std::move(done)});
  }
  pool_->Post([self = shared_from_this(), sequence, submission = std::move(submission)]() mutable {
    self->Checked(sequence, self->federation_->CheckSubmission(std::move(submission)));
  });
}

void OrderedSubmitter::Checked(uint64_t sequence,
                               absl::StatusOr<std::unique_ptr<federation::CheckedSubmission>> checked) {
  absl::MutexLock lock(&mu_);
  slots_[sequence - first_].checked = std::move(checked);
  if (handing_off_) return;  // the thread handing off will reach this slot
  handing_off_ = true;
  while (!slots_.empty() && slots_.front().checked.has_value()) {
    Slot slot = std::move(slots_.front());
    slots_.pop_front();
    ++first_;
    // Outside the lock: `done` may end the stream, SubmitChecked takes the
    // writer's lock. handing_off_ keeps the order meanwhile.
    mu_.Unlock();
    if (slot.checked->ok()) {
      federation_->SubmitChecked(*std::move(*slot.checked), std::move(slot.done));
    } else {
      slot.done(slot.checked->status());
    }
    mu_.Lock();
  }
  handing_off_ = false;
}

}  // namespace fedrelay::relay
