#pragma once
// A temporary directory for the fit tests, removed with everything in it when it goes out of scope.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace lnpsaxs::test {

/// mkdtemp("/tmp/lnpsaxs-<tag>-XXXXXX"); the directory and its contents are removed on destruction.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "fit") {
    std::string tmpl = "/tmp/lnpsaxs-" + tag + "-XXXXXX";
    path = mkdtemp(tmpl.data());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { std::filesystem::remove_all(path); }
  /// Writes `text` byte for byte to path/name and returns that path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = (path / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

}  // namespace lnpsaxs::test
