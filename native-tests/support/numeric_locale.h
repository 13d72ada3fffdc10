// A numeric locale (LC_NUMERIC) in force for a scope: what a localised program embedding the
// native modules runs under. Built from Debian's `locales` sources with localedef into a
// folder of this process's own (scripts/setup installs them), its LC_NUMERIC alone (a
// source that copies the named locale's): the whole locale's LC_CTYPE and LC_COLLATE took
// localedef seconds more each time, and setlocale(LC_NUMERIC) reads no other category.
// Whatever way the scope ends, LC_NUMERIC is "C" again, LOCPATH unset and the folder removed.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <string>

namespace qv::test {

class NumericLocale {
 public:
  // name: a locale of /usr/share/i18n/locales ("de_DE"), in UTF-8.
  explicit NumericLocale(const std::string& name)
      : folder_(std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                "/qv-locale-" + name + "-" + std::to_string(::getpid())) {
    // localedef -c writes the locale though the other categories are missing, and exits 1
    // for those warnings; 4 when it wrote nothing.
    const std::string build = "mkdir -p '" + folder_ + "' && printf 'LC_NUMERIC\\ncopy \"" + name +
                              "\"\\nEND LC_NUMERIC\\n' >'" + folder_ +
                              "/numeric' && localedef -c -i '" + folder_ + "/numeric' -f UTF-8 '" +
                              folder_ + "/" + name + ".UTF-8' >/dev/null 2>&1";
    const int status = std::system(build.c_str());
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) > 1) {
      error_ = "localedef -i " + name + " failed (Debian package locales: bash scripts/setup)";
      return;
    }
    ::setenv("LOCPATH", folder_.c_str(), 1);
    if (!std::setlocale(LC_NUMERIC, (name + ".UTF-8").c_str()))
      error_ = "setlocale(LC_NUMERIC, " + name + ".UTF-8) failed";
  }
  ~NumericLocale() {
    std::setlocale(LC_NUMERIC, "C");
    ::unsetenv("LOCPATH");
    std::system(("rm -rf '" + folder_ + "'").c_str());
  }
  NumericLocale(const NumericLocale&) = delete;
  NumericLocale& operator=(const NumericLocale&) = delete;

  // "" when the locale is in force, else why not.
  const std::string& error() const { return error_; }

 private:
  std::string folder_;
  std::string error_;
};

}  // namespace qv::test
