#include "lnpsaxs/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cmath>
#include <cstdio>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::log {

void init(const std::string& stage, int rank, const std::string& level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw InputError("--log-level: unknown level '" + level + "' (trace, debug, info, warn, error, off)");
  }
  if (rank != 0 && lvl > spdlog::level::debug && lvl < spdlog::level::warn) lvl = spdlog::level::warn;
  auto logger = spdlog::stderr_color_mt("lnpsaxs-" + stage + "-" + std::to_string(rank));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ [" + stage + " r" + std::to_string(rank) + "] %^%l%$: %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  }
  return buf;
}

Progress::Progress(std::string what, std::int64_t total, std::int64_t already_done, double interval_s,
                   bool enabled)
    : what_(std::move(what)), total_(total), start_done_(already_done), done_(already_done),
      interval_s_(interval_s), enabled_(enabled), t0_(std::chrono::steady_clock::now()), last_(t0_) {}

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double Progress::rate() const {
  const double dt = elapsed();
  return dt > 0 ? static_cast<double>(done_ - start_done_) / dt : 0.0;
}

double Progress::eta() const {
  const double r = rate();
  return r > 0 ? static_cast<double>(total_ - done_) / r : -1;
}

bool Progress::due(bool force) {
  if (!enabled_) return false;
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - last_).count();
  if (!force && dt < interval_s_) return false;
  last_interval_ = dt;
  last_ = now;
  return true;
}

void Progress::set_done(std::int64_t done) {
  update(done);
  if (due()) report(false);
}

void Progress::finish() {
  if (enabled_) report(true);
  enabled_ = false;
}

void Progress::report(bool final) {
  const double pct = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  if (final) {
    spdlog::info("{}: {}/{} done in {} ({:.3g} items/s)", what_, done_, total_, format_duration(elapsed()),
                 rate());
  } else {
    spdlog::info("{}: {}/{} ({:.1f}%), {:.3g} items/s, elapsed {}, ETA {}", what_, done_, total_, pct, rate(),
                 format_duration(elapsed()), format_duration(eta()));
  }
}

}  // namespace lnpsaxs::log
