#pragma once
// The Python interpreter the C++ tests run their second implementations with (scipy, sasmodels,
// sasdata): the one rule of every script (README "Python").
#include <cstdlib>
#include <string>

namespace lnpsaxs::test {

/// $LNPSAXS_PYTHON when set and non-empty, else Debian's /usr/bin/python3 (where
/// tools/install-deps.sh installs the packages). Returned as a shell word for std::system.
inline std::string python() {
  const char* p = std::getenv("LNPSAXS_PYTHON");
  return (p != nullptr && *p != '\0') ? std::string(p) : std::string("/usr/bin/python3");
}

}  // namespace lnpsaxs::test
