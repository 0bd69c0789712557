// The operator's view of recent refusals (fedrelay-ctl rejections): a bounded
// ring of the last kCapacity requests the relay refused, each with its machine
// code and who sent it. The counters on /metrics say how many; this says
// which, so an operator can tell a misconfigured peer from a noisy client.
//
// Memory is bounded (kCapacity records of at most kMaxMessageBytes each),
// nothing is persisted, and recording never blocks on anything but a short
// mutex, so it is safe on the federation core's completer thread.
//
// Thread-safety: all methods are thread-safe.
#ifndef FEDRELAY_RELAY_GRPC_RECENT_REJECTIONS_H_
#define FEDRELAY_RELAY_GRPC_RECENT_REJECTIONS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace fedrelay::relay {

struct RecentRejection {
  uint64_t at_ms = 0;
  std::string code;     // machine code
  std::string peer;     // "server:<id>", "user:<K_id>", "device:<key>", "ipv4:<addr>"... or "unknown"
  std::string kind;     // submission kind, "" when unknown
  std::string message;  // the wire message, cut at kMaxMessageBytes
};

class RecentRejections {
 public:
  static constexpr size_t kCapacity = 256;
  static constexpr size_t kMaxMessageBytes = 512;

  // The process's ring (one relay per process).
  static RecentRejections& Default();

  // Records a refusal; OK statuses are ignored.
  void Record(const absl::Status& status, std::string peer, std::string kind, uint64_t at_ms);
  // Oldest first.
  std::vector<RecentRejection> Snapshot() const;
  // Refusals recorded since the process started (also those that fell out of the ring).
  uint64_t total() const;

 private:
  mutable absl::Mutex mu_;
  std::deque<RecentRejection> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_GRPC_RECENT_REJECTIONS_H_
