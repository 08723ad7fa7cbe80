#pragma once
// Logging and progress (docs/architecture.md §8). spdlog underneath; every line carries a UTC
// timestamp, the stage and the MPI rank:
//   2026-11-21T10:00:00.123Z [simulate r0] info: 512/32768 items, 8.1 items/s, ETA 1h06m
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace lnpsaxs::log {

/// Installs the process-wide logger for `stage` on `rank`. `level` is trace|debug|info|warn|
/// error|off; ranks other than 0 log at `warn` or above unless the level is debug/trace.
/// Throws InputError on an unknown level.
void init(const std::string& stage, int rank, const std::string& level = "info");

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;

/// "1h06m", "3m12s", "45s" (for ETAs and elapsed times).
std::string format_duration(double seconds);

/// Progress of a long loop over `total` items, `already_done` of which were done before this run
/// (a resumed stage). Call advance() as items finish; at most every `interval_s` seconds (and at
/// the end) it logs items done/total, the rate of THIS run and the ETA. Only rank 0 should
/// construct one with `enabled = true`; `advance` is cheap when disabled.
class Progress {
 public:
  Progress(std::string what, std::int64_t total, std::int64_t already_done = 0, double interval_s = 5.0,
           bool enabled = true);
  /// Adds `n` finished items (the caller's count, e.g. all ranks' items when known).
  void advance(std::int64_t n);
  /// Sets the finished count directly.
  void set_done(std::int64_t done);
  /// Logs the final line (count, elapsed time, mean rate).
  void finish();
  double rate() const;  ///< items per second in this run

 private:
  void report(bool final);
  std::string what_;
  std::int64_t total_, start_done_, done_;
  double interval_s_;
  bool enabled_;
  std::chrono::steady_clock::time_point t0_, last_;
};

}  // namespace lnpsaxs::log
