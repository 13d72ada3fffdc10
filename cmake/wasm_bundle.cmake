# The WebAssembly bundle: every module in one qv.wasm per flavour, optimised by wasm-opt
# and written to dist/<flavour>/qv.wasm.
#
# One bundle rather than one .wasm per module: simdjson and the C++ runtime are most of
# the code, and each module would carry its own copy; one bundle keeps the whole edge
# function well inside Vercel's gzipped size limits and instantiates once per isolate.
#
# The size budget is counted per flavour: all .wasm files of one flavour together stay
# under 250 kB gzipped (wasm-tests/abi.test.mjs checks it). The two flavours are two
# builds of the same code for two toolchains, and an edge function ships exactly one of
# them, so the bytes a deployment carries are one flavour's. Modules are compiled for size
# (-Oz, the root CMakeLists.txt), hot loops opting back in to -O3 per source file.
if(EMSCRIPTEN)
  set(QV_FLAVOUR emscripten)
else()
  set(QV_FLAVOUR wasi)
endif()

add_executable(qv_wasm $<TARGET_OBJECTS:qv_bundle>)
target_link_libraries(qv_wasm PRIVATE qv_bundle qv_tiers qv_router qv_cache qv_cost qv_core qv_simdjson)
set_target_properties(qv_wasm PROPERTIES OUTPUT_NAME qv SUFFIX ".wasm")

if(EMSCRIPTEN)
  target_link_options(qv_wasm PRIVATE
    -sSTANDALONE_WASM               # a plain .wasm: no Emscripten JS glue at run time
    --no-entry                      # a reactor: no main, the host calls the exports
    -sALLOW_MEMORY_GROWTH=1         # caches grow with their content
    # qv_host.* are imports, declared in qv_abi.h, which Emscripten 3.1.6 takes for undefined
    # symbols; wasm-tests/abi.test.mjs checks that the bundle imports exactly those.
    -sERROR_ON_UNDEFINED_SYMBOLS=0 -sWARN_ON_UNDEFINED_SYMBOLS=0
    -fno-exceptions)
else()
  target_link_options(qv_wasm PRIVATE
    -mexec-model=reactor  # exports _initialize instead of _start: the host drives calls
    # wasm-ld's default stack is 64 KiB, placed above the data, with nothing between: a
    # deep recursion (the JSON text scanner on a refused input nested 512 levels deep) ran
    # into the static data and corrupted it. 1 MiB, below the data, so that an overflow
    # traps at address 0 instead (Emscripten's own stack is 5 MiB).
    -Wl,-z,stack-size=1048576 -Wl,--stack-first
    -fno-exceptions)
endif()

find_program(QV_WASM_OPT wasm-opt REQUIRED)
set(QV_DIST_WASM "${PROJECT_SOURCE_DIR}/dist/${QV_FLAVOUR}/qv.wasm")
# An output of its own (not a step after the link), so a deleted dist/ is written again.
add_custom_command(OUTPUT "${QV_DIST_WASM}"
  COMMAND ${CMAKE_COMMAND} -E make_directory "${PROJECT_SOURCE_DIR}/dist/${QV_FLAVOUR}"
  # -O3: speed where the compiler left room; strip debug names
  COMMAND ${QV_WASM_OPT} -O3 --strip-debug "$<TARGET_FILE:qv_wasm>" -o "${QV_DIST_WASM}"
  DEPENDS qv_wasm
  COMMENT "wasm-opt -> dist/${QV_FLAVOUR}/qv.wasm"
  VERBATIM)
add_custom_target(qv_dist_wasm ALL DEPENDS "${QV_DIST_WASM}")
