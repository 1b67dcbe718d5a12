# Turns the files in web/ (and the charting library fetched from npm into
# web/node_modules at build time) into a C source: one const array per file
# plus a lookup table, so the binary serves its pages with no files on disk.
set(WSP_WEB_FILES
  demo.html=${CMAKE_SOURCE_DIR}/web/demo.html
  wspush.js=${CMAKE_SOURCE_DIR}/web/wspush.js
  dashboard.html=${CMAKE_SOURCE_DIR}/web/dashboard.html
  uplot.js=${CMAKE_SOURCE_DIR}/web/node_modules/uplot/dist/uPlot.iife.min.js
  uplot.css=${CMAKE_SOURCE_DIR}/web/node_modules/uplot/dist/uPlot.min.css)
set(WSP_EMBED_C ${CMAKE_BINARY_DIR}/gen/web_assets.c)
set(_deps "")
foreach(pair ${WSP_WEB_FILES})
  string(REGEX REPLACE "^[^=]*=" "" path ${pair})
  if(EXISTS ${path})
    list(APPEND _deps ${path})
  endif()
endforeach()
string(REPLACE ";" "|" _files_arg "${WSP_WEB_FILES}")
add_custom_command(OUTPUT ${WSP_EMBED_C}
  COMMAND ${CMAKE_COMMAND} "-DOUT=${WSP_EMBED_C}" "-DFILES=${_files_arg}"
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
  DEPENDS ${_deps} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
  COMMENT "embedding web assets" VERBATIM)
