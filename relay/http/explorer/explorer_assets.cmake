# The log explorer's static files (this folder) become a generated source of
# fedrelay_relay: they are part of the binary, with no build step of their own
# and no downloads. Included from relay/CMakeLists.txt.
set(FEDRELAY_EXPLORER_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB FEDRELAY_EXPLORER_FILES CONFIGURE_DEPENDS ${FEDRELAY_EXPLORER_DIR}/*.html
  ${FEDRELAY_EXPLORER_DIR}/*.js ${FEDRELAY_EXPLORER_DIR}/*.css ${FEDRELAY_EXPLORER_DIR}/*.svg)
set(FEDRELAY_EXPLORER_SOURCE ${CMAKE_CURRENT_BINARY_DIR}/explorer_assets.cc)
add_custom_command(OUTPUT ${FEDRELAY_EXPLORER_SOURCE}
  COMMAND ${CMAKE_COMMAND} -DASSET_DIR=${FEDRELAY_EXPLORER_DIR} -DOUT=${FEDRELAY_EXPLORER_SOURCE}
          -P ${FEDRELAY_EXPLORER_DIR}/embed_assets.cmake
  DEPENDS ${FEDRELAY_EXPLORER_FILES} ${FEDRELAY_EXPLORER_DIR}/embed_assets.cmake
  COMMENT "Embedding the log explorer's files"
  VERBATIM)
target_sources(fedrelay_relay PRIVATE ${FEDRELAY_EXPLORER_SOURCE})
