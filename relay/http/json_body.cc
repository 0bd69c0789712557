#include "relay/http/json_body.h"

#include "absl/strings/str_cat.h"
#include "base/encoding.h"
#include "base/errors.h"

namespace fedrelay::relay {
namespace {

// The deepest [ / { nesting outside strings; stops counting past the limit.
absl::Status CheckDepth(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return MakeError(ErrorCode::kMalformed,
                         absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::Status WrongType(const char* name, const char* expected) {
  return MakeError(ErrorCode::kMalformed, absl::StrCat("field '", name, "' must be ", expected));
}

}  // namespace

absl::StatusOr<nlohmann::json> ParseJsonObject(absl::string_view body) {
  if (absl::Status depth = CheckDepth(body); !depth.ok()) return depth;
  // No exceptions: a parse failure (invalid UTF-8 included) is a discarded value.
  nlohmann::json json = nlohmann::json::parse(body.begin(), body.end(), nullptr,
                                              /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return MakeError(ErrorCode::kMalformed, "body is not valid JSON (RFC 8259, UTF-8)");
  }
  if (!json.is_object()) return MakeError(ErrorCode::kMalformed, "body must be a JSON object");
  return json;
}

absl::StatusOr<std::string> RequiredString(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("missing field '", name, "'"));
  }
  if (!it->is_string()) return WrongType(name, "a string");
  return it->get<std::string>();
}

absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& object,
                                                          const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return WrongType(name, "a string");
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<uint64_t> RequiredU64(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    return MakeError(ErrorCode::kMalformed, absl::StrCat("missing field '", name, "'"));
  }
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_string()) {
    if (auto value = ParseDecimalU64(it->get_ref<const std::string&>())) return *value;
  }
  return WrongType(name, "a whole number >= 0 (JSON number or decimal string)");
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fedrelay::relay
