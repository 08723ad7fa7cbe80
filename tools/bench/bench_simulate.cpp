// lnpsaxs-bench-simulate: time and peak memory of one GRF realisation on this CPU, beside the
// floor measured in the same process.
//   lnpsaxs-bench-simulate N [THREADS=1] [REPS=3] [BACKEND=cpu|torch|both] [WISDOM_DIR]
// Grid: N³ voxels of Δx = 2560/N Å (the paper's 2560 Å box), N_f = 2N, 300 q on [0.001, 0.2]
// (capped at the Nyquist limit). The floor (cpu backend, printed first): one FFTW single-precision
// C2R of N³ in place at FFTW_MEASURE on one thread, and one streaming read + write pass over N³
// floats; the cpu realisation is printed as a ratio to (C2R + 3 passes), the issue-15 bound being
// 1.5. Run each N in its own process so that the peak resident memory (getrusage) belongs to that
// N (the floor's buffer is freed before the simulator is built and is smaller than its field).
// WISDOM_DIR keeps the FFTW plans between runs (the 512³ floor plan takes seconds to measure).
// Used by tools/bench_simulate.sh.
#include <ATen/Parallel.h>
#include <fftw3.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "models/simulator/cpu/grf_cpu.h"
#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/q_grid.h"

using namespace lnpsaxs;

