// Signature checks of Submit stream items on every core.
//
// gRPC reads one stream's messages one at a time, so checking each item on
// the thread that read it keeps a busy peer's single Submit stream on one
// core. A VerifyPool runs Federation::CheckSubmission (shape, encodings, freshness,
// device certs, signatures) on one thread per core instead, and an
// OrderedSubmitter per stream hands the checked items to the federation core
// in the order the stream carried them: the log order of one stream's items is
// the order they were sent, as when they were checked one by one (an invite
// and its accept on one stream keep working), while the checks overlap.
//
// Bounds: each stream keeps at most its in-flight window unanswered
// (federation_service.cc), and the pool's queue holds at most
// `queue_capacity` checks; Post waits for room beyond that, which only a
// great many streams at once can reach.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_GRPC_VERIFY_POOL_H_
#define FEDRELAY_RELAY_GRPC_VERIFY_POOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "federation/federation.h"

namespace fedrelay::relay {

class VerifyPool {
 public:
  // `threads` 0 means one per core.
  VerifyPool(size_t threads, size_t queue_capacity);
  ~VerifyPool();  // Stop()

  // Runs `task` on a pool thread, in the order posted (started in order; they
  // overlap). Waits while the queue is full. After Stop, runs it inline.
  void Post(std::function<void()> task);
  // Runs what was posted, then ends the threads.
  void Stop();

  size_t threads() const { return threads_.size(); }

 private:
  void Run();

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// One Submit stream's path into the federation core: checks on the pool,
// hand-off in stream order. Shared by the stream and its queued checks, so
// it outlives a stream that ends while they run.
class OrderedSubmitter : public std::enable_shared_from_this<OrderedSubmitter> {
 public:
  OrderedSubmitter(VerifyPool* pool, federation::Federation* federation);

  // Checks `submission` on the pool. Once it and every submission added before
  // it are checked, it goes to Federation::SubmitChecked, or `done` gets its
  // refusal. `done` runs exactly once, as for Federation::Submit.
  void Submit(federation::Submission submission, federation::DoneFn done);

 private:
  struct Slot {
    std::optional<absl::StatusOr<std::unique_ptr<federation::CheckedSubmission>>> checked;
    federation::DoneFn done;
  };
  void Checked(uint64_t sequence, absl::StatusOr<std::unique_ptr<federation::CheckedSubmission>> checked);

  VerifyPool* const pool_;
  federation::Federation* const federation_;
  absl::Mutex mu_;
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);  // slots_[0] is sequence first_
  uint64_t first_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool handing_off_ ABSL_GUARDED_BY(mu_) = false;  // one thread hands off at a time, in order
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_VERIFY_POOL_H_
