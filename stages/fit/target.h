#pragma once
// A fit target: what is fitted (a measured file or a synthetic target of `synth`), with which
// model and in which q window, prepared on the model's q grid (issue 5 "Data in"; spec §5.2,
// §5.8). Plain C++ (no LibTorch).
#include <cstdint>
#include <string>
#include <vector>

#include "parameters.h"

namespace lnpsaxs {
namespace config {
class Config;
class Record;
}  // namespace config

namespace fit {

/// One record of fit.targets, or a target given on the command line.
struct TargetSpec {
  std::string name;
  std::string file;  ///< measured curve (empty for a synthetic target)
  int synth = 0;     ///< K of RUN/targets/case-K.h5 (0 for a file)
  std::string format = "auto";
  std::string q_unit = "auto";
  Model model = Model::sphere;
  double q_min = 0.0;
  double q_max = 1.0;
  bool background = false;
  bool sigma_weighting = false;
  std::int64_t restarts = 0;  ///< 0: by kind (fit.restarts_experimental / _synthetic / _baseline)
  std::int64_t steps = 0;     ///< 0: fit.steps
  std::vector<double> m_r, s_r, truncation, shell_thickness, contrast;  ///< [lo, hi] overrides or empty
  std::string where;  ///< "FILE:LINE: fit.targets[i]" (or "command line") for messages

  /// Canonical one-line text of every field (part of the target's identity hash).
  std::string canonical() const;
  /// "synth:K" or the file path.
  std::string source() const;
};

/// The targets of fit.targets.
std::vector<TargetSpec> targets_from_config(const config::Config& cfg);

/// Number of restarts of `t` (its own, or the config's default for its kind).
std::int64_t restarts_for(const TargetSpec& t, const config::Config& cfg);

/// A target on the model grid, ready to fit. Index ranges are half-open [begin, end) on `q`.
struct PreparedTarget {
  TargetSpec spec;
  std::vector<double> q;  ///< model grid [n_q] (Å⁻¹)
  std::vector<double>
      intensity;              ///< data / data_invariant on the grid (NaN where the data do not reach) [Å³]
  std::vector<double> sigma;  ///< σ / data_invariant (NaN where unknown)
  std::vector<std::uint8_t> fit_mask;               ///< fitted points: 1 on [fit_begin, fit_end)
  std::vector<std::uint8_t> norm_mask;              ///< invariant window: 1 on [norm_begin, norm_end)
  std::int64_t support_begin = 0, support_end = 0;  ///< grid points inside the data's q range
  std::int64_t fit_begin = 0, fit_end = 0;
  std::int64_t norm_begin = 0, norm_end = 0;
  double data_invariant = 1;  ///< Q_data = trapezoid of q²·I over the invariant window [data unit·Å⁻³]
  double min_fit_intensity = 0;  ///< smallest interpolated data intensity in the fit window [data unit]
  std::vector<std::string> truth_names;  ///< synthetic targets: ground truth as stored by synth
  std::vector<double> truth_values;
  std::string identity;  ///< content hash of the input (file bytes, or synth file provenance)
  std::int64_t rows_read = 0, rows_masked = 0;
  std::string q_unit, q_unit_source;  ///< measured curves: unit of q in the file and its source (Curve)

  /// Ground truth in `layout`'s order (NaN where unknown; only m_r, s_r, shell_thickness and the
  /// surrogate's structural parameters can be known).
  std::vector<double> truth_for(const Layout& layout) const;
};

/// Reads the target's data and puts it on `grid` (monotone cubic interpolation of linear I on
/// the grid points inside the data's q range), sets the fit window (grid ∩ [q_min, q_max] ∩ data)
/// and the invariant window (the fit window for sphere/core_shell, the whole data range for the
/// surrogate; design.md "invariant window") and normalises the data by its invariant over that
/// window. `run_dir` locates synthetic targets. Throws InputError for unreadable or malformed data
/// and for a window holding fewer than 3 grid points.
PreparedTarget prepare_target(const TargetSpec& spec, const std::vector<double>& grid,
                              const std::string& run_dir);

/// Trapezoid weights c_i of ∫ f dq over grid points [begin, end): Σ c_i f(q_i). end − begin ≥ 2.
std::vector<double> trapezoid_weights(const std::vector<double>& q, std::int64_t begin, std::int64_t end);

}  // namespace fit
}  // namespace lnpsaxs
