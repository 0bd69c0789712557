#include "base/daemon_run.h"

#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "base/ready_file.h"
#include "spdlog/spdlog.h"

namespace fedrelay {

std::optional<int> AnswerHelpOrVersion(Args& args, absl::string_view name, absl::string_view version,
                                       absl::string_view usage) {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  if (args.Flag("--help") || args.Flag("-h")) {
    std::cout << usage;
    return 0;
  }
  if (args.Flag("--version")) {
    std::cout << name << " " << version << "\n";
    return 0;
  }
  return std::nullopt;
}

DaemonSignals::DaemonSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int DaemonSignals::ServeUntilShutdown(const std::string& ready_file, int grpc_port, int http_port,
                                      const std::function<void()>& shutdown,
                                      absl::string_view sighup_hint) const {
  if (!ready_file.empty() && !WriteReadyFile(ready_file, grpc_port, http_port)) {
    spdlog::error("cannot write ready file {}", ready_file);
    shutdown();
    return 1;
  }
  int received = 0;
  for (;;) {
    sigwait(&signals_, &received);
    if (received != SIGHUP) break;
    spdlog::warn("received SIGHUP: ignored ({})", std::string(sighup_hint));
  }
  spdlog::info("received {}, shutting down", strsignal(received));
  shutdown();
  if (!ready_file.empty()) std::remove(ready_file.c_str());
  spdlog::info("shutdown complete");
  return 0;
}

}  // namespace fedrelay
