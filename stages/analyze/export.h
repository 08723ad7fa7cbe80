#pragma once
// Per-target exports that other SAS tools read (written by analyze next to analysis/<target>.h5):
//   analysis/<target>/fit.csv  — q, I, σ, dQ, best fit, retained band, in the data's own units
//                                (SasView's ASCII loader reads the first four as q, I, dI, dQ and
//                                refuses 8 or more columns, so the band is lower and upper only);
//   analysis/<target>/fit.h5   — NXcanSAS: one SASentry, the measured SASdata and the fitted curve
//                                as a second SASdata (SasView's loader, sasdata, opens both).
#include <string>
#include <vector>

#include "ensemble.h"
#include "fits_file.h"

namespace lnpsaxs::analysis {

/// The curves of one target in the data's own units and scale, at its fitted points.
struct FitCurves {
  std::vector<double> q;          ///< [n] Å⁻¹, the fitted points
  std::vector<double> intensity;  ///< [n] data I (unit of the data file)
  std::vector<double> sigma;      ///< [n] data σ (NaN where unknown)
  std::vector<double> dq;         ///< [n] pinhole resolution σ_q [Å⁻¹] (0 where the data have none)
  std::vector<double> best;       ///< [n] best fit (lowest RMSE_log), background included
  std::vector<double> lower, median, upper;  ///< [n] 2.5 / 50 / 97.5 % of the retained fits
  bool has_sigma = false;         ///< some σ is finite
};

/// Undoes the Porod normalisation: data = stored · data_invariant, model = 10^curve · data_invariant
/// (the model curve of fits.h5 includes the fitted background, docs/method.md §5.3). The band is
/// the per-q percentile (linear interpolation) over the retained restarts `a.kept`. Throws
/// InputError when `data_invariant` is not positive and finite.
/// `q_width` is fits.h5's /target/q_width (σ_q per point of /q), or empty.
FitCurves fit_curves(const FitEnsemble& fits, const EnsembleAnalysis& a, double data_invariant,
                     const std::vector<double>& q_width = {});

/// Metadata written into the exports' headers.
struct ExportInfo {
  std::string target, source, model, loss;
  double q_min = 0, q_max = 0;
  std::int64_t quadrature_nodes = 0;
  std::vector<std::string> names, units;
  std::vector<double> best;  ///< best parameters (physical units), empty if none retained
};

/// Writes `dir`/fit.csv and `dir`/fit.h5 (each as NAME.partial, then renamed). Throws
/// RuntimeFailure naming the file when it cannot be written.
void write_exports(const std::string& dir, const FitCurves& c, const ExportInfo& info);

}  // namespace lnpsaxs::analysis
