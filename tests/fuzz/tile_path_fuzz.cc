// C2SP tile paths as they arrive in GET /tile/...: strict, one path per tile.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "store/tiles.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  auto tile = fedrelay::store::ParseTilePath(input);
  if (!tile.ok()) return 0;
  // Every tile has exactly one path: what parses is what FormatTilePath writes.
  if (fedrelay::store::FormatTilePath(*tile) != input) std::abort();
  return 0;
}
