// The checks of config/value_checks.h.
#include "config/value_checks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/peer_values.h"

namespace fedrelay::config {

absl::Status CheckNoteName(absl::string_view name) {
  bool ok = !name.empty();
  for (char c : name) ok = ok && c > 0x20 && c < 0x7f && c != '+';
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "must be a note name: printable ASCII, no spaces, no '+'; got ", QuoteValue(name)));
}

absl::Status CheckHostPort(absl::string_view address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be host:port (", why, "); got ", QuoteValue(address)));
  };
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("missing ':port'");
  const absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  uint32_t port_number = 0;
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  if (host.empty()) return bad("missing host");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("unterminated '[' in IPv6 host");
    const std::string ip6(host.substr(1, host.size() - 2));
    in6_addr addr;
    if (inet_pton(AF_INET6, ip6.c_str(), &addr) != 1) return bad("invalid IPv6 address");
    return absl::OkStatus();
  }
  if (absl::StrContains(host, ':')) return bad("IPv6 hosts must be in brackets, e.g. [::1]:7443");
  const bool numeric = std::all_of(host.begin(), host.end(),
                                   [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
  if (numeric) {
    in_addr addr;
    if (inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1) {
      return bad("invalid IPv4 address");
    }
    return absl::OkStatus();
  }
  if (host.size() > 253) return bad("host name too long");
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-' ||
        !std::all_of(label.begin(), label.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
      return bad("invalid host name");
    }
  }
  return absl::OkStatus();
}

// "" (no bus) or nats://host:port with a port 1..65535.
absl::Status CheckNatsUrl(const std::string& text) {
  if (text.empty()) return absl::OkStatus();
  constexpr absl::string_view kScheme = "nats://";
  const absl::string_view rest =
      absl::StartsWith(text, kScheme) ? absl::string_view(text).substr(kScheme.size()) : "";
  const size_t colon = rest.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 1 || port > 65535 ||
      absl::StrContains(rest, '/') || absl::StrContains(rest, '@')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be nats://host:port (or \"\" for no bus); got ", QuoteValue(text)));
  }
  return absl::OkStatus();
}

// A JetStream stream name that is also a subject token: 1..64 of [A-Za-z0-9_-].
absl::Status CheckNatsName(const std::string& text) {
  const bool ok = !text.empty() && text.size() <= 64 &&
                  std::all_of(text.begin(), text.end(), [](char c) {
                    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
                  });
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'; got ", QuoteValue(text)));
  }
  return absl::OkStatus();
}

}  // namespace fedrelay::config
