#pragma once
// Typed errors of lnpsaxs. Every stage's main catches them once (see cli.h: run_stage_main) and
// turns them into one line on stderr and an exit code: InputError → 2, anything else → 1.
// Source: docs/architecture.md §3 (exit codes).
#include <stdexcept>
#include <string>

namespace lnpsaxs {

/// Bad input from the user: a config key, a command-line value, a data file. Exit code 2.
/// The message names the file, key or value at fault.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A config file problem: unknown key, wrong type, out-of-range value, missing key, YAML syntax.
/// The message starts with "FILE:LINE: key.path:". Exit code 2.
class ConfigError : public InputError {
 public:
  using InputError::InputError;
};

/// An I/O or library failure that is not the user's fault (HDF5 call failed, disk full). Exit 1.
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A code path that was not compiled in (e.g. the CUDA backend in a CPU-only build). Exit code 2,
/// because asking for it is a configuration choice the user can change.
class NotCompiled : public InputError {
 public:
  explicit NotCompiled(const std::string& what)
      : InputError(what + " was not compiled into this build of lnpsaxs") {}
};

}  // namespace lnpsaxs
