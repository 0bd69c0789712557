// Runs closures one at a time, in the order posted, on a thread of its own:
// for work that must leave a latency-sensitive thread (the writer, a gRPC
// callback thread) but keep its order.
//
// Thread-safety: Post and Stop are thread-safe.
#ifndef FEDRELAY_BASE_SERIAL_WORKER_H_
#define FEDRELAY_BASE_SERIAL_WORKER_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fedrelay {

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();  // Stop()s
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  // After Stop (work racing with shutdown) `fn` runs on the caller's thread.
  void Post(std::function<void()> fn);
  // Runs what was posted, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is initialized
};

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_SERIAL_WORKER_H_
