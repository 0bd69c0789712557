// The /v1/ws wire helpers shared by the integration session (integration_ws.cc).
// Internal to relay/http; the public checks IsValidClientId and IsSemVer are
// declared in integration_ws.h.
#ifndef FEDRELAY_RELAY_HTTP_INTEGRATION_WS_WIRE_H_
#define FEDRELAY_RELAY_HTTP_INTEGRATION_WS_WIRE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/metrics.h"
#include "nlohmann/json.hpp"

namespace fedrelay::relay::integration_wire {

// {"type": type, "payload": payload}, serialized.
std::string Frame(absl::string_view type, const nlohmann::json& payload);
// A 64-bit integer given as a JSON number or a decimal string.
std::optional<uint64_t> U64Of(const nlohmann::json& value);
// A list of strings, or nullopt when `value` is not one.
std::optional<std::vector<std::string>> StringsOf(const nlohmann::json& value);
// "ipv4:127.0.0.1:5151" -> "ipv4:127.0.0.1": what per-address limits count by.
std::string AddressOf(const std::string& remote_address);
// fedrelay_integration_frames_refused_total{code}.
Counter& RefusedFrames(absl::string_view code);

}  // namespace fedrelay::relay::integration_wire

#endif  // FEDRELAY_RELAY_HTTP_INTEGRATION_WS_WIRE_H_
