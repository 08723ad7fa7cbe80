// Config keys of the `fit` stage (section `fit`). See config_schema_parts.h.
// Defaults: docs/method.md §5.1–5.5 (quadrature, loss, optimiser, restarts) and
// docs/method.md §1.2–1.3, §5, §7 (boxes, reparameterisations, baselines).
#include <algorithm>
#include <cctype>
#include <set>

#include "config_schema_parts.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::config::schema_parts {
namespace {

/// A target's orthogonal size data (docs/fit.md "Size prior"): DLS/cryo-TEM mean and SD, or a
/// cryo-TEM radius list/histogram. {} (the default) for none.
KeySpec size_prior_field() {
  KeySpec k;
  k.path = "size_prior";
  k.kind = Kind::mapping;
  k.default_yaml = "{}";
  k.doc = "orthogonal size data for this target (DLS, cryo-TEM): {mean, sd, n} or {mean, sd, mean_error, sd_error}, "
          "or {histogram: FILE}; {} for none. Its negative log-likelihood joins the loss (docs/fit.md, Size prior)";
  k.fields = {
      real_key("mean", "0", 0.0, std::nullopt, "Å", "measured mean radius (0: no mean/SD prior)"),
      real_key("sd", "0", 0.0, std::nullopt, "Å", "measured SD of the radius distribution"),
      int_key("n", "0", 0, 1e9,
              "particles measured (cryo-TEM count): standard errors sd/sqrt(n) of the mean and sd/sqrt(2(n-1)) of the SD"),
      real_key("mean_error", "0", 0.0, std::nullopt, "Å", "standard error of the mean, instead of n (e.g. DLS repeats)"),
      real_key("sd_error", "0", 0.0, std::nullopt, "Å", "standard error of the SD, instead of n"),
      real_key("offset", "0", std::nullopt, std::nullopt, "Å",
               "measured radius = model outer radius + offset (e.g. a hydration layer seen by DLS: > 0)"),
      choice_key("quantity", "number", {"number", "intensity"},
                 "weighting of the measured distribution: number (cryo-TEM counts) or intensity (r^6-weighted, a "
                 "DLS intensity distribution in the Rayleigh limit)"),
      string_key("histogram", "''",
                 "cryo-TEM radii [Å]: one column (one radius per particle) or two (bin centre, count); "
                 "relative to the current directory"),
  };
  return k;
}

KeySpec target_records() {
  KeySpec t;
  t.path = "fit.targets";
  t.kind = Kind::records;
  t.default_yaml = "[]";
  t.doc = "what to fit: one record per (data, model, window) combination; outputs go to RUN/fits/<name>/";
  KeySpec name =
      string_key("name", "", "target name: the output folder RUN/fits/<name>/ (letters, digits, . _ -)");
  name.default_yaml.clear();  // required
  KeySpec model = choice_key("model", "", {"surrogate", "sphere", "core_shell"},
                             "forward model: the GRF core-shell surrogate, or an analytical baseline");
  model.default_yaml.clear();  // required
  t.fields = {
      name,
      string_key("file", "''",
                 "measured curve (ASCII, CSV or NXcanSAS; relative to the current directory); or give synth"),
      int_key("synth", "0", 0, 1000,
              "synthetic target K: RUN/targets/case-K.h5 written by lnpsaxs-synth (0: none)"),
      choice_key("format", "auto", {"auto", "ascii", "csv", "nxcansas"},
                 "file format (auto: by content/extension)"),
      choice_key("q_unit", "auto", {"auto", "1/A", "1/nm", "1/m"},
                 "unit of q in the file, overriding what the file states (auto: from the q column's header, "
                 "a units/q_unit key or NXcanSAS @units; none stated: 1/A, with a warning)"),
      model,
      real_key("q_min", "0", 0.0, std::nullopt, "Å^-1", "fit window: lowest q fitted"),
      real_key("q_max", "1", 0.0, std::nullopt, "Å^-1",
               "fit window: highest q fitted (baselines: 0.02, 0.05, 0.10)", true),
      bool_key("background", "false",
               "fit a constant background (last parameter, in the data's intensity unit)"),
      choice_key("weighting", "none", {"none", "sigma"},
                 "weight residuals by the data's sigma (needs a sigma column; loss chi2 always does)"),
      choice_key("loss", "default", {"default", "auto", "log", "composite", "chi2"},
                 "loss of this target (default: fit.loss; see fit.loss for the choices)"),
      choice_key("resolution", "auto", {"auto", "none"},
                 "auto: smear the model by the data's pinhole resolution when the file carries dQ (4th "
                 "ASCII column, CSV dQ/Qdev, NXcanSAS Qdev); none: ignore dQ. Slit smearing is not supported"),
      int_key("restarts", "0", 0, 1e9,
              "number of restarts (0: fit.restarts_experimental, _synthetic or _baseline by target kind)"),
      int_key("steps", "0", 0, 1e8, "optimiser steps per restart (0: fit.steps)"),
      list_key("m_r", "[]", 0.0, "Å",
               "[lo, hi] box of the mean radius for this target (default size_distribution.m_r)"),
      list_key("s_r", "[]", 0.0, "Å",
               "[lo, hi] box of the radius SD for this target (default size_distribution.s_r)"),
      list_key("truncation", "[]", 0.0, "Å",
               "[A, B] truncation of the radius distribution (default size_distribution.truncation)"),
      list_key("shell_thickness", "[]", 0.0, "Å",
               "core_shell only: [lo, hi] box (default fit.core_shell.shell_thickness)"),
      list_key("contrast", "[]", 0.0, "1", "core_shell only: [lo, hi] box (default fit.core_shell.contrast)"),
      size_prior_field(),
  };
  return t;
}

/// The size_prior mapping of a target or batch record: either mean/sd with their uncertainty, or a
/// histogram, never both.
void check_size_prior(const Record& t) {
  const Record r = t.mapping("size_prior");
  const bool moments = r.real("mean") > 0, hist = !r.string("histogram").empty();
  if (moments && hist) throw ConfigError(r.where("histogram") + "give mean/sd or histogram, not both");
  if (!moments && !hist) {
    for (const char* f : {"sd", "mean_error", "sd_error", "offset"}) {
      if (r.real(f) != 0) throw ConfigError(r.where(f) + "needs mean (or histogram) too");
    }
    if (r.integer("n") != 0) throw ConfigError(r.where("n") + "needs mean too");
    return;
  }
  if (hist) {
    for (const char* f : {"sd", "mean_error", "sd_error"}) {
      if (r.real(f) != 0) throw ConfigError(r.where(f) + "does not apply to a histogram (its counts are its weight)");
    }
    if (r.integer("n") != 0) throw ConfigError(r.where("n") + "does not apply to a histogram (its counts are its weight)");
    if (r.string("quantity") != "number") throw ConfigError(r.where("quantity") + "a histogram counts particles: number only");
    return;
  }
  if (!(r.real("sd") > 0)) throw ConfigError(r.where("sd") + "must be > 0 with mean");
  const bool by_n = r.integer("n") > 0, by_err = r.real("mean_error") > 0 || r.real("sd_error") > 0;
  if (by_n == by_err) {
    throw ConfigError(r.where("n") + "give the uncertainty once: n (particles) or mean_error and sd_error");
  }
  if (by_n && r.integer("n") < 2) throw ConfigError(r.where("n") + "must be >= 2");
  if (by_err && !(r.real("mean_error") > 0 && r.real("sd_error") > 0)) {
    throw ConfigError(r.where(r.real("mean_error") > 0 ? "sd_error" : "mean_error") + "must be > 0 (give both errors)");
  }
}

void check_pair(const Config& c, const Record& r, const std::string& f) {
  const auto v = r.reals(f);
  if (v.empty()) return;
  if (v.size() != 2 || !(v[0] < v[1]) || !(v[0] > 0)) {
    throw ConfigError(r.where(f) + "expected [lo, hi] with 0 < lo < hi, or [] for the default");
  }
  (void)c;
}

/// fit.batch: the fields of a target record, with `files` (globs or paths) instead of name/file/synth.
KeySpec batch_records() {
  KeySpec b = target_records();
  b.path = "fit.batch";
  b.doc = "batches of measured curves: each record fits every file of `files` as its own target, named from "
          "the file stem (made safe and unique) plus `suffix`; outputs go to RUN/fits/<name>/";
  std::vector<KeySpec> fields;
  KeySpec files;
  files.path = "files";
  files.kind = Kind::string_list;
  files.doc = "measured curves: a glob ('data/*.dat'), a path, or a list of them (relative to the current "
              "directory; each glob's matches in sorted order, duplicates dropped)";
  fields.push_back(files);
  fields.push_back(string_key("suffix", "''", "appended to each member's name (e.g. _sphere), to tell batches of "
                                              "the same files apart"));
  for (const KeySpec& f : b.fields) {
    if (f.path != "name" && f.path != "file" && f.path != "synth") fields.push_back(f);
  }
  b.fields = fields;
  return b;
}

/// Whether `s` holds only letters, digits, '.', '_' and '-' (safe in a folder name).
bool folder_chars(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.';
  });
}

