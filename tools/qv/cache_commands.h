// qv cache ...: the cache module's native commands. One call registers them all.
#pragma once

namespace CLI {
class App;
}

namespace qv::cli {

// Adds `cache replay`. A command's exit code goes to exit_code: 0 done, 2 bad arguments,
// 1 the trace cannot be read or a policy broke an invariant (the message on stderr names
// which).
void add_cache_commands(CLI::App& app, int& exit_code);

}  // namespace qv::cli
