// The strict wire encodings: lowercase hex, padded base64, decimal event ids
// (resume_from_event_id, member channel cursors, timestamps in metadata).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "base/encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace fedrelay;
  // Strict means canonical: what decodes encodes back to the same text.
  if (auto bytes = HexDecode(input, "fuzz"); bytes.ok() && HexEncode(*bytes) != input) std::abort();
  if (auto bytes = Base64Decode(input); bytes.ok() && Base64Encode(*bytes) != input) std::abort();
  if (auto value = ParseDecimalU64(input); value.has_value() && std::to_string(*value) != input) {
    // Leading zeros are the one non-canonical form a decimal may take.
    if (input.empty() || input[0] != '0') std::abort();
  }
  return 0;
}