/// The checks of the fields fit.targets and fit.batch records share: the fit window, the [lo, hi]
/// overrides, the fields of model core_shell only.
void check_shared_fields(const Config& c, const Record& r) {
  if (!(r.real("q_min") < r.real("q_max"))) {
    throw ConfigError(r.where("q_max") + "must be greater than q_min (" + std::to_string(r.real("q_min")) +
                      ")");
  }
  for (const char* f : {"m_r", "s_r", "truncation", "shell_thickness", "contrast"}) check_pair(c, r, f);
  check_size_prior(r);
  if (r.string("model") != "core_shell") {
    for (const char* f : {"shell_thickness", "contrast"}) {
      if (!r.reals(f).empty()) throw ConfigError(r.where(f) + "applies to model core_shell only");
    }
  }
}

void check_batch(const Config& c) {
  for (const Record& r : c.records("fit.batch")) {
    if (r.strings("files").empty()) throw ConfigError(r.where("files") + "give at least one file or glob");
    const std::string sfx = r.string("suffix");
    if (!folder_chars(sfx)) {
      throw ConfigError(r.where("suffix") + "'" + sfx + "' may hold only letters, digits, '.', '_', '-'");
    }
    check_shared_fields(c, r);
  }
}

void check_targets(const Config& c) {
  check_batch(c);
  std::set<std::string> names;
  for (const Record& r : c.records("fit.targets")) {
    const std::string name = r.string("name");
    if (name.empty() || name == "." || name == ".." || !folder_chars(name)) {
      throw ConfigError(r.where("name") + "'" + name +
                        "' is not a valid folder name (letters, digits, '.', '_', '-')");
    }
    if (!names.insert(name).second)
      throw ConfigError(r.where("name") + "target name '" + name + "' is used twice");
    const bool has_file = !r.string("file").empty();
    const bool has_synth = r.integer("synth") > 0;
    if (has_file == has_synth) {
      throw ConfigError(
          r.where(has_file ? "synth" : "file") +
          "give exactly one of file: PATH (measured data) or synth: K (synthetic target K >= 1)");
    }
    check_shared_fields(c, r);
    if (has_synth && (r.string("format") != "auto" || r.string("q_unit") != "auto")) {
      throw ConfigError(r.where(r.string("format") != "auto" ? "format" : "q_unit") +
                        "applies to file targets only (synthetic targets are HDF5 in 1/A)");
    }
  }
}

}  // namespace

