// Start-up checks that a listen address is free before the relay writes
// anything: a start that is going to fail on a taken port must not first
// generate a key or log the config's peers. Thread-safety: pure function.
#ifndef FEDRELAY_RELAY_LISTEN_PROBE_H_
#define FEDRELAY_RELAY_LISTEN_PROBE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedrelay::relay {

// Binds and releases a TCP socket on `host_port` ("host:port", "[v6]:port",
// as validated by the config loader). Port 0 is always free. UNAVAILABLE
// "cannot listen for <what> on <host_port>: <reason>" when the bind fails.
absl::Status CheckCanListen(const std::string& host_port, absl::string_view what);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_LISTEN_PROBE_H_
