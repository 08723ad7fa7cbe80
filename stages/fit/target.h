#pragma once
// A fit target: what is fitted (a measured file or a synthetic target of `synth`), with which
// model, loss and in which q window (issue 5 "Data in", issue 13; docs/method.md §5.2, §5.8). The analytical
// models are fitted at the data's own q; the surrogate, whose output lives on a fixed grid, gets
// the data binned onto that grid (σ propagated). Plain C++ (no LibTorch).
#include <cstdint>
#include <string>
#include <vector>

#include "models/forward/parameters.h"
#include "models/forward/quadrature.h"  // trapezoid_weights (the invariant window)
#include "size_prior.h"

namespace lnpsaxs {
namespace config {
class Config;
class Record;
}  // namespace config

namespace fit {

/// Where a target is defined: in the config (a fit.targets record or a fit.batch member: its fit
/// fingerprint covers its own record) or on the command line (`lnpsaxs-fit --data/--synth`: no
/// record, its definition is stored with its fit).
enum class TargetOrigin { config, command_line };

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
  /// Loss as given: "default" (take fit.loss), "auto", "log", "composite" or "chi2" (loss_kind()).
  std::string loss = "default";
  bool resolution = true;  ///< `resolution: auto` (smear when the data carry dQ) or false for none
  std::int64_t restarts = 0;  ///< 0: by kind (fit.restarts_experimental / _synthetic / _baseline)
  std::int64_t steps = 0;     ///< 0: fit.steps
  std::vector<double> m_r, s_r, truncation, shell_thickness, contrast;  ///< [lo, hi] overrides or empty
  SizePrior size_prior;  ///< orthogonal size data (size_prior:), none by default
  std::string where;  ///< "FILE:LINE: fit.targets[i]" (or "command line") for messages
  TargetOrigin origin = TargetOrigin::config;

  /// Canonical one-line text of every field (part of the target's identity hash).
  std::string canonical() const;
  /// "synth:K" or the file path.
  std::string source() const;
};

/// The loss a target is fitted with (docs/method.md §5.3): `log` = mean of w·(log10 M − log10 D)²;
/// `composite` = the paper's λ_log·MSE(ln) + λ_lin·MSE(I/scale); `chi2` = Σ((s·I + b − D)/σ)²/(N − P)
/// with s (and b) solved in closed form at every step.
enum class LossKind { log, composite, chi2 };
std::string loss_name(LossKind k);
/// "auto" → composite for the surrogate, log for sphere/core_shell; "default" → `config_default`
/// (fit.loss) first. Throws InputError for anything else, naming `where`.
LossKind resolve_loss(const std::string& loss, Model model, const std::string& config_default,
                      const std::string& where);

/// The targets of fit.targets.
/// Fills the fields a fit.targets and a fit.batch record share (format, q_unit, model, window,
/// background, weighting, loss, resolution, restarts, steps, boxes) from `r`; name, file, synth and
/// where are the caller's. Throws InputError for an unknown model (docs/config-reference.md, fit.targets).
void read_target_fields(const config::Record& r, TargetSpec& t);

std::vector<TargetSpec> targets_from_config(const config::Config& cfg);

/// Number of restarts of `t` (its own, or the config's default for its kind).
std::int64_t restarts_for(const TargetSpec& t, const config::Config& cfg);

/// A target ready to fit. Index ranges are half-open [begin, end) on `q`.
struct PreparedTarget {
  TargetSpec spec;
  /// Model q [n_q] (Å⁻¹): the data's own q (every kept point) for sphere/core_shell, the
  /// surrogate's grid for the surrogate.
  std::vector<double> q;
  std::vector<double>
      intensity;              ///< data / data_invariant on q (NaN where the data do not reach) [Å³]
  std::vector<double> sigma;  ///< σ / data_invariant (NaN where unknown or unusable)
  /// Pinhole resolution σ_q [n_q] (Å⁻¹) when the fit smears the model (resolution: auto and the
  /// data carry dQ); empty otherwise.
  std::vector<double> q_width;
  /// Surrogate: measured points averaged into each grid point (0: interpolated); else all 1.
  std::vector<std::int64_t> bin_count;
  std::int64_t window_points = 0;    ///< measured points inside [q_min, q_max] (all of them fitted)
  std::int64_t sigma_unusable = 0;   ///< of those, points whose σ is ≤ 0 or not finite
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

/// Reads the target's data. Sphere/core_shell: q = the data's q (`grid` is not used), fit window
/// = the points in [q_min, q_max]. Surrogate: q = `grid`; each measured point goes to its nearest
/// grid point and each grid point's value is the inverse-variance mean of its points (plain mean
/// without σ; σ propagated), with monotone cubic interpolation only where a grid point inside the
/// data's range received no point; the fit window holds every grid point that received a point of
/// [q_min, q_max], and those bins average window points only, so no point of the window is
/// dropped. The invariant window is the fit window for sphere/core_shell and the whole data range
/// for the surrogate (docs/method.md §5.2); the data are normalised by their invariant
/// over it. `run_dir` locates synthetic targets. Throws InputError for unreadable or malformed data,
/// a window holding fewer than 3 points, σ weighting without σ, and σ weighting or loss chi2 when a
/// window point has an unusable σ (the message names the first such row).
PreparedTarget prepare_target(const TargetSpec& spec, const std::vector<double>& grid,
                              const std::string& run_dir);

}  // namespace fit
}  // namespace lnpsaxs