void add_fit_keys(Schema& s) {
  s.add(target_records());
  s.add(batch_records());
  s.add(bool_key("fit.batch_skip_bad", "false",
                 "a fit.batch file that cannot be read: false stops before any fit with one line naming it; true "
                 "skips it (listed as skipped in the log and RUN/results.csv)"));
  // --- restarts (docs/method.md §5.5) -------------------------------------------------------
  s.add(int_key("fit.restarts_experimental", "8000", 1, 1e9, "restarts of a surrogate fit of measured data"));
  s.add(
      int_key("fit.restarts_synthetic", "1024", 1, 1e9, "restarts of a surrogate fit of a synthetic target"));
  s.add(
      int_key("fit.restarts_baseline", "4096", 1, 1e9, "restarts of an analytical (sphere, core_shell) fit"));
  s.add(int_key(
      "fit.batch_restarts", "256", 1, 1e7,
      "restarts per rank optimised together as one tensor problem (memory bound; also the checkpoint unit)"));
  s.add(real_key("fit.start_margin", "0.05", 0.0, 0.45, "1",
                 "Sobol starts avoid this fraction of each box at both ends"));
  s.add(choice_key(
      "fit.size_start", "sobol", {"sobol", "fixed"},
      "starts of (m_r, s_r): Sobol like the other parameters (paper) or fit.fixed_size_start (code)"));
  s.add(list_key("fit.fixed_size_start", "[205.32, 41.064]", 0.0, "Å",
                 "[m_r, s_r] start when size_start is fixed"));
  s.add(choice_key(
      "fit.size_parameters", "m_r_s_r", {"m_r_s_r", "m_r_cv"},
      "free size parameters: (m_r, s_r) in their boxes (paper) or (m_r, cv = s_r/m_r) in fit.cv (code)"));
  s.add(range_key("fit.cv", "[0.10, 0.35]", 0.0, std::nullopt, "1",
                  "box of cv = s_r/m_r when size_parameters is m_r_cv", true));
  s.add(real_key("fit.m_q2_start_gap", "0.1", 0.0, 0.9, "1",
                 "starts keep m_q2 - m_q1 >= this fraction of the m_q1 box span (docs/method.md §5.5)"));
  // --- forward model ---------------------------------------------------------------------------
  s.add(int_key(
      "fit.quadrature_nodes", "64", 2, 4096,
      "Gauss-Legendre nodes K of the size-distribution quadrature (through the truncated inverse CDF)"));
  s.add(choice_key(
      "fit.quadrature_rule", "auto", {"auto", "inverse_cdf", "log_radius", "fixed_log_radius"},
      "auto: inverse_cdf for the surrogate, fixed_log_radius for sphere, log_radius for core_shell (the quadrature "
      "check makes each accurate; these are the fastest at a given accuracy); "
      "inverse_cdf: GL nodes through the truncated inverse CDF with GL weights (paper); "
      "log_radius: GL nodes uniform in ln r on [mu - 8 sigma, mu + 8 sigma] cut to the truncation, weighted by "
      "the pdf (converges much faster at high q); fixed_log_radius: GL nodes uniform in ln r on the whole "
      "truncation, the same for every parameter value, so a sphere's form factors are computed once"));
  s.add(real_key("fit.quadrature_tolerance", "1e-3", 0.0, std::nullopt, "1",
                 "before fitting, K doubles until max |log10 I(K) - log10 I(2K)| over the fit window at "
                 "fit.quadrature_check_starts start points is at most this (0: no check, K as given)"));
  s.add(int_key("fit.quadrature_max_nodes", "1024", 2, 65536,
                "cap of the quadrature check's doubling of K (a warning when reached)"));
  s.add(int_key("fit.quadrature_check_starts", "32", 1, 1e6,
                "start points (the first Sobol starts) at which the quadrature check evaluates the model"));
  s.add(choice_key("fit.dtype", "float32", {"float32", "float64"},
                   "floating-point type of the fit (the surrogate always evaluates in float32)"));
  s.add(
      real_key("fit.background_max", "2.0", 0.0, std::nullopt, "1",
               "background box [0, this x smallest data intensity in the fit window] (capped so the particle "
               "term keeps >= 5 % of the invariant)",
               true));
  // --- loss (docs/method.md §5.3) -----------------------------------------------------------
  s.add(choice_key(
      "fit.loss", "auto", {"auto", "log", "composite", "chi2"},
      "loss of every target without its own loss: log = mean squared difference of log10 I_PI over the "
      "fitted points (analytical fits of the paper's authors); composite = loss_log_weight * MSE(ln I_PI) + "
      "loss_lin_weight * MSE(I_PI / loss_lin_scale) (the paper's surrogate loss); chi2 = sum(((s I + b - "
      "I_data)/sigma)^2)/(N - P) with scale s and background b solved by linear least squares at every step "
      "(SasView/bumps convention; needs sigma); auto = composite for the surrogate, log for sphere/core_shell"));
  s.add(real_key("fit.loss_log_weight", "0.1", 0.0, std::nullopt, "1", "lambda_log on the MSE of ln I_PI"));
  s.add(real_key("fit.loss_lin_weight", "1.0", 0.0, std::nullopt, "1",
                 "lambda_lin on the MSE of I_PI / loss_lin_scale"));
  s.add(real_key("fit.loss_lin_scale", "1e5", 0.0, std::nullopt, "Å^3", "scale of the linear term", true));
  // --- optimiser (docs/method.md §5.4) ---------------------------------------------------
  s.add(int_key("fit.steps", "1000", 1, 1e8, "AdamW steps per restart"));
  s.add(real_key("fit.lr", "0.01", 0.0, std::nullopt, "1", "peak learning rate", true));
  s.add(real_key("fit.weight_decay", "0", 0.0, std::nullopt, "1", "AdamW decoupled weight decay"));
  s.add(real_key("fit.adam_beta1", "0.9", 0.0, 1.0, "1", "AdamW beta1"));
  s.add(real_key("fit.surrogate_adam_beta2", "0.999", 0.0, 1.0, "1",
                 "surrogate: AdamW beta2 (reference code)"));
  s.add(real_key(
      "fit.analytic_adam_beta2", "0.9", 0.0, 1.0, "1",
      "sphere/core_shell: AdamW beta2 (0.999 remembers the early large gradients for the whole run and "
      "crawls along the m_r-s_r valley)"));
  s.add(real_key("fit.clip_norm", "5.0", 0.0, std::nullopt, "1",
                 "gradient-norm clip applied to each restart separately (0: off)"));
  s.add(int_key("fit.surrogate_warmup_steps", "200", 0, 1e8, "surrogate: linear warm-up steps"));
  s.add(real_key("fit.surrogate_lr_final", "0.6", 0.0, 1.0, "1",
                 "surrogate: cosine decays to this fraction of lr"));
  s.add(int_key("fit.analytic_warmup_steps", "0", 0, 1e8, "sphere/core_shell: linear warm-up steps"));
  s.add(real_key("fit.analytic_lr_final", "0.1", 0.0, 1.0, "1",
                 "sphere/core_shell: cosine decays to this fraction"));
  // --- boxes of the surrogate's structural parameters (docs/method.md §1.2; m_q2 follows from η) --------
  s.add(range_key("fit.box.delta_rho_int", "[-0.98, 0.98]", -1.0, 1.0, "1", "fit box of delta_rho_int"));
  s.add(
      range_key("fit.box.w", "[0.01, 0.99]", 0.0, 1.0, "1", "fit box of w (weight of spectral component 2)"));
  s.add(range_key("fit.box.m_q1", "[0.05, 0.15]", 0.0, std::nullopt, "Å^-1",
                  "fit box of m_q1; its upper end h bounds m_q2 = m_q1 + eta (h - m_q1)", true));
  s.add(range_key("fit.box.s_q1", "[0.01, 0.15]", 0.0, std::nullopt, "Å^-1", "fit box of s_q1", true));
  s.add(range_key("fit.box.s_q2", "[0.01, 0.15]", 0.0, std::nullopt, "Å^-1", "fit box of s_q2", true));
  s.add(range_key("fit.box.shell_thickness", "[40, 70]", 0.0, std::nullopt, "Å", "fit box of shell_thickness",
                  true));
  s.add(range_key("fit.box.rho_rel", "[0.7, 1.3]", 0.0, std::nullopt, "1", "fit box of rho_rel", true));
  // --- core-shell baseline (docs/method.md §7.2) ---------------------------------------------------------
  s.add(range_key("fit.core_shell.shell_thickness", "[20, 100]", 0.0, std::nullopt, "Å",
                  "core_shell baseline: box of the shell thickness d", true));
  s.add(range_key("fit.core_shell.contrast", "[0.5, 2.0]", 0.0, std::nullopt, "1",
                  "core_shell baseline: box of the core/shell contrast ratio c", true));

  s.add_check([](const Config& c) {
    check_targets(c);
    // The surrogate is only valid inside its training box.
    for (const char* p : {"delta_rho_int", "w", "m_q1", "s_q1", "s_q2", "shell_thickness", "rho_rel"}) {
      const auto fb = c.range(std::string("fit.box.") + p);
      const auto tb = c.range(std::string("parameters.") + p);
      if (fb.first < tb.first || fb.second > tb.second) {
        fail(c, std::string("fit.box.") + p,
             "must lie inside the training box parameters." + std::string(p) +
                 " (the surrogate cannot extrapolate)");
      }
    }
    if (c.range("fit.box.m_q1").second > c.range("parameters.m_q2").second) {
      fail(c, "fit.box.m_q1", "upper end must not exceed parameters.m_q2's upper end (m_q2 ranges up to it)");
    }
    const auto fs = c.reals("fit.fixed_size_start");
    if (fs.size() != 2) fail(c, "fit.fixed_size_start", "expected [m_r, s_r]");
  });
}

}  // namespace lnpsaxs::config::schema_parts
