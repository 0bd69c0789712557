// The checks the configuration loader (config.cc) runs on single values of
// some key kinds. Each returns OK or InvalidArgument saying what is wrong, with
// the offending value quoted; the loader adds the key's name. Server ids,
// pubkeys and guild lists are checked by base/peer_values.h instead.
//
// Thread-safety: pure functions.
#ifndef FEDRELAY_CONFIG_VALUE_CHECKS_H_
#define FEDRELAY_CONFIG_VALUE_CHECKS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fedrelay::config {

// A C2SP note signer name: printable ASCII, no spaces, no '+'.
absl::Status CheckNoteName(absl::string_view name);
// A listen address host:port: a host name, an IPv4 address or a bracketed
// IPv6 address, and a port 0..65535.
absl::Status CheckHostPort(absl::string_view address);
// "" (no bus) or nats://host:port with a port 1..65535.
absl::Status CheckNatsUrl(const std::string& text);
// A JetStream stream name that is also a subject token: 1..64 of [A-Za-z0-9_-].
absl::Status CheckNatsName(const std::string& text);

}  // namespace fedrelay::config

#endif  // FEDRELAY_CONFIG_VALUE_CHECKS_H_
