#include "base/serial_worker.h"

#include <utility>

namespace fedrelay {

SerialWorker::SerialWorker() : thread_([this] { Run(); }) {}

SerialWorker::~SerialWorker() { Stop(); }

void SerialWorker::Post(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void SerialWorker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void SerialWorker::Run() {
  for (;;) {
    std::deque<std::function<void()>> ready;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &SerialWorker::HasWorkOrStopping));
      if (queue_.empty()) return;
      ready.swap(queue_);
    }
    for (std::function<void()>& fn : ready) fn();
  }
}

}  // namespace fedrelay
