// What the cache's Catch2 tests share: the host clock they set, and the traces' directory.
#pragma once

#include <string>

namespace qv::cache::test {

// The clock the test host's qv_host_now_ms() returns (ms since the epoch).
void set_now(double ms);
double now();

// The shared traces: $QV_TRACES_DIR, else <repository>/../shared/traces.
std::string traces_dir();

}  // namespace qv::cache::test
