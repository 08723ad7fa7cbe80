#pragma once
// The torch-free part of the ensemble analysis of one fitted target (paper §2.2, §4.2.5;
// docs/method.md §5.7, §6): retention → loss weights → weighted Spearman and its strongest
// pairs → z-scores → HDBSCAN → PCA → groups (the clusters, or the whole retained set when
// clustering was skipped or found nothing) with medoids and marginal summaries → parameter-only
// views of each medoid (radius pdf, length-scale mass). write_ensemble() stores it all in the
// analysis file; the stage adds the Jacobian-based sensitivity and the realised density slices.
#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

#include "fits_file.h"
#include "hdbscan.h"
#include "profiles.h"
#include "retention.h"
#include "statistics.h"

namespace lnpsaxs::analysis {

struct AnalysisOptions {
  RetentionRule retention;
  std::int64_t top_pairs = 10;
  HdbscanParams clustering{100, 30, true};
  int lengthscale_points = 500;
  int radius_points = 400;
  double truncation_lower = 100;  ///< A of the radius distribution [Å]
  double truncation_upper = 500;  ///< B [Å]
};

/// A set of retained solutions summarised together: one HDBSCAN cluster, or "all retained".
struct Group {
  std::string name;                   ///< "cluster 0", … or "all retained"
  std::int64_t label = -1;            ///< HDBSCAN label (−1 for "all retained")
  std::vector<std::int64_t> members;  ///< indices into the retained set
  std::int64_t medoid = -1;           ///< index into the retained set
  std::vector<double> median, q25, q75;  ///< per parameter (physical units)
  std::vector<double> radius_pdf;        ///< on EnsembleAnalysis::radius (empty without m_r, s_r)
  LengthScaleMass lengthscale;           ///< empty without the spectral parameters
};

struct EnsembleAnalysis {
  Retention retention;
  std::vector<std::int64_t> kept;  ///< restart indices, best first
  Matrix params;                   ///< [K, P] physical
  Matrix scaled;                   ///< [K, P] min–max scaled with the fit box
  std::vector<double> rmse_log;    ///< [K]
  std::vector<double> loss;        ///< [K]
  std::vector<double> weights;     ///< [K] Spearman weights (sum 1)
  Matrix spearman;                 ///< [P, P]
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;  ///< strongest |ρ_w| first
  std::string clustering_status;   ///< "ok", "skipped" or "no clusters"
  std::string clustering_message;
  Standardised z;                  ///< z-scores of `scaled`
  Pca pca;                         ///< 2 components of the z-scores (empty when K < 2)
  HdbscanResult hdbscan;
  std::vector<std::int64_t> labels;  ///< [K] (all −1 unless clustering ran)
  std::vector<Group> groups;
  bool groups_are_clusters = false;
  std::vector<double> radius;      ///< grid of the radius pdfs [Å]
  double truncation_lower = 0;     ///< [A, B] used: the fit's own (fits.h5 `truncation`), else the options'
  double truncation_upper = 0;
  std::vector<std::string> warnings;
  double hdbscan_seconds = 0;
};

/// Runs every step on `fits`. Never throws for a degenerate ensemble (no valid restart, fewer
/// retained than min_cluster_size, constant parameters): it records warnings instead. Throws
/// InputError only for options out of range.
EnsembleAnalysis analyse_ensemble(const FitEnsemble& fits, const AnalysisOptions& opts);

/// Writes the analysis into the open (serial) file: root attributes describing the target and
/// groups /target, /retention, /retained, /best, /spearman, /clustering, /groups, /profiles.
void write_ensemble(hid_t file, const FitEnsemble& fits, const EnsembleAnalysis& a, const AnalysisOptions& opts);

}  // namespace lnpsaxs::analysis
