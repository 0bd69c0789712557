// The shutdown signals and run loop shared by fedrelay's daemons (fedrelayd
// and fedrelay-fanout), so both stop, and ignore a stray SIGHUP, the same way.
//
//   if (auto done = AnswerHelpOrVersion(args, "fedrelayd", VERSION, kUsage)) return *done;
//   DaemonSignals signals;            // then, before any thread starts
//   ... start the daemon ...
//   return signals.ServeUntilShutdown(ready_file, grpc_port, http_port, shutdown);
//
// Thread-safety: construct on the main thread before any other thread
// starts; ServeUntilShutdown runs on that thread.
#ifndef FEDRELAY_BASE_DAEMON_RUN_H_
#define FEDRELAY_BASE_DAEMON_RUN_H_

#include <signal.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "base/flags.h"

namespace fedrelay {

// The start of a daemon's main(): in an NDEBUG build turns Abseil's lock-order
// graph off (it costs every Mutex::Lock a lookup; the Debug and sanitizer
// builds the tests run keep it). Then answers --help / -h (prints `usage`) and
// --version (prints "<name> <version>"): returns the exit status, 0, when it
// answered one, nullopt when the daemon goes on.
std::optional<int> AnswerHelpOrVersion(Args& args, absl::string_view name, absl::string_view version,
                                       absl::string_view usage);

class DaemonSignals {
 public:
  // Blocks SIGINT, SIGTERM and SIGHUP (threads started later inherit the
  // mask, so only ServeUntilShutdown's sigwait receives them) and ignores
  // SIGPIPE (a closed socket is an error to handle, not a reason to die).
  DaemonSignals();

  // For a started daemon: writes `ready_file` (when not empty; base/ready_file.h)
  // with its ports, waits for SIGINT or SIGTERM, then calls `shutdown` and
  // removes the ready file. A SIGHUP meanwhile is logged with `sighup_hint`
  // and otherwise ignored: nothing is reloaded at run time, and a stray one (a
  // closed terminal) must not stop the daemon. Returns the exit status: 0, or
  // 1 when the ready file cannot be written (the daemon is shut down first).
  int ServeUntilShutdown(const std::string& ready_file, int grpc_port, int http_port,
                         const std::function<void()>& shutdown, absl::string_view sighup_hint) const;

 private:
  sigset_t signals_;
};

}  // namespace fedrelay

#endif  // FEDRELAY_BASE_DAEMON_RUN_H_
