// lnpsaxs-bench-fit: how fast the multi-start fit runs on this machine (issue 5 benchmark).
//
//   lnpsaxs-bench-fit [--restarts R] [--nodes K] [--seconds S] CONFIG...
//
// For each config (its train.width, train.blocks and q grid; an untrained surrogate is as fast as
// a trained one) it reports, in one run:
//   - LibTorch's plain float32 matmul rate at the surrogate's layer shape [R·K, width]·[width, width]
//     and at 1024³: the machine's attainable rate;
//   - surrogate fit: restart-steps/s for R restarts × K radii (forward through the network on R·K
//     rows, backward to the inputs only, AdamW update, per-restart clipping) and the achieved
//     GFLOP/s, counting 2 × the network's forward FLOPs per row per step (forward + input-gradient
//     backward), as a fraction of the matmul rate;
//   - the sphere and core-shell baselines' restart-steps/s (R restarts × K radii, 87 q points).
// Steps are timed between the first and the last step callback of one fit_batch call after a
// one-step warm-up; the number of steps fills about S seconds (at least 3). Threads:
// execution.threads of the first config, else OMP_NUM_THREADS, else all cores. Not a test.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/forward/forward_model.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/torch_runtime.h"
#include "multistart.h"
#include "models/forward/parameters.h"

#include "models/surrogate/surrogate.h"