namespace {
using Clock = std::chrono::steady_clock;
double ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

struct Floor {
  double c2r_ms = 0, pass_ms = 0;          // wall, minimum over the repeats
  double c2r_cpu_ms = 0, pass_cpu_ms = 0;  // process CPU time, minimum over the repeats
};
double cpu_now_ms() { return 1000.0 * static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

/// The floor's two operations on one N³ buffer: an in-place FFTW C2R (FFTW_MEASURE, 1 thread; plan
/// kept as wisdom in WISDOM_DIR) and a read + write pass over N³ floats.
class FloorBench {
 public:
  FloorBench(std::int64_t n, const std::string& wisdom) : n_(n) {
    nh_ = static_cast<std::size_t>(n / 2 + 1);
    cols_ = static_cast<std::size_t>(n * n);
    buf_ = static_cast<fftwf_complex*>(fftwf_malloc(cols_ * nh_ * sizeof(fftwf_complex)));
    const std::string file = wisdom.empty() ? "" : wisdom + "/bench-floor-N" + std::to_string(n) + "-f32.wisdom";
    if (!file.empty()) fftwf_import_wisdom_from_filename(file.c_str());
    const int ni = static_cast<int>(n);
    const auto t0 = Clock::now();
    plan_ = fftwf_plan_dft_c2r_3d(ni, ni, ni, buf_, reinterpret_cast<float*>(buf_), FFTW_MEASURE);
    plan_s = ms(t0, Clock::now()) / 1000.0;
    if (!file.empty()) fftwf_export_wisdom_to_filename(file.c_str());
  }
  ~FloorBench() {
    fftwf_destroy_plan(plan_);
    fftwf_free(buf_);
  }
  FloorBench(const FloorBench&) = delete;
  FloorBench& operator=(const FloorBench&) = delete;
  double plan_s = 0;
  /// One C2R of a fresh valid spectrum (the filling is not timed): {wall, cpu} ms.
  std::pair<double, double> c2r() {
    for (std::size_t e = 0; e < cols_ * nh_; ++e) {  // C2R destroys its input
      buf_[e][0] = static_cast<float>((e * 2654435761u) % 1000) * 1e-3f;
      buf_[e][1] = 0.0f;
    }
    const auto a = Clock::now();
    const double ca = cpu_now_ms();
    fftwf_execute(plan_);
    return {ms(a, Clock::now()), cpu_now_ms() - ca};
  }
  /// One streaming read + write pass over the first N³ floats: {wall, cpu} ms.
  std::pair<double, double> pass() {
    auto* r = reinterpret_cast<float*>(buf_);
    const std::size_t total = cols_ * static_cast<std::size_t>(n_);
    const auto a = Clock::now();
    const double ca = cpu_now_ms();
    for (std::size_t e = 0; e < total; ++e) r[e] = r[e] * 0.5f + 1.0f;
    const std::pair<double, double> t{ms(a, Clock::now()), cpu_now_ms() - ca};
    volatile float sink = r[total / 2];
    (void)sink;
    return t;
  }

 private:
  std::int64_t n_;
  std::size_t nh_ = 0, cols_ = 0;
  fftwf_complex* buf_ = nullptr;
  fftwf_plan plan_ = nullptr;
};

/// The floor, minimum over `reps` runs of each operation (after one warm-up).
Floor measure_floor(std::int64_t n, int reps, const std::string& wisdom) {
  FloorBench fb(n, wisdom);
  Floor f{1e300, 1e300, 1e300, 1e300};
  for (int k = 0; k < reps + 1; ++k) {
    const auto [w, c] = fb.c2r();
    if (k > 0) f.c2r_ms = std::min(f.c2r_ms, w), f.c2r_cpu_ms = std::min(f.c2r_cpu_ms, c);
  }
  for (int k = 0; k < reps + 1; ++k) {
    const auto [w, c] = fb.pass();
    if (k > 0) f.pass_ms = std::min(f.pass_ms, w), f.pass_cpu_ms = std::min(f.pass_cpu_ms, c);
  }
  std::printf(
      "N=%-4lld floor (1 thread, wall / cpu): FFTW C2R of N^3 %8.1f / %8.1f ms (FFTW_MEASURE plan %.1f s), "
      "one streaming read+write pass %7.1f / %7.1f ms, C2R + 3 passes %8.1f / %8.1f ms\n",
      static_cast<long long>(n), f.c2r_ms, f.c2r_cpu_ms, fb.plan_s, f.pass_ms, f.pass_cpu_ms,
      f.c2r_ms + 3 * f.pass_ms, f.c2r_cpu_ms + 3 * f.pass_cpu_ms);
  return f;
}

sim::Structure particle(double max_radius) {
  sim::Structure s;
  s.radius = std::min(250.0, max_radius);
  s.shell_thickness = 50;
  s.rho_rel = 1.1;
  s.delta_rho_int = -0.2;
  s.w = 0.4;
  s.m_q1 = 0.08;
  s.m_q2 = 0.12;
  s.s_q1 = 0.02;
  s.s_q2 = 0.05;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::printf(
        "usage: lnpsaxs-bench-simulate N [THREADS=1] [REPS=3] [BACKEND=cpu|torch|both] [WISDOM_DIR]\n");
    return argc < 2 ? 2 : 0;
  }
  const std::int64_t n = std::atoll(argv[1]);
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  const std::string backend = argc > 4 ? argv[4] : "cpu";
  const std::string wisdom = argc > 5 ? argv[5] : "";
  if (backend != "cpu" && backend != "torch" && backend != "both") {
    std::fprintf(stderr, "lnpsaxs-bench-simulate: BACKEND must be cpu, torch or both, got '%s'\n",
                 backend.c_str());
    return 2;
  }
  at::set_num_threads(threads);
  sim::GridSpec g;
  g.n = n;
  g.dx = 2560.0 / static_cast<double>(n);
  g.n_fft = 2 * n;
  const auto q = linear_q_grid(0.001, std::min(0.2, M_PI / g.dx), 300);

  if (backend != "torch") {
    const Floor floor = measure_floor(n, reps, wisdom);
    const auto t0 = Clock::now();
    const sim::GrfSimulatorCpu simulator(g, q, sim::Interior::grf, sim::CpuOptions{threads, wisdom});
    const auto t1 = Clock::now();
    const sim::Structure s = particle(simulator.max_radius());
    simulator.realisation(s, 1);  // warm-up
    double best = 1e300, sum = 0, best_cpu = 1e300;
    for (int r = 0; r < reps; ++r) {
      const auto a = Clock::now();
      const std::clock_t ca = std::clock();
      simulator.realisation(s, 2 + static_cast<std::uint64_t>(r));
      const std::clock_t cb = std::clock();
      const auto b = Clock::now();
      best = std::min(best, ms(a, b));
      sum += ms(a, b);
      best_cpu = std::min(best_cpu, 1000.0 * static_cast<double>(cb - ca) / CLOCKS_PER_SEC);
    }
    const sim::CpuStageTimes st = simulator.time_realisation(s, 100, reps);
    const double bound = floor.c2r_ms + 3 * floor.pass_ms;
    const double bound_cpu = floor.c2r_cpu_ms + 3 * floor.pass_cpu_ms;
    std::printf(
        "N=%-4lld dx=%5.2f A  N_f=%-5lld threads=%d  backend cpu    setup %8.1f ms  realisation min %9.1f ms "
        " "
        "mean %9.1f ms  cpu %9.1f ms  = %.2f x (C2R + 3 passes) wall, %.2f x cpu (bound 1.5)  peak RSS %7.0f "
        "MB\n",
        static_cast<long long>(n), g.dx, static_cast<long long>(g.n_fft), threads, ms(t0, t1), best,
        sum / reps, best_cpu, best / bound, best_cpu / (threads * bound_cpu), peak_rss_mb());
    std::printf(
        "N=%-4lld   phases (median of %d, wall / cpu): noise+filter+FFT axis 0 %7.1f / %7.1f ms, plane "
        "C2R+logistic+sums %7.1f / %7.1f ms, 2-D stage %6.1f / %6.1f ms\n",
        static_cast<long long>(n), st.repeats, st.spectrum_fft0_ms, st.spectrum_fft0_cpu_ms, st.planes_ms,
        st.planes_cpu_ms, st.two_d_ms, st.two_d_cpu_ms);
    // Interleaved: the floor and a realisation one after the other in every repeat, so that both
    // see the same machine (on a shared VM the speed drifts by ±20 % within a minute, enough to
    // swing a ratio measured in two separate windows). The floor's buffer now coexists with the
    // simulator's field: the peak RSS above was taken before it.
    if (threads == 1) {
      FloorBench fb(n, wisdom);
      std::vector<double> ratio;
      for (int r = 0; r < reps + 1; ++r) {
        const double c2r = fb.c2r().first;
        const double pass = fb.pass().first;
        const auto a = Clock::now();
        simulator.realisation(s, 1000 + static_cast<std::uint64_t>(r));
        const double real = ms(a, Clock::now());
        if (r > 0) ratio.push_back(real / (c2r + 3 * pass));
      }
      std::sort(ratio.begin(), ratio.end());
      std::printf("N=%-4lld   interleaved (%d repeats: C2R, pass, realisation): realisation / (C2R + 3 passes) median %.2f, "
                  "range %.2f to %.2f (bound 1.5)\n",
                  static_cast<long long>(n), reps, ratio[ratio.size() / 2], ratio.front(), ratio.back());
    }
  }
  if (backend != "cpu") {
    const auto t0 = Clock::now();
    const sim::GrfSimulator simulator(g, q, c10::Device(c10::kCPU));
    const auto t1 = Clock::now();
    const sim::Structure s = particle(simulator.max_radius());
    simulator.realisation(s, 1);
    double best = 1e300, sum = 0, best_cpu = 1e300;
    for (int r = 0; r < reps; ++r) {
      const auto a = Clock::now();
      const std::clock_t ca = std::clock();
      simulator.realisation(s, 2 + static_cast<std::uint64_t>(r));
      const std::clock_t cb = std::clock();
      const auto b = Clock::now();
      best = std::min(best, ms(a, b));
      sum += ms(a, b);
      best_cpu = std::min(best_cpu, 1000.0 * static_cast<double>(cb - ca) / CLOCKS_PER_SEC);
    }
    std::printf(
        "N=%-4lld dx=%5.2f A  N_f=%-5lld threads=%d  backend torch  setup %8.1f ms  realisation min %9.1f ms "
        " "
        "mean %9.1f ms  cpu %9.1f ms  peak RSS %7.0f MB\n",
        static_cast<long long>(n), g.dx, static_cast<long long>(g.n_fft), threads, ms(t0, t1), best,
        sum / reps, best_cpu, peak_rss_mb());
  }
  return 0;
}
