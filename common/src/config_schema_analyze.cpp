// Config keys of the `analyze` stage (section `analyze`). See config_schema_parts.h.
// Paper values by default (Bånkestad et al. 2026 §2.2, §4.2.5; docs/method.md §5.7, §6).
#include "config_schema_parts.h"

namespace lnpsaxs::config::schema_parts {

void add_analyze_keys(Schema& s) {
  KeySpec targets;
  targets.path = "analyze.targets";
  targets.kind = Kind::string_list;
  targets.default_yaml = "[]";
  targets.doc = "fitted targets to analyse (names of RUN/fits/<name>/); empty: every folder under RUN/fits";
  s.add(targets);

  // --- retention (docs/method.md §5.7) ---------------------------------------------------------------------
  s.add(real_key("analyze.retention.p_best", "0.10", 0.0, 1.0, "",
                 "fraction of restarts whose mean RMSE_log is the reference loss L*", true));
  s.add(real_key("analyze.retention.alpha", "1.2", 1.0, std::nullopt, "",
                 "keep restarts with RMSE_log <= alpha * L*"));
  s.add(real_key("analyze.retention.min_fraction", "0.05", 0.0, 1.0, "",
                 "keep at least ceil(min_fraction * N) lowest-loss restarts", true));
  s.add(real_key("analyze.retention.max_fraction", "0.30", 0.0, 1.0, "",
                 "keep at most ceil(max_fraction * N) lowest-loss restarts", true));

  // --- correlations and clustering (docs/method.md §6) ---------------------------------------------------
  s.add(int_key("analyze.top_pairs", "10", 1, 1000, "number of strongest weighted-Spearman pairs reported"));
  s.add(int_key("analyze.clustering.min_cluster_size", "100", 2, 1e9, "HDBSCAN min_cluster_size (paper 100)"));
  s.add(int_key("analyze.clustering.min_samples", "30", 1, 1e9,
                "HDBSCAN min_samples: core distance = distance to the min_samples-th neighbour, the point "
                "itself counted (paper 30)"));
  s.add(bool_key("analyze.clustering.allow_single_cluster", "true",
                 "let HDBSCAN return the whole ensemble as one cluster (a unimodal ensemble, e.g. the gold "
                 "sphere fit); false is scikit-learn's default, which then splits it or calls it noise"));

  // --- sensitivity (docs/method.md §6) -------------------------------------------------------------------
  s.add(choice_key("analyze.jacobian.mode", "forward", {"forward", "reverse"},
                   "autograd strategy: forward (one double-backward pass per parameter, cheap for 10 "
                   "parameters) or reverse (one backward pass per q point)"));
  s.add(int_key("analyze.jacobian.chunk", "256", 1, 1e9, "retained solutions per Jacobian batch (memory bound)"));

  // --- per-medoid views ------------------------------------------------------------------------
  s.add(int_key("analyze.lengthscale_points", "500", 16, 1e6,
                "q points of the length-scale spectral mass on [2π/250, 0.2] Å⁻¹ (docs/method.md §3.10)"));
  s.add(int_key("analyze.radius_points", "400", 16, 1e6, "points of each medoid's radius pdf on [A, B]"));
  s.add(int_key("analyze.slice_grid_n", "0", 0, 4096,
                "voxels per axis of the realised density field of each medoid (surrogate model); 0: "
                "simulate.grid_n (the voxel size is always simulate.dx)"));

  s.add_check([](const Config& c) {
    if (c.real("analyze.retention.min_fraction") > c.real("analyze.retention.max_fraction")) {
      fail(c, "analyze.retention.min_fraction", "must not exceed analyze.retention.max_fraction");
    }
    const auto n = c.integer("analyze.slice_grid_n");
    if (n != 0 && (n < 8 || n % 2 != 0)) fail(c, "analyze.slice_grid_n", "must be 0 or an even number >= 8");
  });
}

void add_posterior_keys(Schema& s) {
  // --- posterior sampling (lnpsaxs-sample-posterior; docs/posterior.md) ---------------------------
  s.add(bool_key("posterior.enabled", "false",
                 "run lnpsaxs-sample-posterior in the pipeline scripts (run-local.sh, full_pipeline.sh) after "
                 "analyze, for every fit target; the stage can always be run by hand"));
  s.add(int_key("posterior.chains", "4", 1, 1e6, "HMC chains per target (>= 2 for R-hat; 4 or more recommended)"));
  s.add(int_key("posterior.warmup", "500", 0, 1e9, "warm-up iterations per chain (step size and metric adaptation; discarded)"));
  s.add(int_key("posterior.draws", "1000", 4, 1e9, "kept iterations per chain"));
  s.add(int_key("posterior.leapfrog_steps", "16", 1, 1e6, "leapfrog steps per HMC trajectory"));
  s.add(real_key("posterior.target_accept", "0.8", 0.0, 1.0, "", "dual-averaging target of the mean acceptance statistic",
                 true));
  s.add(real_key("posterior.initial_step", "0.5", 0.0, std::nullopt, "",
                 "initial leapfrog step size (in the units of the initial metric)", true));
  s.add(bool_key("posterior.laplace_start", "true",
                 "move each chain's start to its nearest mode (Newton) and take the Laplace covariance there as the "
                 "first metric: a fit's posterior can be 10^4 times narrower in one direction than another"));
  s.add(choice_key("posterior.metric", "dense", {"dense", "diag"},
                   "inverse metric adapted in warm-up: dense (the covariance of the warm-up draws; for the few, "
                   "strongly correlated parameters of a fit) or diag (their variances)"));
  s.add(bool_key("posterior.batch_chains", "false",
                 "evaluate a rank's chains as one batched tensor problem (faster for the surrogate, on a GPU "
                 "above all); false: one chain at a time, so that every chain is bit-identical however the chains "
                 "are split over ranks and shards (BLAS rounds a row differently with the batch)"));
  s.add(choice_key("posterior.residual_correlation", "auto", {"auto", "ess", "none"},
                   "residuals correlated along q (model error of a surrogate, or misfit of a measured curve): ess "
                   "tempers the likelihood by N_eff/N, N_eff the effective number of independent residuals at the "
                   "fit's best restart, when their lag-1 autocorrelation exceeds 2/sqrt(N); none treats every point "
                   "as independent; auto: ess for the log and composite losses (sigma unknown: the residuals are the "
                   "noise model), none for chi2 (sigma is; the correlation is reported) (docs/posterior.md section 1)"));
  s.add(choice_key("posterior.start", "medoids", {"medoids", "best"},
                   "chain starts: medoids of analyze's groups (RUN/analysis/<name>.h5; the best retained restarts when "
                   "absent) or the best retained restarts of the fit"));
}

}  // namespace lnpsaxs::config::schema_parts
