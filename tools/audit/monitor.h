// fedrelay-audit as a monitor (--state DIR, --follow): audits a running relay
// incrementally. The state directory keeps the verified copy of the log (a
// RocksDB store, like the relay's), the state re-derived from it and how far
// it was verified, so the next run downloads and checks only the new entries:
// the relay's new checkpoint must be consistent with what was verified before
// (an RFC 6962 consistency proof from the relay, checked against the saved
// root), the new entries must hash to its root, and each new entry is
// re-derived on top of the saved state. A relay that rewrote or rolled back
// its log is refused with a clear error and the state is left as it was.
// --follow repeats this every interval until SIGINT or SIGTERM.
#ifndef FEDRELAY_TOOLS_AUDIT_MONITOR_H_
#define FEDRELAY_TOOLS_AUDIT_MONITOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fedrelay/v1/fedrelay.grpc.pb.h"
#include "store/log_store.h"
#include "store/note.h"

namespace fedrelay::audit {

using ProgressFn = std::function<void(absl::string_view stage, uint64_t done, uint64_t total)>;

// Appends the relay's entries [store.Size(), tree_size) to `store`, in chunks.
absl::Status DownloadEntries(v1::AuditLog::Stub& audit, store::LogStore& store, uint64_t tree_size,
                             const ProgressFn& progress);

struct MonitorOptions {
  std::string relay_address;
  store::NoteVerifier verifier;
  std::string state_dir;  // "" = a scratch copy, removed at exit
  bool follow = false;
  uint64_t interval_ms = 5000;
  uint64_t max_clock_skew_ms = 300000;
  std::vector<std::string> checkpoint_files;  // checked once the log covers them
  std::vector<std::string> receipt_files;     // checked in the first round
  bool json = false;
  ProgressFn progress;
};

// Runs the rounds; returns the exit status (0 all verified, 1 a failure).
int RunMonitor(const MonitorOptions& options);

}  // namespace fedrelay::audit

#endif  // FEDRELAY_TOOLS_AUDIT_MONITOR_H_
