// The translation unit the shared Catch2 precompiled header is built with (see CMakeLists.txt).
