#pragma once
// RUN/results.csv and RUN/results.h5: one row per target, across every analysis of the run.
#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs::config {
class Config;
}

namespace lnpsaxs::analysis {

/// One row: a target's analysis (read from analysis/<name>.h5), or a skipped batch member.
struct ResultRow {
  std::string target, source, model, loss, status = "ok", warnings;
  double q_min = 0, q_max = 0, rmse_log = 0, chi2_per_n = 0;
  std::int64_t fitted_points = 0, quadrature_nodes = 0, restarts = 0, retained = 0, clusters = 0;
  std::vector<std::string> names, units;
  std::vector<double> best, mean, sd;  ///< per parameter, physical units
  std::string size_prior;  ///< the fit's size prior in words ("" without one)
  /// From RUN/posterior/<target>/posterior.h5 when complete (docs/posterior.md): "converged" or
  /// "not converged" ("" without a posterior), and per parameter the posterior mean and the 90 %
  /// central credible interval [q05, q95] (empty without a posterior).
  std::string posterior;
  std::vector<double> post_mean, post_q05, post_q95;
};

/// Reads the row of analysis file `path` (attributes and /best, /retained/params, /target/mask), and
/// the posterior summary of the same target when `posterior_h5` names a complete posterior file.
/// Throws InputError naming the file and item that is missing.
ResultRow read_result_row(const std::string& path, const std::string& posterior_h5 = "");

/// A row for a batch member that was not fitted (fit.batch_skip_bad); `why` is the reason.
ResultRow skipped_row(const std::string& target, const std::string& source, const std::string& why);

/// The CSV text: a header row of named columns with units ("mean_m_r [Å]"), one row per target;
/// parameter columns are the union over the rows in first-seen order (empty where a model lacks one).
std::string results_csv(const std::vector<ResultRow>& rows);

/// Writes `run_dir`/results.csv and results.h5 (one dataset per column, units as attributes) if
/// their content changed; returns true if it wrote them. Each file is written as NAME.partial and
/// renamed. Throws RuntimeFailure naming the file when it cannot be written.
bool write_results(const std::string& run_dir, const std::vector<ResultRow>& rows);

/// Rewrites RUN/results.csv and results.h5 from every complete analysis file (and posterior, when
/// there is one) of the run (call on rank 0): configured targets in config order (fit.targets, then
/// fit.batch members in file order, skipped members as "skipped" rows), then any other analysis
/// (command-line targets) by name. Used by analyze and by sample-posterior.
void update_results(const config::Config& cfg, const std::string& run_dir);

}  // namespace lnpsaxs::analysis
