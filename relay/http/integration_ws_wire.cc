// The /v1/ws wire helpers: frames, the protocol's JSON number and list
// conventions, and the checks of hello's client id and version
// (docs/integrations.md). Used by the session in integration_ws.cc.
#include "relay/http/integration_ws_wire.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/encoding.h"
#include "relay/http/integration_ws.h"

namespace fedrelay::relay {
namespace {

constexpr size_t kMaxClientIdBytes = 128;

}  // namespace

namespace integration_wire {

using Json = nlohmann::json;

std::string Frame(absl::string_view type, const Json& payload) {
  return Json{{"type", type}, {"payload", payload}}.dump();
}

// A 64-bit integer given as a JSON number or a decimal string (SPEC 6 JSON conventions).
std::optional<uint64_t> U64Of(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    const int64_t v = value.get<int64_t>();
    if (v < 0) return std::nullopt;
    return static_cast<uint64_t>(v);
  }
  if (value.is_string()) return ParseDecimalU64(value.get<std::string>());
  return std::nullopt;
}

// A list of strings, or nullopt when `value` is not one.
std::optional<std::vector<std::string>> StringsOf(const Json& value) {
  if (!value.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const Json& item : value) {
    if (!item.is_string()) return std::nullopt;
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string AddressOf(const std::string& remote_address) {
  const size_t colon = remote_address.rfind(':');
  return colon == std::string::npos ? remote_address : remote_address.substr(0, colon);
}

Counter& RefusedFrames(absl::string_view code) {
  return MetricsRegistry::Default().GetCounter(
      "fedrelay_integration_frames_refused_total",
      "Integration (/v1/ws) frames answered with an error frame, by error code.",
      {{"code", std::string(code)}});
}

}  // namespace integration_wire


bool IsValidClientId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxClientIdBytes) return false;
  if (!absl::ascii_isalnum(id.front()) || !absl::ascii_isalnum(id.back())) return false;
  if (absl::StrContains(id, "..")) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_';
  });
}

bool IsSemVer(absl::string_view version) {
  if (version.empty() || version.size() > 64) return false;
  absl::string_view core = version;
  absl::string_view rest;
  if (const size_t cut = core.find_first_of("-+"); cut != absl::string_view::npos) {
    rest = core.substr(cut);
    core = core.substr(0, cut);
  }
  int parts = 0;
  for (absl::string_view number : absl::StrSplit(core, '.')) {
    if (number.empty() || !std::all_of(number.begin(), number.end(), absl::ascii_isdigit)) return false;
    if (number.size() > 1 && number.front() == '0') return false;
    ++parts;
  }
  if (parts != 3) return false;
  if (rest.empty()) return true;
  // -pre.release and/or +build.meta: dot-separated non-empty [0-9A-Za-z-].
  for (absl::string_view section : absl::StrSplit(rest.substr(1), '+')) {
    for (absl::string_view ident : absl::StrSplit(section, '.')) {
      if (ident.empty()) return false;
      if (!std::all_of(ident.begin(), ident.end(),
                       [](char c) { return absl::ascii_isalnum(c) || c == '-'; })) {
        return false;
      }
    }
  }
  return absl::StrContains(rest.substr(1), '+') ? rest.front() == '-' : true;
}

}  // namespace fedrelay::relay
