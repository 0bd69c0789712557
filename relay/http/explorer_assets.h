// The log explorer's static files (relay/http/explorer/*.html, *.js, *.css),
// compiled into the binary by relay/http/explorer/embed_assets.cmake.
//
// Thread-safety: the table is built once, on first use, and never changes.
#ifndef FEDRELAY_RELAY_HTTP_EXPLORER_ASSETS_H_
#define FEDRELAY_RELAY_HTTP_EXPLORER_ASSETS_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace fedrelay::relay {

struct EmbeddedAsset {
  absl::string_view name;   // file name, e.g. "app.js"
  absl::string_view bytes;  // the file's contents
};

// Every embedded file, sorted by name.
const std::vector<EmbeddedAsset>& ExplorerAssets();

}  // namespace fedrelay::relay

#endif  // FEDRELAY_RELAY_HTTP_EXPLORER_ASSETS_H_
