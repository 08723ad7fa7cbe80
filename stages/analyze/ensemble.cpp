#include "ensemble.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"

namespace lnpsaxs::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <class T>
void put(hid_t loc, const std::string& path, const std::vector<hsize_t>& dims, const std::vector<T>& v) {
  static const T dummy{};
  io::write_dataset<T>(loc, path, dims, v.empty() ? &dummy : v.data());
}

void put_matrix(hid_t loc, const std::string& path, const Matrix& m) {
  put<double>(loc, path, {static_cast<hsize_t>(m.rows), static_cast<hsize_t>(m.cols)}, m.data);
}

std::vector<std::int64_t> flatten_pairs(const std::vector<std::pair<std::int64_t, std::int64_t>>& p) {
  std::vector<std::int64_t> out;
  for (const auto& [a, b] : p) {
    out.push_back(a);
    out.push_back(b);
  }
  return out;
}

void summarise(Group& g, const Matrix& params) {
  for (std::int64_t c = 0; c < params.cols; ++c) {
    std::vector<double> v;
    for (std::int64_t m : g.members) v.push_back(params(m, c));
    g.median.push_back(quantile(v, 0.5));
    g.q25.push_back(quantile(v, 0.25));
    g.q75.push_back(quantile(v, 0.75));
  }
}

}  // namespace

EnsembleAnalysis analyse_ensemble(const FitEnsemble& fits, const AnalysisOptions& opts) {
  EnsembleAnalysis a;
  // --- retention: restarts without a finite loss, RMSE or parameter vector are excluded --------
  std::vector<double> criterion(static_cast<std::size_t>(fits.n_restarts()), kNaN);
  for (std::int64_t r = 0; r < fits.n_restarts(); ++r) {
    if (fits.valid(r)) criterion[static_cast<std::size_t>(r)] = fits.criterion(r);
  }
  try {
    a.retention = retain(criterion, opts.retention);
  } catch (const std::invalid_argument& e) {
    throw InputError(std::string("analyze.retention: ") + e.what());
  }
  if (a.retention.n_invalid > 0) {
    a.warnings.push_back(std::to_string(a.retention.n_invalid) + " of " + std::to_string(a.retention.n_total) +
                         " restarts have a NaN/infinite loss, RMSE_log or parameter and were excluded");
  }
  a.kept = a.retention.kept;
  const std::int64_t k = static_cast<std::int64_t>(a.kept.size());
  const std::int64_t p = fits.n_params();
  a.params = fits.params.select_rows(a.kept);
  a.scaled = fits.scaled(a.params);
  for (std::int64_t i : a.kept) {
    a.rmse_log.push_back(fits.rmse_log[static_cast<std::size_t>(i)]);
    a.loss.push_back(fits.loss[static_cast<std::size_t>(i)]);
  }
  a.labels.assign(static_cast<std::size_t>(k), -1);
  a.truncation_lower = fits.truncation.size() == 2 ? fits.truncation[0] : opts.truncation_lower;
  a.truncation_upper = fits.truncation.size() == 2 ? fits.truncation[1] : opts.truncation_upper;
  if (k == 0) {
    a.warnings.push_back("no restart has a finite loss: nothing to analyse");
    a.clustering_status = "skipped";
    a.clustering_message = "no valid restart";
    a.spearman = Matrix(p, p, kNaN);
    a.z = standardise(a.scaled);
    return a;
  }

  // --- loss-weighted Spearman ------------------------------------------------------------------
  a.weights = loss_weights(a.rmse_log);
  a.spearman = weighted_spearman(a.scaled, a.weights);
  a.pairs = top_pairs(a.spearman, opts.top_pairs);

  // --- standardisation, clustering, PCA --------------------------------------------------------
  a.z = standardise(a.scaled);
  if (k >= 2) a.pca = pca(a.z.z, 2);
  if (k < opts.clustering.min_cluster_size) {
    a.clustering_status = "skipped";
    a.clustering_message = "only " + std::to_string(k) + " retained solutions, fewer than analyze.clustering.min_cluster_size = " +
                           std::to_string(opts.clustering.min_cluster_size) + ": no clustering";
    a.warnings.push_back(a.clustering_message);
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    a.hdbscan = hdbscan(a.z.z, opts.clustering);
    a.hdbscan_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    a.labels = a.hdbscan.labels;
    if (a.hdbscan.n_clusters == 0) {
      a.clustering_status = "no clusters";
      a.clustering_message = "HDBSCAN labelled every retained solution as noise";
      a.warnings.push_back(a.clustering_message);
    } else {
      a.clustering_status = "ok";
      std::int64_t noise = 0;
      for (std::int64_t l : a.labels) noise += l < 0;
      a.clustering_message = std::to_string(a.hdbscan.n_clusters) + " cluster(s), " + std::to_string(noise) + " noise";
    }
  }

  // --- groups, medoids, marginals --------------------------------------------------------------
  if (a.clustering_status == "ok") {
    a.groups_are_clusters = true;
    for (std::int64_t c = 0; c < a.hdbscan.n_clusters; ++c) {
      Group g;
      g.name = "cluster " + std::to_string(c);
      g.label = c;
      for (std::int64_t i = 0; i < k; ++i) {
        if (a.labels[static_cast<std::size_t>(i)] == c) g.members.push_back(i);
      }
      a.groups.push_back(std::move(g));
    }
  } else {
    Group g;
    g.name = "all retained";
    for (std::int64_t i = 0; i < k; ++i) g.members.push_back(i);
    a.groups.push_back(std::move(g));
  }
  const std::int64_t i_mr = fits.index_of("m_r"), i_sr = fits.index_of("s_r");
  const std::int64_t i_w = fits.index_of("w"), i_m1 = fits.index_of("m_q1"), i_m2 = fits.index_of("m_q2");
  const std::int64_t i_s1 = fits.index_of("s_q1"), i_s2 = fits.index_of("s_q2");
  const bool spectral = i_w >= 0 && i_m1 >= 0 && i_m2 >= 0 && i_s1 >= 0 && i_s2 >= 0;
  if (i_mr >= 0 && i_sr >= 0) {
    for (int i = 0; i < opts.radius_points; ++i) {
      a.radius.push_back(a.truncation_lower + (a.truncation_upper - a.truncation_lower) * i / (opts.radius_points - 1));
    }
  }
  for (Group& g : a.groups) {
    g.medoid = medoid(a.z.z, g.members, a.rmse_log);
    summarise(g, a.params);
    const double* m = a.params.row(g.medoid);
    if (!a.radius.empty()) {
      g.radius_pdf = truncated_lognormal_pdf(a.radius, m[i_mr], m[i_sr], a.truncation_lower, a.truncation_upper);
    }
    if (spectral) {
      try {
        g.lengthscale = lengthscale_mass(m[i_w], m[i_m1], m[i_s1], m[i_m2], m[i_s2], opts.lengthscale_points);
      } catch (const InputError& e) {
        a.warnings.push_back(g.name + ": no length-scale mass (" + e.what() + ")");
      }
    }
  }
  return a;
}

