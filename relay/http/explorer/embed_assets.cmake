# Writes the explorer's static files into a C++ source as byte arrays, so the
# binary serves them without reading the file system (run by CMake at build
# time, see explorer_assets.cmake).
#   cmake -DASSET_DIR=<dir> -DOUT=<file.cc> -P embed_assets.cmake
file(GLOB assets RELATIVE ${ASSET_DIR} ${ASSET_DIR}/*.html ${ASSET_DIR}/*.js ${ASSET_DIR}/*.css
  ${ASSET_DIR}/*.svg)
list(SORT assets)
set(arrays "")
set(table "")
set(n 0)
foreach(name ${assets})
  file(READ ${ASSET_DIR}/${name} hex HEX)
  string(LENGTH "${hex}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND arrays "constexpr unsigned char kAsset${n}[] = {${bytes}0x00};\n")
  string(APPEND table "      {\"${name}\", absl::string_view(reinterpret_cast<const char*>(kAsset${n}), ${size})},\n")
  math(EXPR n "${n} + 1")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from relay/http/explorer/ by embed_assets.cmake; do not edit.
#include \"relay/http/explorer_assets.h\"

namespace fedrelay::relay {
namespace {
${arrays}}  // namespace

const std::vector<EmbeddedAsset>& ExplorerAssets() {
  static const std::vector<EmbeddedAsset> assets = {
${table}  };
  return assets;
}

}  // namespace fedrelay::relay
")
# Only touch the output when it changed, so an unchanged asset set rebuilds nothing.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
