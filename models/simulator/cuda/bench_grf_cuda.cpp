// lnpsaxs-bench-simulate-cuda: the simulator rows of the paper's Table 1 (docs/method.md §8,
// A100) on this machine's GPU, and one realisation against the memory-bandwidth floor.
//
//   lnpsaxs-bench-simulate-cuda [--device D] [--n N] [--dx DX] [--n-fft NF] [--q-points NQ]
//                               [--realisations R] [--batch B] [--poly-k K] [--repeats REPS] [--quick]
// Defaults are the paper's: N = 512, Δx = 5 Å, N_f = 1024, 300 q on [0.001, 0.2], R = 50, B = 512,
// K = 64. --quick times 16 of the 512 batch curves and 8 of the 64 independent polydisperse nodes
// and extrapolates (printed as such). Prints one table: our time, the paper's, paper/ours.
// Exit 0 measured, 77 no CUDA in this build or no device (a message says which), 1 error.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "models/simulator/cuda/grf_cuda.h"
#include "models/simulator/cuda/grf_cuda_host.h"
#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/q_grid.h"

namespace {

using namespace lnpsaxs;
using Clock = std::chrono::steady_clock;

struct Options {
  int device = 0;
  std::int64_t n = 512;
  double dx = 5.0;
  std::int64_t n_fft = 1024;
  int q_points = 300;
  int realisations = 50;
  int batch = 512;
  int poly_k = 64;
  int repeats = 20;
  bool quick = false;
};

double seconds(const std::function<void()>& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// A deterministic spread of structures over the paper's parameter box (radius capped by the grid).
sim::Structure structure(int i, double r_max) {
  auto u = [i](int d) {  // low-discrepancy-ish: fractional parts of i·(√primes)
    static const double a[] = {1.4142135623730951, 1.7320508075688772, 2.23606797749979,
                               2.6457513110645907, 3.3166247903554,    3.605551275463989,
                               4.123105625617661,  4.358898943540674,  4.795831523312719};
    const double x = (i + 0.5) * a[d];
    return x - std::floor(x);
  };
  sim::Structure s;
  s.delta_rho_int = -1.0 + 2.0 * u(0);
  s.radius = 100.0 + (std::min(500.0, r_max) - 100.0) * u(1);
  s.w = u(2);
  s.m_q1 = 0.05 + 0.1 * u(3);
  s.m_q2 = 0.05 + 0.1 * u(4);
  s.s_q1 = 0.01 + 0.14 * u(5);
  s.s_q2 = 0.01 + 0.14 * u(6);
  s.shell_thickness = 40.0 + 30.0 * u(7);
  s.rho_rel = 0.7 + 0.6 * u(8);
  return s;
}

std::vector<std::uint64_t> keys_from(std::uint64_t first, int count) {
  std::vector<std::uint64_t> k;
  for (int i = 0; i < count; ++i) k.push_back(first + static_cast<std::uint64_t>(i));
  return k;
}

void row(const char* what, double ours_s, double paper_s, const char* note) {
  std::printf("%-52s %12.4f s %12.3f s %10.1fx  %s\n", what, ours_s, paper_s, paper_s / ours_s, note);
}

int run(const Options& o) {
  if (!sim::cuda_backend_compiled()) {
    std::printf(
        "lnpsaxs-bench-simulate-cuda: this build has no CUDA backend (LNPSAXS_CUDA_ENABLED off): "
        "nothing measured\n");
    return 77;
  }
  const int devices = sim::cuda_device_count();
  if (devices == 0) {
    std::printf("lnpsaxs-bench-simulate-cuda: no CUDA device visible: nothing measured\n");
    return 77;
  }
  sim::GridSpec g;
  g.n = o.n;
  g.dx = o.dx;
  g.n_fft = o.n_fft;
  const std::vector<double> q = linear_q_grid(0.001, std::min(0.2, M_PI / o.dx), o.q_points);
  std::printf("device %d of %d: %s\n", o.device, devices, sim::cuda_device_name(o.device).c_str());
  std::printf("grid N = %lld, dx = %g A, N_f = %lld, %d q on [%g, %g] 1/A, %d realisations per curve\n",
              static_cast<long long>(o.n), o.dx, static_cast<long long>(o.n_fft), o.q_points, q.front(),
              q.back(), o.realisations);
  const auto t0 = Clock::now();
  const sim::GrfSimulatorCuda simulator(g, q, o.device, sim::Interior::grf);
  std::printf("simulator set-up (radial weights, C2R plan): %.3f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());

  // ---- one realisation against the bandwidth floor ---------------------------------------------
  const double bw = sim::cuda_copy_bandwidth_gbs(o.device, std::size_t{1} << 30, o.repeats);
  const sim::GrfSimulator ref_tables(g, q, c10::Device(c10::kCPU), sim::Interior::homogeneous);
  const std::int64_t nnz = ref_tables.radial_index().numel();
  const sim::cuda_host::RealisationBytes b =
      sim::cuda_host::realisation_bytes(o.n, o.n_fft, o.q_points, nnz, 32);
  sim::Structure mono = structure(3, simulator.max_radius());
  mono.radius = std::min(245.0, simulator.max_radius());
  const sim::CudaStageTimes t = simulator.time_realisation(mono, 1, o.repeats);
  const double floor_ms = b.total() / (bw * 1e9) * 1e3;
  std::printf("\n== one realisation (median of %d; events around each stage)\n", t.repeats);
  std::printf("device-to-device copy bandwidth (1 GiB, read + write counted): %.0f GB/s\n", bw);
  std::printf(
      "bytes, each intermediate written and read once: spectrum write %.3f GB, C2R read %.3f + write %.3f "
      "GB,\n"
      "  fused pass read %.3f GB, 2-D stage %.3f GB: total %.3f GB -> floor %.3f ms at %.0f GB/s\n",
      b.spectrum_write / 1e9, b.c2r_read / 1e9, b.c2r_write / 1e9, b.project_read / 1e9, b.two_d / 1e9,
      b.total() / 1e9, floor_ms, bw);
  std::printf("%-28s %9s %12s %s\n", "stage", "ms", "GB/s", "");
  std::printf("%-28s %9.3f %12.0f\n", "noise x filter (spectrum)", t.spectrum_ms,
              b.spectrum_write / (t.spectrum_ms * 1e6));
  std::printf("%-28s %9.3f %12.0f   (= %.2f single read+write passes at the copy bandwidth)\n", "cuFFT C2R",
              t.c2r_ms, b.c2r_pass() / (t.c2r_ms * 1e6), t.c2r_ms * 1e-3 * bw * 1e9 / b.c2r_pass());
  std::printf("%-28s %9.3f %12.0f\n", "fused logistic/projection", t.project_ms,
              b.project_read / (t.project_ms * 1e6));
  std::printf("%-28s %9.3f %12.0f\n", "2-D stage (batched, per real.)", t.two_d_ms,
              b.two_d / (t.two_d_ms * 1e6));
  std::printf("%-28s %9.3f %12s   = %.2f x the floor (goal: within 2x)\n", "total", t.total_ms, "",
              t.total_ms / floor_ms);

  // ---- Table 1: simulator rows -----------------------------------------------------------------
  std::printf("\n== paper Table 1, simulator rows (paper: one A100; ours: %s)\n",
              sim::cuda_device_name(o.device).c_str());
  std::printf("%-52s %14s %14s %11s\n", "row", "ours", "paper", "paper/ours");
  const std::vector<std::uint64_t> keys = keys_from(100, o.realisations);
  (void)simulator.mean_intensity(mono, keys);  // warm-up: 2-D plans for this batch size
  std::vector<double> mono_t;
  for (int r = 0; r < 5; ++r) mono_t.push_back(seconds([&] { (void)simulator.mean_intensity(mono, keys); }));
  const double t_mono = median(mono_t);
  row("monodisperse curve, n = 50 realisations, 512^3", t_mono, 1.53, "median of 5");

  const int batch_run = o.quick ? std::min(16, o.batch) : o.batch;
  const double t_batch_run = seconds([&] {
    for (int i = 0; i < batch_run; ++i)
      (void)simulator.mean_intensity(structure(i, simulator.max_radius()), keys);
  });
  const double t_batch = t_batch_run * o.batch / batch_run;
  char note[160];
  std::snprintf(note, sizeof note,
                batch_run == o.batch ? "%d curves timed" : "%d of the curves timed, extrapolated", batch_run);
  row("batch of 512 curves (distinct theta), n = 50 each", t_batch, 13.1 * 60, note);

  std::vector<sim::Structure> nodes;
  for (int k = 0; k < o.poly_k; ++k) {
    sim::Structure s = mono;
    s.radius = 150.0 + (std::min(350.0, simulator.max_radius()) - 150.0) * (k + 0.5) / o.poly_k;
    nodes.push_back(s);
  }
  (void)simulator.mean_intensities(nodes, keys_from(100, 1));  // warm-up: plans for K pipelines
  const double t_poly_shared = seconds([&] { (void)simulator.mean_intensities(nodes, keys); });
  row("polydisperse K = 64 radii, n = 50, shared fields", t_poly_shared, 49.0,
      "one field per key serves all radii (common random numbers)");
  const int poly_run = o.quick ? std::min(8, o.poly_k) : o.poly_k;
  const double t_poly_indep_run = seconds([&] {
    for (int k = 0; k < poly_run; ++k)
      (void)simulator.mean_intensity(
          nodes[static_cast<std::size_t>(k)],
          keys_from(100000 + 1000 * static_cast<std::uint64_t>(k), o.realisations));
  });
  std::snprintf(
      note, sizeof note,
      poly_run == o.poly_k ? "fresh fields per radius" : "fresh fields; %d nodes timed, extrapolated",
      poly_run);
  row("polydisperse K = 64 radii, n = 50, independent", t_poly_indep_run * o.poly_k / poly_run, 49.0, note);
  std::printf("(paper's polydisperse 49.0 s = 32 x 1.53 s: its code ran K = 32; ours runs K = %d)\n",
              o.poly_k);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lnpsaxs-bench-simulate-cuda: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: lnpsaxs-bench-simulate-cuda [--device D] [--n N] [--dx DX] [--n-fft NF] [--q-points NQ]\n"
          "         [--realisations R] [--batch B] [--poly-k K] [--repeats REPS] [--quick]\n"
          "The simulator rows of the paper's Table 1 on this GPU, and one realisation against the\n"
          "memory-bandwidth floor. Exit 77 where there is no CUDA backend or no device.\n");
      return 0;
    } else if (a == "--device") {
      o.device = std::atoi(next());
    } else if (a == "--n") {
      o.n = std::atoll(next());
    } else if (a == "--dx") {
      o.dx = std::atof(next());
    } else if (a == "--n-fft") {
      o.n_fft = std::atoll(next());
    } else if (a == "--q-points") {
      o.q_points = std::atoi(next());
    } else if (a == "--realisations") {
      o.realisations = std::max(1, std::atoi(next()));
    } else if (a == "--batch") {
      o.batch = std::max(1, std::atoi(next()));
    } else if (a == "--poly-k") {
      o.poly_k = std::max(1, std::atoi(next()));
    } else if (a == "--repeats") {
      o.repeats = std::max(1, std::atoi(next()));
    } else if (a == "--quick") {
      o.quick = true;
    } else {
      std::fprintf(stderr, "lnpsaxs-bench-simulate-cuda: unknown argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lnpsaxs-bench-simulate-cuda: error: %s\n", e.what());
    return 1;
  }
}