namespace {
namespace fit = lnpsaxs::fit;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Median wall time [s] of `f` over repeats filling about `budget_s` (at least 3), after a warm-up.
double median_time(const std::function<void()>& f, double budget_s) {
  f();
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 3 || (seconds_since(start) < budget_s && t.size() < 1000)) {
    const auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double matmul_gflops(std::int64_t m, std::int64_t k, std::int64_t n, double budget_s) {
  at::NoGradGuard ng;
  const at::Tensor a = at::randn({m, k}), b = at::randn({k, n});
  at::Tensor c = at::empty({m, n});
  const double t = median_time([&] { at::mm_out(c, a, b); }, budget_s);
  return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n) / t / 1e9;
}

/// FitData whose target is the model's own curve at `truth` (the fit's work does not depend on it).
fit::FitData own_curve(const fit::ForwardModel& model, const std::vector<double>& truth, std::int64_t fb,
                       std::int64_t fe) {
  fit::FitData d;
  d.eval_begin = std::min(fb, model.setup().norm_begin);
  d.eval_end = std::max(fe, model.setup().norm_end);
  d.fit_begin = fb;
  d.fit_end = fe;
  d.support_begin = 0;
  d.support_end = model.n_q();
  const at::Tensor t = at::tensor(truth, at::kDouble).view({1, static_cast<std::int64_t>(truth.size())});
  const at::Tensor c = at::exp(model.ln_intensity(t, 0, model.n_q())).to(at::kDouble).contiguous();
  d.data_full.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  d.data.assign(d.data_full.begin() + fb, d.data_full.begin() + fe);
  d.w_log.assign(d.data.size(), 1.0);
  d.w_lin.assign(d.data.size(), 1.0);
  return d;
}

/// Restart-steps per second of R restarts of `model`.
double restart_steps_per_s(const fit::ForwardModel& model, const fit::Layout& layout,
                           const fit::FitData& data, std::int64_t restarts, double budget_s,
                           std::int64_t& steps_timed) {
  const std::vector<double> starts = fit::sobol_starts(layout, fit::StartSettings{}, 1, 0, restarts);
  fit::OptimiserSettings opt;
  opt.steps = 1;
  auto t0 = Clock::now();
  fit::fit_batch(model, layout, data, opt, fit::LossSettings{}, starts);  // warm-up
  const double one = seconds_since(t0);
  opt.steps = std::max<std::int64_t>(3, static_cast<std::int64_t>(budget_s / std::max(one, 1e-6)));
  Clock::time_point first, last;
  fit::fit_batch(model, layout, data, opt, fit::LossSettings{}, starts, [&](std::int64_t s, double) {
    if (s == 0) first = Clock::now();
    last = Clock::now();
  });
  steps_timed = opt.steps - 1;
  return static_cast<double>(restarts) * static_cast<double>(steps_timed) /
         std::chrono::duration<double>(last - first).count();
}

void bench(const lnpsaxs::config::Config& cfg, std::int64_t restarts, std::int64_t nodes, double budget_s) {
  const std::vector<double> q = lnpsaxs::q_grid_from_config(cfg);
  const std::int64_t nq = static_cast<std::int64_t>(q.size());
  const std::int64_t width = cfg.integer("train.width"), blocks = cfg.integer("train.blocks");
  std::printf(
      "\n%s: surrogate width %lld, %lld blocks, n_q %lld; %lld restarts x K = %lld radii, %d thread(s)\n",
      cfg.source().c_str(), static_cast<long long>(width), static_cast<long long>(blocks),
      static_cast<long long>(nq), static_cast<long long>(restarts), static_cast<long long>(nodes),
      at::get_num_threads());
  const std::int64_t rows = restarts * nodes;
  const double mm_layer = matmul_gflops(rows, width, width, std::min(budget_s, 5.0));
  const double mm_1024 = matmul_gflops(1024, 1024, 1024, std::min(budget_s, 5.0));
  std::printf("  matmul float32 [%lld x %lld]·[%lld x %lld]: %.1f GFLOP/s; 1024^3: %.1f GFLOP/s\n",
              static_cast<long long>(rows), static_cast<long long>(width), static_cast<long long>(width),
              static_cast<long long>(width), mm_layer, mm_1024);
  std::int64_t steps = 0;
  {
    lnpsaxs::surrogate::Metadata meta;
    meta.q = q;
    meta.box = lnpsaxs::ParameterSpace::from_config(cfg);
    meta.arch.width = width;
    meta.arch.blocks = blocks;
    meta.arch.n_q = nq;
    auto sur = std::make_shared<lnpsaxs::surrogate::Surrogate>(meta, c10::Device(c10::kCPU), 1);
    fit::ForwardSetup s;
    s.model = fit::Model::surrogate;
    s.q = q;
    s.norm_begin = 0;
    s.norm_end = nq;
    s.nodes = nodes;
    const auto trunc = cfg.range("size_distribution.truncation");
    const auto rad = cfg.range("parameters.radius");
    s.truncation_lower = std::max(trunc.first, rad.first);
    s.truncation_upper = std::min(trunc.second, rad.second);
    s.surrogate = sur;
    const fit::ForwardModel model(s);
    fit::Boxes boxes;
    boxes.m_r = {std::max(cfg.range("size_distribution.m_r").first, s.truncation_lower + 1),
                 std::min(cfg.range("size_distribution.m_r").second, s.truncation_upper - 1)};
    const fit::Layout layout(fit::Model::surrogate, false, boxes);
    const double mid_r = 0.5 * (boxes.m_r.first + boxes.m_r.second);
    const fit::FitData data =
        own_curve(model, {mid_r, 30, -0.1, 0.3, 0.10, 0.11, 0.015, 0.10, 60, 0.96}, 0, nq);
    const double rate = restart_steps_per_s(model, layout, data, restarts, budget_s, steps);
    const double flops = 2.0 * sur->forward_flops_per_row() * static_cast<double>(rows);  // per step
    const double gflops = flops * rate / static_cast<double>(restarts) / 1e9;
    std::printf(
        "  surrogate fit: %.3g restart-steps/s (%.3g s per step of %lld restarts, %lld steps timed); "
        "%.1f GFLOP/s = %.0f %% of the layer-shape matmul, %.0f %% of 1024^3\n",
        rate, static_cast<double>(restarts) / rate, static_cast<long long>(restarts),
        static_cast<long long>(steps), gflops, 100.0 * gflops / mm_layer, 100.0 * gflops / mm_1024);
  }
  for (fit::Model m : {fit::Model::sphere, fit::Model::core_shell}) {
    const std::vector<double> grid = lnpsaxs::linear_q_grid(0.001, 0.2, 300);
    fit::ForwardSetup s;
    s.model = m;
    s.q = grid;
    s.norm_begin = 2;  // the gold headline window [0.002, 0.06]: 87 points
    s.norm_end = 89;
    s.nodes = nodes;
    const fit::ForwardModel model(s);
    fit::Boxes boxes;
    const fit::Layout layout(m, false, boxes);
    const std::vector<double> truth =
        m == fit::Model::sphere ? std::vector<double>{180, 30} : std::vector<double>{180, 30, 50, 0.7};
    const fit::FitData data = own_curve(model, truth, 2, 89);
    const double rate = restart_steps_per_s(model, layout, data, restarts, std::min(budget_s, 10.0), steps);
    std::printf("  %s fit (87 q points): %.3g restart-steps/s (%lld steps timed)\n",
                fit::model_name(m).c_str(), rate, static_cast<long long>(steps));
  }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // as lnpsaxs-fit: keep the per-step tensors on the heap
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  std::int64_t restarts = 128, nodes = 64;
  double budget = 20;
  std::vector<std::string> configs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lnpsaxs-bench-fit: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--restarts")
      restarts = std::atoll(next().c_str());
    else if (a == "--nodes")
      nodes = std::atoll(next().c_str());
    else if (a == "--seconds")
      budget = std::atof(next().c_str());
    else if (a == "--help" || a == "-h") {
      std::printf("usage: lnpsaxs-bench-fit [--restarts R] [--nodes K] [--seconds S] CONFIG...\n");
      return 0;
    } else
      configs.push_back(a);
  }
  if (configs.empty()) {
    std::fprintf(stderr, "usage: lnpsaxs-bench-fit [--restarts R] [--nodes K] [--seconds S] CONFIG...\n");
    return 2;
  }
  try {
    std::vector<lnpsaxs::config::Config> cfgs;
    for (const auto& c : configs) cfgs.push_back(lnpsaxs::config::Config::load(c));
    lnpsaxs::torchrt::configure_threads(cfgs.front(), 1);
    for (const auto& c : cfgs) bench(c, restarts, nodes, budget);
  } catch (const lnpsaxs::InputError& e) {
    std::fprintf(stderr, "lnpsaxs-bench-fit: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
