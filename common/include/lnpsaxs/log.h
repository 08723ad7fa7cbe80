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

/// Progress with an ETA of a long loop: the one reporter of every stage (items of the sharded
/// loop, fit restarts, training epochs). Work is counted in the caller's unit (items,
/// restart-steps, epochs): `total` units, `already_done` of them before this run (a resumed
/// stage); rate and ETA count this run's work only. Either set_done() / finish() log the standard
/// lines, or a stage with its own line calls update() and, when due() says so, logs it with rate(),
/// elapsed() and eta(). Only rank 0 should construct one with `enabled = true`; every call is
/// cheap when disabled.
class Progress {
 public:
  Progress(std::string what, std::int64_t total, std::int64_t already_done = 0, double interval_s = 10.0,
           bool enabled = true);
  /// Sets the finished count (units, including `already_done`) and, at most every `interval_s`
  /// seconds, logs "WHAT: D/T (P%), R items/s, elapsed E, ETA X".
  void set_done(std::int64_t done);
  /// Logs the final line "WHAT: D/T done in E (R items/s)" (once).
  void finish();
  /// Sets the finished count without logging (for a stage that writes its own line).
  void update(std::int64_t done) { done_ = done; }
  /// True when a line is due: `force`, or `interval_s` seconds since the last line. Restarts that
  /// interval (last_interval() is then its length). Always false when disabled.
  bool due(bool force = false);
  double rate() const;           ///< units per second in this run
  double eta() const;            ///< seconds left at rate(); negative when unknown
  double elapsed() const;        ///< seconds since construction
  double last_interval() const { return last_interval_; }  ///< seconds between the last two lines
  bool enabled() const { return enabled_; }

 private:
  void report(bool final);
  std::string what_;
  std::int64_t total_, start_done_, done_;
  double interval_s_, last_interval_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point t0_, last_;
};

}  // namespace lnpsaxs::log
