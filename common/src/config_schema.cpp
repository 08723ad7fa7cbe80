// Every configuration key of the pipeline, its default and its bounds (docs/method.md §1,
// §9). configs/*.yaml document the same keys with comments.
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config_schema_parts.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/param_space.h"

namespace lnpsaxs::config {
namespace schema_parts {

namespace {
/// The fields every key has; the typed builders below add bounds, a unit or choices.
KeySpec base_key(Kind kind, const std::string& path, const std::string& def, const std::string& doc) {
  KeySpec k;
  k.path = path;
  k.kind = kind;
  k.default_yaml = def;
  k.doc = doc;
  return k;
}

KeySpec bounded_key(Kind kind, const std::string& path, const std::string& def, std::optional<double> min,
                    std::optional<double> max, const std::string& unit, const std::string& doc,
                    bool min_exclusive) {
  KeySpec k = base_key(kind, path, def, doc);
  k.min = min;
  k.max = max;
  k.min_exclusive = min_exclusive;
  k.unit = unit;
  return k;
}
}  // namespace

KeySpec range_key(const std::string& path, const std::string& def, std::optional<double> min,
                  std::optional<double> max, const std::string& unit, const std::string& doc,
                  bool min_exclusive) {
  return bounded_key(Kind::range, path, def, min, max, unit, doc, min_exclusive);
}

KeySpec real_key(const std::string& path, const std::string& def, std::optional<double> min,
                 std::optional<double> max, const std::string& unit, const std::string& doc,
                 bool min_exclusive) {
  return bounded_key(Kind::real, path, def, min, max, unit, doc, min_exclusive);
}

KeySpec int_key(const std::string& path, const std::string& def, std::optional<double> min,
                std::optional<double> max, const std::string& doc) {
  return bounded_key(Kind::integer, path, def, min, max, "", doc, false);
}

KeySpec list_key(const std::string& path, const std::string& def, std::optional<double> min,
                 const std::string& unit, const std::string& doc) {
  return bounded_key(Kind::real_list, path, def, min, std::nullopt, unit, doc, false);
}

KeySpec choice_key(const std::string& path, const std::string& def, std::vector<std::string> choices,
                   const std::string& doc) {
  KeySpec k = base_key(Kind::choice, path, def, doc);
  k.choices = std::move(choices);
  return k;
}

KeySpec string_key(const std::string& path, const std::string& def, const std::string& doc) {
  return base_key(Kind::string, path, def, doc);
}

KeySpec bool_key(const std::string& path, const std::string& def, const std::string& doc) {
  return base_key(Kind::boolean, path, def, doc);
}

void fail(const Config& c, const std::string& path, const std::string& what) {
  throw ConfigError(c.where(path) + what);
}

}  // namespace schema_parts

namespace {
using namespace schema_parts;

std::string short_num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Schema build() {
  Schema s;
  // --- run ------------------------------------------------------------------------------------
  s.add(string_key("run.dir", "runs/default", "run directory (overridden by --run-dir)"));
  s.add(int_key("run.seed", "20260521", 0, 9.007199254740992e15,
                "master seed: every random draw is keyed by (seed, stream, item, realisation)"));

  // --- parameters: the simulator/surrogate training box (docs/method.md §1.1) ----------------------------
  const ParameterSpace defaults = ParameterSpace::defaults();
  auto box = [&](int i, std::optional<double> min, std::optional<double> max, bool excl = false) {
    const ParameterInfo& p = defaults[i];
    s.add(range_key("parameters." + p.name,
                    "[" + short_num(p.lower) + ", " + short_num(p.upper) + "]", min, max,
                    p.unit, p.description + " (training box)", excl));
  };
  box(ParameterSpace::delta_rho_int, -1.0, 1.0);
  box(ParameterSpace::radius, 0.0, std::nullopt, true);
  box(ParameterSpace::w, 0.0, 1.0);
  box(ParameterSpace::m_q1, 0.0, std::nullopt, true);
  box(ParameterSpace::m_q2, 0.0, std::nullopt, true);
  box(ParameterSpace::s_q1, 0.0, std::nullopt, true);
  box(ParameterSpace::s_q2, 0.0, std::nullopt, true);
  box(ParameterSpace::shell_thickness, 0.0, std::nullopt, true);
  box(ParameterSpace::rho_rel, 0.0, std::nullopt, true);

  // --- size distribution of polydisperse fitting (docs/method.md §1.2, paper Table 3) --------------------
  s.add(range_key("size_distribution.m_r", "[120, 350]", 0.0, std::nullopt, "Å",
                  "box of the mean radius m_r", true));
  s.add(range_key("size_distribution.s_r", "[10, 100]", 0.0, std::nullopt, "Å",
                  "box of the radius standard deviation s_r", true));
  s.add(range_key("size_distribution.truncation", "[100, 500]", 0.0, std::nullopt, "Å",
                  "truncation [A, B] of the log-normal radius distribution", true));

  // --- sample: Sobol design of the training and test sets (docs/method.md §2) ----------------------------
  s.add(int_key("sample.n_train", "32768", 1, 4294967295.0,
                "training-set size (a power of two keeps the Sobol net property)"));
  s.add(int_key("sample.n_test", "1024", 1, 4294967295.0, "held-out test-set size (independent Sobol)"));
  s.add(choice_key("sample.randomisation", "owen", {"owen", "digital_shift", "none"},
                   "Sobol randomisation: Owen nested scrambling, random digital shift, or none"));

  // --- q grid shared by simulate, synth, train and fit (docs/method.md §3.7: 300 points on [0.001, 0.2]) ---
  s.add(int_key("q.n", "300", 2, 100000, "number of q points (uniform grid)"));
  s.add(real_key("q.min", "0.001", 0.0, std::nullopt, "Å^-1", "first q point", true));
  s.add(real_key("q.max", "0.2", 0.0, std::nullopt, "Å^-1", "last q point", true));

  // --- simulate: the GRF core–shell simulator (docs/method.md §3; paper values by default) ---------------
  s.add(int_key("simulate.grid_n", "512", 8, 4096, "voxels per axis N of the 3-D grid (even)"));
  s.add(real_key("simulate.dx", "5.0", 0.0, std::nullopt, "Å", "voxel size Δx", true));
  s.add(int_key("simulate.n_fft", "1024", 8, 16384, "side N_f of the zero-padded 2-D image (even, >= grid_n)"));
  s.add(real_key("simulate.smooth_sigma_px", "1.0", 0.0, 10.0, "px", "σ of the 2-D Gaussian smoothing of the projection"));
  s.add(real_key("simulate.radial_sigma", "0.5", 0.0, 10.0, "Δq_2D", "width of the radial-average Gaussian", true));
  s.add(int_key("simulate.realisations", "50", 1, 100000, "GRF realisations n averaged per curve"));
  s.add(bool_key("simulate.common_random_numbers", "false",
                 "reuse one set of n noise fields for every θ (reference code) instead of fresh ones per item"));
  s.add(choice_key("simulate.interior", "grf", {"grf", "homogeneous"},
                   "core interior: the GRF model, or constant 1 + delta_rho_int (analytic check)"));
  s.add(choice_key("simulate.backend", "auto", {"auto", "cpu", "torch", "cuda"},
                   "simulator: auto (cuda on a rank that sees a GPU, else cpu), the fused CPU path (FFTW3, "
                   "docs/cpu.md), the LibTorch reference (device from execution.device) or the fused CUDA path "
                   "(one GPU per rank; needs a CUDA build, docs/gpu.md)"));

  // --- the later stages declare their own keys --------------------------------------------------
  add_synth_keys(s);
  add_train_keys(s);
  add_fit_keys(s);
  add_analyze_keys(s);
  add_posterior_keys(s);

  // --- execution: how to run, never part of a stage fingerprint --------------------------------
  s.add(choice_key("execution.device", "cpu", {"cpu", "cuda"}, "tensor device (cuda: one GPU per rank, device = local rank)"));
  s.add(int_key("execution.threads", "0", 0, 1024, "intra-op threads per rank (0: cores / ranks on the node, or OMP_NUM_THREADS)"));
  s.add(int_key("execution.checkpoint_items", "4", 1, 1000000,
                "items per rank between checkpoint flushes (a killed stage loses at most this many)"));

  // --- slurm: how slurm/full_pipeline.sh submits the stages (never part of a fingerprint) ------
  s.add(string_key("slurm.account", "\"\"", "sbatch --account (empty: the site default)"));
  s.add(string_key("slurm.partition", "\"\"", "sbatch --partition (empty: the site default)"));
  s.add(int_key("slurm.gpus_per_node", "0", 0, 64, "GPUs per node (0: CPU-only); one MPI rank per GPU"));
  s.add(int_key("slurm.ntasks_per_node", "1", 1, 1024, "MPI ranks per node on CPU nodes (GPU nodes: gpus_per_node)"));
  s.add(int_key("slurm.cpus_per_task", "1", 1, 1024, "cores per MPI rank (intra-op threads)"));
  s.add(int_key("slurm.nodes", "1", 1, 100000, "nodes per job (per array task for simulate/synth/fit)"));
  s.add(string_key("slurm.setup", "\"\"", "shell lines run before every stage (module load ..., source venv)"));
  s.add(string_key("slurm.extra", "\"\"", "extra sbatch arguments for every job"));
  s.add(int_key("slurm.signal_seconds", "300", 0, 86400,
                "seconds before the time limit when a job is signalled to stop and requeue"));
  for (const char* st : {"simulate", "synth", "fit", "posterior"}) {
    s.add(int_key(std::string("slurm.array.") + st, "1", 1, 100000,
                  std::string("array tasks (shards) of ") + st));
  }
  for (const auto& [st, t] : std::vector<std::pair<std::string, std::string>>{
           {"sample", "00:10:00"}, {"simulate", "24:00:00"}, {"synth", "12:00:00"}, {"train", "12:00:00"},
           {"fit", "12:00:00"}, {"analyze", "02:00:00"}, {"posterior", "12:00:00"}, {"report", "00:30:00"}}) {
    s.add(string_key("slurm.time." + st, t, "wall-time limit of the " + st + " jobs (HH:MM:SS)"));
  }

  // --- cross-key checks ------------------------------------------------------------------------
  s.add_check([](const Config& c) {
    const auto r = c.range("parameters.radius");
    const auto d = c.range("parameters.shell_thickness");
    if (!(d.second < r.first)) {
      fail(c, "parameters.shell_thickness",
           "largest shell thickness " + std::to_string(d.second) +
               " Å must be smaller than the smallest radius " + std::to_string(r.first) +
               " Å (parameters.radius), or the core vanishes");
    }
    const auto t = c.range("size_distribution.truncation");
    const auto m = c.range("size_distribution.m_r");
    if (m.first < t.first || m.second > t.second) {
      fail(c, "size_distribution.m_r", "the m_r box must lie inside size_distribution.truncation");
    }
    if (!(c.real("q.min") < c.real("q.max"))) {
      fail(c, "q.max", "must be greater than q.min (" + std::to_string(c.real("q.min")) + ")");
    }
    for (const char* key : {"simulate.grid_n", "simulate.n_fft"}) {
      if (c.integer(key) % 2 != 0) fail(c, key, "must be even, got " + std::to_string(c.integer(key)));
    }
    if (c.integer("simulate.n_fft") < c.integer("simulate.grid_n")) {
      fail(c, "simulate.n_fft", "must be >= simulate.grid_n (" + std::to_string(c.integer("simulate.grid_n")) + ")");
    }
    const auto m1 = c.range("parameters.m_q1");
    const auto m2 = c.range("parameters.m_q2");
    if (m2.second < m1.second) {
      fail(c, "parameters.m_q2",
           "upper bound must be >= the upper bound of parameters.m_q1 (η ordering, docs/method.md §1.3)");
    }
  });
  return s;
}

}  // namespace

const Schema& pipeline_schema() {
  static const Schema schema = build();
  return schema;
}

}  // namespace lnpsaxs::config
