// lnpsaxs-bench-train: how fast the surrogate trains and evaluates on this machine (issue 4).
//
//   lnpsaxs-bench-train [--seconds S] CONFIG...      (threads: execution.threads of the first
//                                                     config, else OMP_NUM_THREADS, else all cores)
//
// For each config (its train.width, train.blocks, train.batch_size and q.n) it reports
//   - LibTorch's plain float32 matmul rate at the model's layer shape [batch, width]·[width, width]
//     and at 1024³, measured in the same run (the machine's attainable rate);
//   - training samples/s (forward + backward + gradient bucket + AdamW, synthetic data, one rank)
//     and the achieved GFLOP/s of forward + backward (3 × the forward FLOPs) as a fraction of the
//     matmul rate: our efficiency;
//   - inference time of one forward pass for a batch of 512, and of one polydisperse evaluation
//     with K = 64 radii (a batch of 64 through the surrogate + the weighted sum of 10^y), alone
//     and with the gradient with respect to θ̃ (what each fit iteration does).
// Times are medians over repeats after a warm-up. Not part of the test suite.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/mpi_env.h"
#include "lnpsaxs/torch_runtime.h"
#include "models/surrogate/surrogate.h"
#include "trainer.h"

namespace {
using lnpsaxs::surrogate::Surrogate;
using Clock = std::chrono::steady_clock;

/// Median wall time [s] of `f` over repeats filling about `budget_s` (at least 3), after one warm-up.
double median_time(const std::function<void()>& f, double budget_s) {
  f();
  std::vector<double> t;
  const auto start = Clock::now();
  while (t.size() < 3 || (std::chrono::duration<double>(Clock::now() - start).count() < budget_s && t.size() < 1000)) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double matmul_gflops(std::int64_t m, std::int64_t k, std::int64_t n, double budget_s) {
  torch::NoGradGuard ng;
  const torch::Tensor a = torch::randn({m, k});
  const torch::Tensor b = torch::randn({k, n});
  torch::Tensor c = torch::empty({m, n});
  const double t = median_time([&] { torch::mm_out(c, a, b); }, budget_s);
  return 2.0 * static_cast<double>(m * k * n) / t / 1e9;
}

void bench(const lnpsaxs::config::Config& cfg, double budget_s) {
  lnpsaxs::surrogate::Metadata meta;
  meta.arch.width = cfg.integer("train.width");
  meta.arch.blocks = cfg.integer("train.blocks");
  meta.arch.n_q = cfg.integer("q.n");
  meta.q.assign(static_cast<std::size_t>(meta.arch.n_q), 0.0);
  const std::int64_t batch = cfg.integer("train.batch_size");
  const std::int64_t w = meta.arch.width;
  Surrogate model(meta, c10::Device(c10::kCPU), 1);
  std::printf("\n== %s: width %lld, %lld blocks, n_q %lld, batch %lld: %lld parameters, %.1f MFLOP forward per curve\n",
              cfg.source().c_str(), static_cast<long long>(w), static_cast<long long>(meta.arch.blocks),
              static_cast<long long>(meta.arch.n_q), static_cast<long long>(batch),
              static_cast<long long>(model.parameter_count()), model.forward_flops_per_row() / 1e6);

  const double mm_layer = matmul_gflops(batch, w, w, budget_s);
  const double mm_square = matmul_gflops(1024, 1024, 1024, budget_s);
  std::printf("matmul float32: %.1f GFLOP/s at [%lld x %lld]·[%lld x %lld], %.1f GFLOP/s at 1024^3\n", mm_layer,
              static_cast<long long>(batch), static_cast<long long>(w), static_cast<long long>(w),
              static_cast<long long>(w), mm_square);

  // Training: synthetic smooth targets, 2 global batches per epoch, one rank.
  lnpsaxs::train::Settings s;
  s.epochs = 1000000;
  s.batch_size = batch;
  const std::int64_t n = 2 * batch;
  lnpsaxs::train::Dataset data;
  data.theta_unit = torch::rand({n, 9});
  data.target = torch::sin(torch::linspace(0, 3, meta.arch.n_q).unsqueeze(0) * (1 + data.theta_unit.narrow(1, 0, 1)));
  lnpsaxs::train::Trainer trainer(model, data, s, MPI_COMM_SELF, nullptr);
  trainer.run_epoch();  // warm-up
  std::int64_t samples = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (elapsed < 2 * budget_s || samples < 4 * batch) {
    samples += trainer.run_epoch().samples;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const double sps = static_cast<double>(samples) / elapsed;
  const double gflops = 3.0 * model.forward_flops_per_row() * sps / 1e9;
  std::printf("training: %.0f samples/s, %.1f GFLOP/s forward+backward = %.0f%% of the layer-shape matmul rate "
              "(%.0f%% of 1024^3); %.1f ms per step of %lld\n",
              sps, gflops, 100 * gflops / mm_layer, 100 * gflops / mm_square,
              1e3 * static_cast<double>(batch) / sps, static_cast<long long>(batch));

  // Inference.
  model.train_mode(false);
  const torch::Tensor x512 = torch::rand({512, 9});
  const double t512 = median_time(
      [&] {
        torch::NoGradGuard ng;
        (void)model.log10_intensity(x512);
      },
      budget_s);
  // One polydisperse evaluation: K = 64 radii, the other parameters shared, quadrature weights.
  const std::int64_t k = 64;
  const torch::Tensor base = torch::rand({1, 9});
  const torch::Tensor radii = torch::linspace(0, 1, k);
  const torch::Tensor weights = torch::softmax(torch::randn({k}), 0);
  const auto poly = [&](const torch::Tensor& theta) {
    torch::Tensor x = theta.expand({k, 9}).clone();
    x.select(1, 1).copy_(radii);
    const torch::Tensor y = model.log10_intensity(x);
    return torch::log10((weights.unsqueeze(1) * torch::pow(10.0, y)).sum(0));
  };
  const double t_poly = median_time(
      [&] {
        torch::NoGradGuard ng;
        (void)poly(base);
      },
      budget_s);
  const double t_poly_grad = median_time(
      [&] {
        torch::Tensor th = base.clone().requires_grad_(true);
        poly(th).sum().backward();
      },
      budget_s);
  std::printf("inference: batch 512 %.3f ms (%.4f ms/curve); polydisperse K = 64: %.3f ms forward, %.3f ms "
              "forward + gradient w.r.t. theta\n",
              1e3 * t512, 1e3 * t512 / 512, 1e3 * t_poly, 1e3 * t_poly_grad);
}

}  // namespace

int main(int argc, char** argv) {
  lnpsaxs::mpi::Environment env(argc, argv);
  double budget_s = 2.0;
  std::vector<std::string> configs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) {
      budget_s = std::stod(argv[++i]);
    } else if (a == "--help" || a == "-h") {
      std::printf("usage: lnpsaxs-bench-train [--seconds S] CONFIG...\n");
      return 0;
    } else {
      configs.push_back(a);
    }
  }
  if (configs.empty()) {
    std::fprintf(stderr, "lnpsaxs-bench-train: error: give at least one config (e.g. configs/paper.yaml)\n");
    return 2;
  }
  try {
    const int threads = lnpsaxs::torchrt::configure_threads(lnpsaxs::config::Config::load(configs.front()), 1);
    std::printf("LibTorch %s, %d intra-op thread(s)\n", TORCH_VERSION, threads);
    for (const auto& c : configs) bench(lnpsaxs::config::Config::load(c), budget_s);
  } catch (const lnpsaxs::InputError& e) {
    std::fprintf(stderr, "lnpsaxs-bench-train: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
