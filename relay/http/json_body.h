// Strict parsing of JSON request bodies (SPEC section 6 "JSON conventions"):
// one object, UTF-8, bounded nesting; fields read with their exact type.
// Every failure is kMalformed naming the field, so a client learns what to fix
// and nothing it sends can crash or stall the relay (nlohmann's parser
// recurses, so nesting is checked on the raw bytes before parsing).
//
// Thread-safety: pure functions.
#ifndef FEDRELAY_RELAY_HTTP_JSON_BODY_H_
#define FEDRELAY_RELAY_HTTP_JSON_BODY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace fedrelay::relay {

// Nesting deeper than this ([[[[...) is malformed.
inline constexpr int kMaxJsonDepth = 16;

// The body as a JSON object. Unknown fields are kept (callers ignore them).
absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view body);

// A required string field (kMalformed when missing or not a string).
absl::StatusOr<std::string> RequiredString(const nlohmann::json& object, const char* name);
// An optional string field: nullopt when absent or null; kMalformed for another type.
absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& object,
                                                          const char* name);
// A required uint64: a JSON number that is a whole number >= 0, or a decimal
// string (SPEC: a decimal string is accepted for any 64-bit integer).
absl::StatusOr<uint64_t> RequiredU64(const nlohmann::json& object, const char* name);

// The compact serialization of a response body.
std::string DumpJson(const nlohmann::json& value);

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_JSON_BODY_H_
