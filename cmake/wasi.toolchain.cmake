# clang targeting wasm32-wasi with Debian's WASI sysroot (wasi-libc, libc++-dev-wasm32,
# libclang-rt-dev-wasm32 install under /usr with a wasm32-wasi multiarch layout).
set(CMAKE_SYSTEM_NAME Generic)  # CMake 3.25 has no WASI platform module
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
set(CMAKE_SYSROOT /usr)
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
# Nothing of the build machine may leak into the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Static libraries of wasm objects need llvm-ar's symbol index (binutils' ar writes none, and
# wasm-ld refuses the archive); llvm-14 comes with clang and emscripten.
# Forced into the cache, so a build folder configured before (with binutils' ar) takes them.
find_program(QV_LLVM_AR NAMES llvm-ar-14 llvm-ar REQUIRED)
find_program(QV_LLVM_RANLIB NAMES llvm-ranlib-14 llvm-ranlib REQUIRED)
set(CMAKE_AR "${QV_LLVM_AR}" CACHE FILEPATH "llvm-ar, for archives of wasm objects" FORCE)
set(CMAKE_RANLIB "${QV_LLVM_RANLIB}" CACHE FILEPATH "llvm-ranlib" FORCE)
