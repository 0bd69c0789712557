// The YAML config loader: whatever an operator (or a tool writing the file)
// puts there gets a clear error, never a crash.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  (void)fedrelay::config::ParseConfig(input, "fuzz.yaml");
  return 0;
}
