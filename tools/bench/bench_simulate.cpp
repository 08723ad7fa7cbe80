// lnpsaxs-bench-simulate: time and peak memory of one GRF realisation on this CPU.
//   lnpsaxs-bench-simulate N [THREADS=1] [REPS=3]
// Grid: N³ voxels of Δx = 2560/N Å (the paper's 2560 Å box), N_f = 2N, 300 q on [0.001, 0.2]
// (capped at the Nyquist limit). Prints one line; run each N in its own process so that the peak
// resident memory (getrusage) belongs to that N. Used by tools/bench_simulate.sh.
#include <sys/resource.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "grf_simulator.h"
#include "lnpsaxs/q_grid.h"

using namespace lnpsaxs;

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::printf("usage: lnpsaxs-bench-simulate N [THREADS=1] [REPS=3]\n");
    return argc < 2 ? 2 : 0;
  }
  const std::int64_t n = std::atoll(argv[1]);
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  at::set_num_threads(threads);
  sim::GridSpec g;
  g.n = n;
  g.dx = 2560.0 / static_cast<double>(n);
  g.n_fft = 2 * n;
  const auto q = linear_q_grid(0.001, std::min(0.2, M_PI / g.dx), 300);
  using clock = std::chrono::steady_clock;
  auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  const auto t0 = clock::now();
  const sim::GrfSimulator simulator(g, q, c10::Device(c10::kCPU));
  const auto t1 = clock::now();
  sim::Structure s;
  s.radius = std::min(250.0, simulator.max_radius());
  s.shell_thickness = 50;
  s.rho_rel = 1.1;
  s.delta_rho_int = -0.2;
  s.w = 0.4;
  s.m_q1 = 0.08;
  s.m_q2 = 0.12;
  s.s_q1 = 0.02;
  s.s_q2 = 0.05;
  simulator.realisation(s, 1);  // warm-up: plans, allocations
  double best = 1e300, sum = 0, best_cpu = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto a = clock::now();
    const std::clock_t ca = std::clock();
    simulator.realisation(s, 2 + static_cast<std::uint64_t>(r));
    const std::clock_t cb = std::clock();
    const auto b = clock::now();
    best = std::min(best, ms(a, b));
    sum += ms(a, b);
    best_cpu = std::min(best_cpu, 1000.0 * static_cast<double>(cb - ca) / CLOCKS_PER_SEC);
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("N=%-4lld dx=%5.2f A  N_f=%-5lld threads=%d  setup %8.1f ms  realisation min %9.1f ms  mean %9.1f ms  "
              "cpu %9.1f ms  peak RSS %7.0f MB\n",
              static_cast<long long>(n), g.dx, static_cast<long long>(g.n_fft), threads, ms(t0, t1), best, sum / reps,
              best_cpu, static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
