#include "text_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qv::loadtest {

// POSIX rather than an ifstream: a directory opens as a stream and its first read throws
// from the stream buffer (EISDIR), which stream iterators do not catch, so the process
// aborted instead of answering the error.
Result<std::string> read_text_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{path + ": cannot be opened (" + std::strerror(errno) + ")"};
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return Error{path + ": cannot be read (" + std::strerror(error) + ")"};
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

}  // namespace qv::loadtest
