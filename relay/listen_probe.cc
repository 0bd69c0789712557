#include "relay/listen_probe.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fedrelay::relay {

absl::Status CheckCanListen(const std::string& host_port, absl::string_view what) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return absl::OkStatus();  // the config loader refuses these
  std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  if (port == "0") return absl::OkStatus();
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto fail = [&](const std::string& reason) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for ", what, " on ", host_port, ": ", reason));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return fail(gai_strerror(rc));
  }
  absl::Status status = absl::OkStatus();
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    // Like the real listeners: a port held only by TIME_WAIT connections is free.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    const bool bound = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    const int error = errno;
    close(fd);
    if (!bound) {
      status = fail(std::strerror(error));
      break;
    }
  }
  freeaddrinfo(found);
  return status;
}

}  // namespace fedrelay::relay
