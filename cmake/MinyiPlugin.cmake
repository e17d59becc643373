# minyi_add_plugin(<target> SOURCES <files…> [LIBRARIES <libs…>])
#
# Builds a minyi plugin as a MODULE library named <target>.so, exporting only the entry
# symbol. Used for in-tree plugins; the installed SDK package ships the same helper.
function(minyi_add_plugin target)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE Minyi::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(MINYI_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${MINYI_PLUGIN_OUTPUT_DIR})
  endif()
  # Plugins must not rely on symbols from the daemon: fail the link instead of the load.
  if(NOT MINYI_SANITIZE)
    target_link_options(${target} PRIVATE -Wl,-z,defs)
  endif()
endfunction()
