#include "relay/disk_space.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/errors.h"

namespace fedrelay::relay {

DiskSpaceGuard::DiskSpaceGuard(std::string dir, uint64_t min_free_bytes)
    : dir_(std::move(dir)), min_free_bytes_(min_free_bytes) {}

absl::Status DiskSpaceGuard::Check() const {
  if (min_free_bytes_ == 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  const auto now = std::chrono::steady_clock::now();
  if (checked_at_ == std::chrono::steady_clock::time_point() || now - checked_at_ >= kRecheckInterval) {
    last_ = Measure();
    checked_at_ = now;
  }
  return last_;
}

absl::Status DiskSpaceGuard::Measure() const {
  struct statvfs stats;
  if (statvfs(dir_.c_str(), &stats) != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     absl::StrCat("cannot check free space of ", dir_, ": ", std::strerror(errno)));
  }
  const uint64_t free_bytes = static_cast<uint64_t>(stats.f_bavail) * stats.f_frsize;
  if (free_bytes >= min_free_bytes_) return absl::OkStatus();
  return MakeError(ErrorCode::kUnavailable,
                   absl::StrCat("the data directory ", dir_, " has ", free_bytes,
                                " bytes free, less than log.min_free_bytes (", min_free_bytes_,
                                "); no new entries until space returns"));
}

}  // namespace fedrelay::relay
