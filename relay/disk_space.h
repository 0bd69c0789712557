// Keeps the store away from a full disk (log.min_free_bytes).
//
// RocksDB does not come back from a write that ran out of space without a
// reopen (and Debian's build aborts on the next write to the failed log
// file), so the relay stops taking new entries while the data directory's
// file system has less than the configured free space, and reports not
// ready; once space returns, writes are taken again by themselves.
//
// Thread-safety: Check() may be called from any thread; it runs statvfs at
// most once per kRecheckInterval and otherwise returns the cached answer.
#ifndef FEDRELAY_RELAY_DISK_SPACE_H_
#define FEDRELAY_RELAY_DISK_SPACE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace fedrelay::relay {

class DiskSpaceGuard {
 public:
  static constexpr std::chrono::milliseconds kRecheckInterval{200};

  // `min_free_bytes` 0 disables the check.
  DiskSpaceGuard(std::string dir, uint64_t min_free_bytes);

  // OK while the file system holding `dir` has at least min_free_bytes free
  // for unprivileged use; otherwise kUnavailable naming the directory and both
  // numbers (also when statvfs fails).
  absl::Status Check() const;

 private:
  absl::Status Measure() const;

  const std::string dir_;
  const uint64_t min_free_bytes_;
  mutable absl::Mutex mu_;
  mutable std::chrono::steady_clock::time_point checked_at_ ABSL_GUARDED_BY(mu_);
  mutable absl::Status last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_DISK_SPACE_H_
