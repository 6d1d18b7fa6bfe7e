# Build policy shared by every wmeta target. Warnings and sanitizers are attached through
# INTERFACE targets linked PRIVATE, so they never leak to consumers.

add_library(wmeta_warnings INTERFACE)
target_compile_options(wmeta_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow)
if(WMETA_WERROR)
  target_compile_options(wmeta_warnings INTERFACE -Werror)
endif()

add_library(wmeta_sanitizers INTERFACE)
if(WMETA_SANITIZE)
  target_compile_options(wmeta_sanitizers INTERFACE
    -fsanitize=${WMETA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(wmeta_sanitizers INTERFACE -fsanitize=${WMETA_SANITIZE})
  # g++ 12 with sanitizers reports strcmp in FlatBuffers' generated key lookups as reading
  # past a zero-sized region: a known false positive of its instrumented inlining.
  target_compile_options(wmeta_warnings INTERFACE -Wno-stringop-overread)
endif()

# wmeta_add_library(<name> SOURCES ... DEPS ... [PRIVATE_DEPS ...])
# Creates the component library wmeta_<name>, aliased wmeta::<name>, whose public headers
# live under <name>/include/wmeta/<name>/.
function(wmeta_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(wmeta_${name} ${ARG_SOURCES})
  add_library(wmeta::${name} ALIAS wmeta_${name})
  target_include_directories(wmeta_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(wmeta_${name}
    PUBLIC ${ARG_DEPS} wmeta_sanitizers
    PRIVATE ${ARG_PRIVATE_DEPS} wmeta_warnings)
endfunction()

# wmeta_add_executable(<name> SOURCES ... DEPS ...)
function(wmeta_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} wmeta_warnings wmeta_sanitizers)
endfunction()
