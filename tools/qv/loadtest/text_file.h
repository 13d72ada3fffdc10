// Reading a whole file given on the command line (a scenario, a histogram log, a usage
// file), with the system's reason when it cannot be: a missing file, one without read
// permission, and a directory (which opens, and then fails to read) are each named as such.
#pragma once

#include <string>

#include "result.h"

namespace qv::loadtest {

// The file's bytes; or "PATH: cannot be opened (REASON)" / "PATH: cannot be read (REASON)".
Result<std::string> read_text_file(const std::string& path);

}  // namespace qv::loadtest
