// A numeric locale (LC_NUMERIC) in force for a scope: what a localised program embedding the
// native modules runs under. Built from Debian's `locales` sources with localedef into a
// folder of this process's own (scripts/setup installs them); whatever way the scope ends,
// LC_NUMERIC is "C" again, LOCPATH unset and the folder removed.
#pragma once

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
    const std::string build = "mkdir -p '" + folder_ + "' && localedef -i " + name + " -f UTF-8 '" +
                              folder_ + "/" + name + ".UTF-8' >/dev/null 2>&1";
    if (std::system(build.c_str()) != 0) {
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