void write_ensemble(hid_t file, const FitEnsemble& fits, const EnsembleAnalysis& a, const AnalysisOptions& opts) {
  const hsize_t k = a.kept.size(), p = static_cast<hsize_t>(fits.n_params()), nq = static_cast<hsize_t>(fits.n_q());
  io::set_attr(file, "target", fits.target);
  io::set_attr(file, "model", fits.model);
  io::set_attr(file, "source", fits.source);
  io::set_attr(file, "fits_file", fits.path);
  io::set_attr(file, "q_min", fits.q_min);
  io::set_attr(file, "q_max", fits.q_max);
  io::set_attr(file, "background", std::int64_t{fits.background});
  io::set_attr(file, "parameter_names", fits.names);
  io::set_attr(file, "parameter_units", fits.units);
  io::set_attr(file, "parameter_lower", fits.lower);
  io::set_attr(file, "parameter_upper", fits.upper);
  io::set_attr(file, "truth_values", fits.truth);
  io::set_attr(file, "n_restarts", fits.n_restarts());
  std::string warnings;
  for (const auto& w : a.warnings) warnings += (warnings.empty() ? "" : "\n") + w;
  io::set_attr(file, "warnings", warnings);

  put<double>(file, "/q", {nq}, fits.q);
  put<double>(file, "/target/intensity", {nq}, fits.target_intensity);
  put<std::uint8_t>(file, "/target/mask", {nq}, fits.target_mask);
  put<double>(file, "/target/sigma", {nq}, fits.target_sigma);

  {
    io::H5Id g = io::ensure_group(file, "/retention");
    const Retention& r = a.retention;
    io::set_attr(g, "rule", std::string("L* = mean of the best ceil(p_best N) RMSE_log; keep L <= alpha L*, bounded to "
                                        "[max(ceil(min_fraction N), 1), max(ceil(max_fraction N), k_min)] lowest"));
    io::set_attr(g, "p_best", opts.retention.p_best);
    io::set_attr(g, "alpha", opts.retention.alpha);
    io::set_attr(g, "min_fraction", opts.retention.min_fraction);
    io::set_attr(g, "max_fraction", opts.retention.max_fraction);
    io::set_attr(g, "n_total", r.n_total);
    io::set_attr(g, "n_valid", r.n_valid);
    io::set_attr(g, "n_invalid", r.n_invalid);
    io::set_attr(g, "n_best", r.n_best);
    io::set_attr(g, "k_min", r.k_min);
    io::set_attr(g, "k_max", r.k_max);
    io::set_attr(g, "n_accepted", r.n_accepted);
    io::set_attr(g, "n_kept", static_cast<std::int64_t>(k));
    io::set_attr(g, "l_star", r.l_star);
    io::set_attr(g, "threshold", r.threshold);
    io::set_attr(g, "bound", r.bound);
    std::vector<std::uint8_t> valid(static_cast<std::size_t>(fits.n_restarts()));
    for (std::int64_t i = 0; i < fits.n_restarts(); ++i) valid[static_cast<std::size_t>(i)] = fits.valid(i) ? 1 : 0;
    put<std::uint8_t>(file, "/retention/valid", {valid.size()}, valid);
    put<double>(file, "/retention/rmse_log", {fits.rmse_log.size()}, fits.rmse_log);
    put<double>(file, "/retention/rmse_log_full", {fits.rmse_log_full.size()}, fits.rmse_log_full);
    if (!fits.size_prior_nll.empty()) {  // retention ranked the data and the size prior together
      io::set_attr(g, "criterion", std::string("rmse_log * exp(size_prior_nll / N), N fitted points (size prior)"));
      std::vector<double> c;
      for (std::int64_t i = 0; i < fits.n_restarts(); ++i) c.push_back(fits.criterion(i));
      put<double>(file, "/retention/criterion", {c.size()}, c);
      put<double>(file, "/retention/size_prior_nll", {fits.size_prior_nll.size()}, fits.size_prior_nll);
    }
    put<std::int64_t>(file, "/retention/kept", {k}, a.kept);
  }
  {
    io::H5Id g = io::ensure_group(file, "/retained");
    io::set_attr(g, "description", std::string("retained restarts, best (lowest RMSE_log) first; rows match /retention/kept"));
    put_matrix(file, "/retained/params", a.params);
    put_matrix(file, "/retained/params_scaled", a.scaled);
    if (fits.start.rows > 0) put_matrix(file, "/retained/start", fits.start.select_rows(a.kept));
    put<double>(file, "/retained/rmse_log", {k}, a.rmse_log);
    put<double>(file, "/retained/loss", {k}, a.loss);
    put<double>(file, "/retained/weight", {k}, a.weights);
    std::vector<float> curves;
    curves.reserve(k * nq);
    for (std::int64_t i : a.kept) {
      const auto* c = fits.curve.data() + static_cast<std::size_t>(i) * nq;
      curves.insert(curves.end(), c, c + nq);
    }
    put<float>(file, "/retained/curve", {k, nq}, curves);
  }
  {
    io::H5Id g = io::ensure_group(file, "/spearman");
    io::set_attr(g, "description", std::string("loss-weighted Spearman: average ranks per parameter, weighted Pearson of the "
                                               "rank vectors, weights exp(-(L - min L)/std L)"));
    put_matrix(file, "/spearman/matrix", a.spearman);
    put<std::int64_t>(file, "/spearman/top_pairs", {a.pairs.size(), 2}, flatten_pairs(a.pairs));
    std::vector<double> vals;
    for (const auto& [i, j] : a.pairs) vals.push_back(a.spearman(i, j));
    put<double>(file, "/spearman/top_values", {vals.size()}, vals);
  }
  {
    io::H5Id g = io::ensure_group(file, "/clustering");
    io::set_attr(g, "status", a.clustering_status);
    io::set_attr(g, "message", a.clustering_message);
    io::set_attr(g, "min_cluster_size", opts.clustering.min_cluster_size);
    io::set_attr(g, "min_samples", opts.clustering.min_samples);
    io::set_attr(g, "allow_single_cluster", std::int64_t{opts.clustering.allow_single_cluster});
    io::set_attr(g, "n_clusters", a.hdbscan.n_clusters);
    io::set_attr(g, "hdbscan_seconds", a.hdbscan_seconds);
    put<std::int64_t>(file, "/clustering/labels", {k}, a.labels);
    put<double>(file, "/clustering/zscore_mean", {p}, a.z.mean);
    put<double>(file, "/clustering/zscore_sd", {p}, a.z.sd);
    put<double>(file, "/clustering/stability", {a.hdbscan.stability.size()}, a.hdbscan.stability);
    if (a.pca.scores.rows > 0) {
      put_matrix(file, "/clustering/pca_scores", a.pca.scores);
      put_matrix(file, "/clustering/pca_components", a.pca.components);
      put<double>(file, "/clustering/pca_explained", {a.pca.explained.size()}, a.pca.explained);
    }
  }
  {
    const hsize_t ng = a.groups.size();
    io::H5Id g = io::ensure_group(file, "/groups");
    io::set_attr(g, "kind", std::string(a.groups_are_clusters ? "clusters" : "retained"));
    std::vector<std::string> names;
    std::vector<std::int64_t> labels, size, medoid, medoid_restart;
    Matrix med(static_cast<std::int64_t>(ng), static_cast<std::int64_t>(p)), q25 = med, q75 = med, mp = med;
    for (std::size_t i = 0; i < ng; ++i) {
      const Group& gr = a.groups[i];
      names.push_back(gr.name);
      labels.push_back(gr.label);
      size.push_back(static_cast<std::int64_t>(gr.members.size()));
      medoid.push_back(gr.medoid);
      medoid_restart.push_back(a.kept[static_cast<std::size_t>(gr.medoid)]);
      for (hsize_t c = 0; c < p; ++c) {
        med(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c)) = gr.median[c];
        q25(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c)) = gr.q25[c];
        q75(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c)) = gr.q75[c];
        mp(static_cast<std::int64_t>(i), static_cast<std::int64_t>(c)) = a.params(gr.medoid, static_cast<std::int64_t>(c));
      }
    }
    io::set_attr(g, "names", names);
    put<std::int64_t>(file, "/groups/label", {ng}, labels);
    put<std::int64_t>(file, "/groups/size", {ng}, size);
    put<std::int64_t>(file, "/groups/medoid", {ng}, medoid);
    put<std::int64_t>(file, "/groups/medoid_restart", {ng}, medoid_restart);
    put_matrix(file, "/groups/medoid_params", mp);
    put_matrix(file, "/groups/median", med);
    put_matrix(file, "/groups/q25", q25);
    put_matrix(file, "/groups/q75", q75);
    std::vector<float> mcurves;
    for (const Group& gr : a.groups) {
      const auto* c = fits.curve.data() + static_cast<std::size_t>(a.kept[static_cast<std::size_t>(gr.medoid)]) * nq;
      mcurves.insert(mcurves.end(), c, c + nq);
    }
    put<float>(file, "/groups/medoid_curve", {ng, nq}, mcurves);
  }
  {
    io::H5Id g = io::ensure_group(file, "/profiles");
    io::set_attr(g, "truncation_lower", a.truncation_lower);
    io::set_attr(g, "truncation_upper", a.truncation_upper);
    if (!a.radius.empty()) {
      std::vector<double> pdf;
      for (const Group& gr : a.groups) pdf.insert(pdf.end(), gr.radius_pdf.begin(), gr.radius_pdf.end());
      put<double>(file, "/profiles/radius", {a.radius.size()}, a.radius);
      put<double>(file, "/profiles/radius_pdf", {a.groups.size(), a.radius.size()}, pdf);
    }
    if (!a.groups.empty() && !a.groups.front().lengthscale.length.empty()) {
      std::vector<double> mass, peak;
      bool complete = true;
      for (const Group& gr : a.groups) {
        complete = complete && gr.lengthscale.mass.size() == a.groups.front().lengthscale.mass.size();
        mass.insert(mass.end(), gr.lengthscale.mass.begin(), gr.lengthscale.mass.end());
        peak.push_back(gr.lengthscale.peak_length);
      }
      if (complete) {
        const auto& len = a.groups.front().lengthscale.length;
        put<double>(file, "/profiles/length", {len.size()}, len);
        put<double>(file, "/profiles/length_mass", {a.groups.size(), len.size()}, mass);
        put<double>(file, "/profiles/length_peak", {a.groups.size()}, peak);
      }
    }
  }
  {
    io::H5Id g = io::ensure_group(file, "/best");
    if (k > 0) {
      const std::int64_t b = a.kept.front();
      io::set_attr(g, "restart", b);
      io::set_attr(g, "rmse_log", fits.rmse_log[static_cast<std::size_t>(b)]);
      std::vector<double> bp(a.params.row(0), a.params.row(0) + p);
      put<double>(file, "/best/params", {p}, bp);
      std::vector<float> bc(fits.curve.begin() + static_cast<std::ptrdiff_t>(b * nq), fits.curve.begin() + static_cast<std::ptrdiff_t>((b + 1) * nq));
      put<float>(file, "/best/curve", {nq}, bc);
    }
  }
}

}  // namespace lnpsaxs::analysis
