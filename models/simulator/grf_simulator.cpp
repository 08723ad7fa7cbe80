#include "models/simulator/grf_simulator.h"

// Per-operator ATen headers instead of <torch/torch.h>: this file compiles in a few seconds.
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/fft_irfft2.h>
#include <ATen/ops/fft_irfftn.h>
#include <ATen/ops/fft_rfft2.h>
#include <ATen/ops/fft_rfftn.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/std_mean.h>
#include <ATen/ops/take.h>
#include <ATen/ops/view_as_real.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "models/simulator/cuda/grf_cuda_noise.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/physics/form_factor.h"

namespace lnpsaxs::sim {
namespace {

constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void fail(const std::string& what) { throw InputError(what); }

template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

bool finite(double v) { return std::isfinite(v); }

/// For every column (i, j) of the N×N grid, the largest m ≥ 0 with x² + y² + (mΔx)² ≤ R²
/// (voxel centres x = (i − N/2)·Δx, the `≤` of docs/method.md §3.4), or −1 if the column
/// misses the sphere. The column then holds the voxels N/2 − m … N/2 + m: 2m + 1 of them.
std::vector<std::int32_t> column_half_extents(std::int64_t n, double dx, double radius) {
  std::vector<std::int32_t> m(static_cast<std::size_t>(n * n), -1);
  const double r2 = radius * radius;
  for (std::int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(i - n / 2) * dx;
    for (std::int64_t j = 0; j < n; ++j) {
      const double y = static_cast<double>(j - n / 2) * dx;
      const double xy = x * x + y * y;
      if (!(xy <= r2)) continue;
      auto inside = [&](std::int64_t k) {
        const double z = static_cast<double>(k) * dx;
        return xy + z * z <= r2;
      };
      auto k = static_cast<std::int64_t>(std::floor(std::sqrt(r2 - xy) / dx));
      while (inside(k + 1)) ++k;  // sqrt/floor may land one off the exact `≤` boundary
      while (k > 0 && !inside(k)) --k;
      m[static_cast<std::size_t>(i * n + j)] = static_cast<std::int32_t>(k);
    }
  }
  return m;
}

at::Tensor cpu_tensor(const std::vector<double>& v, at::IntArrayRef sizes) {
  return at::from_blob(const_cast<double*>(v.data()), sizes, at::TensorOptions().dtype(at::kDouble)).clone();
}

/// Mean and (if with_sd) population SD of a contiguous float array, accumulated in double over
/// fixed chunks combined in order, so the result does not depend on the thread count (torch's CPU
/// reductions split by thread). Two passes: mean, then Σ(x − mean)². ~10× faster than at::std_mean.
std::pair<double, double> population_moments(const float* x, std::int64_t n, bool with_sd) {
  constexpr std::int64_t kChunk = 1 << 16;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<std::size_t>(chunks));
  auto chunk_sum = [&](auto&& term) {
    at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < end; ++c) {
        double acc = 0.0;
        const std::int64_t hi = std::min(n, (c + 1) * kChunk);
        for (std::int64_t i = c * kChunk; i < hi; ++i) acc += term(static_cast<double>(x[i]));
        part[static_cast<std::size_t>(c)] = acc;
      }
    });
    return std::accumulate(part.begin(), part.end(), 0.0);
  };
  const double mean = chunk_sum([](double v) { return v; }) / static_cast<double>(n);
  if (!with_sd) return {mean, 0.0};
  const double m2 = chunk_sum([mean](double v) { return (v - mean) * (v - mean); });
  return {mean, std::sqrt(m2 / static_cast<double>(n))};
}

/// Standard FFT ordering of a length-n axis: index i ↔ frequency i (i < n/2) or i − n.
std::int64_t signed_frequency(std::int64_t i, std::int64_t n) { return i < n / 2 ? i : i - n; }

}  // namespace

// ---- random numbers ------------------------------------------------------------------------------

std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> c, std::array<std::uint32_t, 2> key) {
  // The one Philox of the simulator: the host/device function of the cpu and CUDA backends.
  const grf_noise::Words w = grf_noise::philox(c[0], c[1], c[2], c[3], key[0], key[1]);
  return {w.w[0], w.w[1], w.w[2], w.w[3]};
}

namespace {

#if defined(_OPENMP)
#define LNPSAXS_SIMD _Pragma("omp simd")
#else
#define LNPSAXS_SIMD
#endif


/// normal_pair over arrays: z0[i], z1[i] from a[i], b[i] — grf_noise::normal_pair, the one
/// Box–Muller of every backend (the loop vectorises; -fno-math-errno for the sqrt is set in CMake).
void box_muller(const std::uint32_t* wa, const std::uint32_t* wb, float* z0, float* z1, std::int64_t count) {
  LNPSAXS_SIMD
  for (std::int64_t i = 0; i < count; ++i) {
    const grf_noise::Normal2 z = grf_noise::normal_pair(wa[i], wb[i]);
    z0[i] = z.z0;
    z1[i] = z.z1;
  }
}

}  // namespace

std::array<float, 2> normal_pair(std::uint32_t a, std::uint32_t b) {
  std::array<float, 2> z{};
  box_muller(&a, &b, &z[0], &z[1], 1);
  return z;
}

at::Tensor white_noise(std::int64_t n, std::uint64_t key) {
  if (n < 1) fail(cat("white_noise: n must be >= 1, got ", n));
  const std::int64_t total = n * n * n;
  at::Tensor w = at::empty({n, n, n}, at::TensorOptions().dtype(at::kFloat));
  float* out = w.data_ptr<float>();
  const std::array<std::uint32_t, 2> k = {static_cast<std::uint32_t>(key),
                                          static_cast<std::uint32_t>(key >> 32)};
  // Batches of kBatch Philox blocks: scalar Philox into word arrays, then a vectorised
  // Box–Muller. Each value depends only on (element index, key): any thread count, same field.
  constexpr std::int64_t kBatch = 128;
  const std::int64_t blocks = (total + 3) / 4;
  const std::int64_t batches = (blocks + kBatch - 1) / kBatch;
  at::parallel_for(0, batches, 64, [&](std::int64_t begin, std::int64_t end) {
    std::uint32_t wa[2 * kBatch], wb[2 * kBatch];
    float z0[2 * kBatch], z1[2 * kBatch];
    for (std::int64_t batch = begin; batch < end; ++batch) {
      const std::int64_t first = batch * kBatch;
      for (std::int64_t j = 0; j < kBatch; ++j) {
        const auto b = static_cast<std::uint64_t>(first + j);
        const auto x =
            philox4x32_10({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32), 0u, 0u}, k);
        wa[2 * j] = x[0];
        wb[2 * j] = x[1];
        wa[2 * j + 1] = x[2];
        wb[2 * j + 1] = x[3];
      }
      box_muller(wa, wb, z0, z1, 2 * kBatch);
      const std::int64_t e0 = 4 * first;
      const std::int64_t count = std::min<std::int64_t>(4 * kBatch, total - e0);
      for (std::int64_t j = 0; j + 1 < count; j += 2) {
        out[e0 + j] = z0[j / 2];
        out[e0 + j + 1] = z1[j / 2];
      }
      if (count % 2 == 1) out[e0 + count - 1] = z0[count / 2];
    }
  });
  return w;
}

// ---- construction --------------------------------------------------------------------------------

GrfSimulator::GrfSimulator(GridSpec grid, std::vector<double> q, c10::Device device, Interior interior)
    : grid_(grid), q_(std::move(q)), device_(device), interior_(interior) {
  const std::int64_t n = grid_.n, nf = grid_.n_fft;
  if (n < 8 || n % 2 != 0) fail(cat("simulation grid: n must be even and >= 8, got ", n));
  if (nf < n || nf % 2 != 0) fail(cat("simulation grid: n_fft must be even and >= n = ", n, ", got ", nf));
  if (!(grid_.dx > 0.0) || !finite(grid_.dx)) fail(cat("simulation grid: dx must be > 0 Å, got ", grid_.dx));
  if (!(grid_.smooth_sigma_px >= 0.0) || !finite(grid_.smooth_sigma_px))
    fail(cat("simulation grid: smooth_sigma_px must be >= 0, got ", grid_.smooth_sigma_px));
  if (!(grid_.radial_sigma > 0.0) || !finite(grid_.radial_sigma))
    fail(cat("simulation grid: radial_sigma must be > 0, got ", grid_.radial_sigma));
  if (q_.empty()) fail("simulation q grid is empty");
  for (const double qk : q_) {
    if (!(qk > 0.0) || !finite(qk)) fail(cat("simulation q grid: q = ", qk, " Å⁻¹ is not > 0"));
    if (qk > nyquist_q() * (1.0 + 1e-12))
      fail(cat("simulation q grid: q_max = ", qk, " Å⁻¹ exceeds the grid's Nyquist limit π/Δx = ",
               nyquist_q(), " Å⁻¹ (Δx = ", grid_.dx, " Å); lower q_max or Δx"));
  }

  // Radial-average weights (docs/method.md §3.6) over the rfft half-plane: every full-plane
  // pixel k has weight g(|q_k| − q)/|q_k|; a half-plane column j ∉ {0, N_f/2} also stands for its
  // mirror −k (|F(−k)|² = |F(k)|² for a real image), hence multiplicity 2. Instead of the reference
  // code's top-1024 cells we keep every pixel within ±kRadialCutoffSigmas·σ_q of q.
  const std::int64_t nh = nf / 2 + 1;
  const double dq2 = delta_q_2d();
  struct Pixel {
    double q;
    std::int64_t index;
    double mult;
  };
  std::vector<Pixel> pixels;
  pixels.reserve(static_cast<std::size_t>(nf * nh));
  for (std::int64_t i = 0; i < nf; ++i) {
    const double ky = static_cast<double>(signed_frequency(i, nf));
    for (std::int64_t j = 0; j < nh; ++j) {
      if (i == 0 && j == 0) continue;  // q = 0: excluded (it holds the padding constant)
      const double kx = static_cast<double>(j);
      const double mult = (j == 0 || j == nf / 2) ? 1.0 : 2.0;
      pixels.push_back({dq2 * std::sqrt(kx * kx + ky * ky), i * nh + j, mult});
    }
  }
  std::sort(pixels.begin(), pixels.end(),
            [](const Pixel& a, const Pixel& b) { return a.q < b.q || (a.q == b.q && a.index < b.index); });
  const double sigma_q = grid_.radial_sigma * dq2;
  const double half = kRadialCutoffSigmas * sigma_q;
  const auto nq = static_cast<std::int64_t>(q_.size());
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  std::size_t k_max = 1;
  for (const double qk : q_) {
    const auto lo = std::lower_bound(pixels.begin(), pixels.end(), qk - half,
                                     [](const Pixel& p, double v) { return p.q < v; });
    const auto hi = std::upper_bound(pixels.begin(), pixels.end(), qk + half,
                                     [](double v, const Pixel& p) { return v < p.q; });
    ranges.emplace_back(lo - pixels.begin(), hi - pixels.begin());
    k_max = std::max<std::size_t>(k_max, hi - lo);
  }
  const auto kk = static_cast<std::int64_t>(k_max);
  std::vector<std::int64_t> idx(static_cast<std::size_t>(nq * kk), 0);
  std::vector<double> wt(static_cast<std::size_t>(nq * kk), 0.0);
  for (std::int64_t r = 0; r < nq; ++r) {
    const auto [b, e] = ranges[static_cast<std::size_t>(r)];
    if (b == e) fail(cat("simulation q grid: no pixel of the 2-D FFT lies near q = ", q_[r], " Å⁻¹"));
    double total = 0.0;
    for (std::size_t p = b; p < e; ++p) {
      const double u = (pixels[p].q - q_[r]) / sigma_q;
      const double g = pixels[p].mult * std::exp(-0.5 * u * u) / pixels[p].q;
      idx[r * kk + (p - b)] = pixels[p].index;
      wt[r * kk + (p - b)] = g;
      total += g;
    }
    for (std::size_t p = b; p < e; ++p) wt[r * kk + (p - b)] /= total;
  }
  radial_index_ =
      at::from_blob(idx.data(), {nq, kk}, at::TensorOptions().dtype(at::kLong)).clone().to(device_);
  radial_weight_ = cpu_tensor(wt, {nq, kk}).to(device_);

  // 2-D smoothing factor exp(−½σ²|k|²), k in rad/pixel on the N-grid (§3.4 step 6).
  const std::int64_t nhalf = n / 2 + 1;
  std::vector<double> sm(static_cast<std::size_t>(n * nhalf));
  for (std::int64_t i = 0; i < n; ++i) {
    const double ky = 2.0 * kPi * static_cast<double>(signed_frequency(i, n)) / n;
    for (std::int64_t j = 0; j < nhalf; ++j) {
      const double kx = 2.0 * kPi * static_cast<double>(j) / n;
      const double s = grid_.smooth_sigma_px;
      sm[i * nhalf + j] = std::exp(-0.5 * s * s * (kx * kx + ky * ky));
    }
  }
  smooth_factor_ = cpu_tensor(sm, {n, nhalf}).to(device_);

  if (interior_ == Interior::grf) {
    // |k|² in integer units for every mode of the 3-D rfft layout; the filter is a table lookup,
    // so P is evaluated in double once per distinct |k|.
    const auto opts = at::TensorOptions().dtype(at::kInt).device(device_);
    at::Tensor f = at::arange(n, opts);
    f = at::where(f < n / 2, f, f - n);
    const at::Tensor f2 = f * f;
    const at::Tensor c = at::arange(nhalf, opts);
    r2_index_ = f2.view({n, 1, 1}) + f2.view({1, n, 1}) + (c * c).view({1, 1, nhalf});
  }
}

double GrfSimulator::delta_q_3d() const { return 2.0 * kPi / (grid_.n * grid_.dx); }
double GrfSimulator::delta_q_2d() const { return 2.0 * kPi / (grid_.n_fft * grid_.dx); }
double GrfSimulator::nyquist_q() const { return kPi / grid_.dx; }
std::int64_t GrfSimulator::margin_px() const {
  return static_cast<std::int64_t>(std::ceil(3.0 * grid_.smooth_sigma_px)) + 1;
}
double GrfSimulator::max_radius() const {
  return static_cast<double>(grid_.n / 2 - 1 - margin_px()) * grid_.dx;
}

void GrfSimulator::validate(const Structure& s) const {
  if (!(s.radius > 0.0) || !finite(s.radius)) fail(cat("structure: radius must be > 0 Å, got ", s.radius));
  if (s.radius > max_radius())
    fail(cat("structure: radius ", s.radius, " Å does not fit the simulation grid N = ", grid_.n,
             ", Δx = ", grid_.dx, " Å (box ", grid_.n * grid_.dx, " Å): the particle (diameter ",
             2 * s.radius, " Å) plus ", margin_px(),
             " px of smoothing margin per side needs r <= ", max_radius(), " Å; increase N or Δx"));
  if (!(s.shell_thickness >= 0.0 && s.shell_thickness <= s.radius))
    fail(cat("structure: shell_thickness must lie in [0, radius = ", s.radius, "] Å, got ",
             s.shell_thickness));
  if (!finite(s.rho_rel)) fail(cat("structure: rho_rel must be finite, got ", s.rho_rel));
  if (!finite(s.delta_rho_int)) fail(cat("structure: delta_rho_int must be finite, got ", s.delta_rho_int));
  if (interior_ == Interior::grf) validate_grf_spectrum(s);
}

void validate_grf_spectrum(const Structure& s) {
  if (!(s.w >= 0.0 && s.w <= 1.0)) fail(cat("structure: w must lie in [0, 1], got ", s.w));
  const std::pair<const char*, double> pos[] = {
      {"m_q1", s.m_q1}, {"m_q2", s.m_q2}, {"s_q1", s.s_q1}, {"s_q2", s.s_q2}};
  for (const auto& [name, v] : pos)
    if (!(v > 0.0) || !finite(v)) fail(cat("structure: ", name, " must be > 0 Å⁻¹, got ", v));
}

void require_shared_field(const std::vector<Structure>& particles, std::size_t n_keys, bool grf) {
  if (particles.empty()) fail("simulation: no particles given");
  if (n_keys == 0) fail("simulation: zero realisations requested (n_realisations must be >= 1)");
  if (!grf) return;
  const Structure& s0 = particles.front();
  for (std::size_t k = 1; k < particles.size(); ++k) {
    const Structure& s = particles[k];
    if (s.w != s0.w || s.m_q1 != s0.m_q1 || s.m_q2 != s0.m_q2 || s.s_q1 != s0.s_q1 || s.s_q2 != s0.s_q2)
      fail(cat("mean_intensities: the particles must share the GRF spectrum (w, m_q1, m_q2, s_q1, s_q2); particle ",
               k, " has w = ", s.w, ", m_q1 = ", s.m_q1, ", m_q2 = ", s.m_q2, ", s_q1 = ", s.s_q1, ", s_q2 = ", s.s_q2,
               " (particle 0: w = ", s0.w, ", ...)"));
  }
}

std::vector<float> spectral_filter_table(std::int64_t n, double delta_q_3d, const Structure& s) {
  const std::int64_t r2_max = 3 * (n / 2) * (n / 2);
  std::vector<float> table(static_cast<std::size_t>(r2_max + 1), 0.0f);  // [0] = DC = 0
  for (std::int64_t r2 = 1; r2 <= r2_max; ++r2) {
    const double qq = delta_q_3d * std::sqrt(static_cast<double>(r2));
    table[static_cast<std::size_t>(r2)] =
        static_cast<float>(std::sqrt(physics::grf_power_spectrum(qq, s.w, s.m_q1, s.s_q1, s.m_q2, s.s_q2)));
  }
  return table;
}

// ---- pipeline ------------------------------------------------------------------------------------

at::Tensor GrfSimulator::spectral_filter(const Structure& s) const {
  if (interior_ != Interior::grf) fail("spectral_filter: the simulator has a homogeneous interior");
  validate(s);
  at::NoGradGuard no_grad;
  const std::int64_t n = grid_.n;
  std::vector<float> table = spectral_filter_table(n, delta_q_3d(), s);
  const auto size = static_cast<std::int64_t>(table.size());
  const at::Tensor t =
      at::from_blob(table.data(), {size}, at::TensorOptions().dtype(at::kFloat)).clone().to(device_);
  return t.index_select(0, r2_index_.reshape({-1})).view({n, n, n / 2 + 1});
}

at::Tensor GrfSimulator::field_from_filter(const at::Tensor& filter, std::uint64_t key) const {
  const std::int64_t n = grid_.n;
  at::Tensor spectrum;
  {
    const at::Tensor w = white_noise(n, key).to(device_);
    spectrum = at::fft_rfftn(w);
  }  // the noise is freed here: peak memory is one real field + one half spectrum
  spectrum.mul_(filter);
  at::Tensor g = at::fft_irfftn(spectrum, at::IntArrayRef{n, n, n});
  spectrum.reset();
  double mean = 0.0, sd = 0.0;
  if (g.is_cpu() && g.is_contiguous() && g.scalar_type() == at::kFloat) {
    std::tie(mean, sd) = population_moments(g.data_ptr<float>(), g.numel(), /*with_sd=*/true);
  } else {
    at::Tensor sd_t, mean_t;
    std::tie(sd_t, mean_t) = at::std_mean(g, /*unbiased=*/false);
    mean = mean_t.item<double>();
    sd = sd_t.item<double>();
  }
  if (!(sd > 0.0) || !std::isfinite(sd))
    fail(cat("GRF: the spectrum P(q) has no power on the 3-D grid (|q| from ", delta_q_3d(), " to ",
             std::sqrt(3.0) * nyquist_q(), " Å⁻¹); check m_q1, s_q1, m_q2, s_q2, w"));
  return g.sub_(mean).div_(sd);
}

at::Tensor GrfSimulator::standardised_field(const Structure& s, std::uint64_t key) const {
  at::NoGradGuard no_grad;
  return field_from_filter(spectral_filter(s), key);
}

at::Tensor GrfSimulator::projection_from_field(const Structure& s, at::Tensor field) const {
  const std::int64_t n = grid_.n;
  const std::vector<std::int32_t> outer = column_half_extents(n, grid_.dx, s.radius);
  const std::vector<std::int32_t> core = column_half_extents(n, grid_.dx, s.radius - s.shell_thickness);
  const physics::CoreShellContrast c = physics::core_shell_contrast(s.rho_rel, s.delta_rho_int);
  // Columns through a homogeneous part: (#core voxels)·Δρ_c + (#shell voxels)·Δρ_s. The shell uses
  // mean(ρ_int) = 1 + delta_rho_int exactly (the reference computes it in float32: ~1e-7 apart).
  std::vector<double> base(static_cast<std::size_t>(n * n));
  for (std::size_t p = 0; p < base.size(); ++p) {
    const double n_outer = outer[p] >= 0 ? 2.0 * outer[p] + 1.0 : 0.0;
    const double n_core = core[p] >= 0 ? 2.0 * core[p] + 1.0 : 0.0;
    base[p] = n_core * c.core + (n_outer - n_core) * c.shell;
  }
  at::Tensor projection = cpu_tensor(base, {n, n}).to(device_);
  if (!field.defined()) return projection;

  // GRF core: add Σ_z (S − mean S) over the core voxels of each column, on the core's bounding cube.
  at::Tensor sg = field.sigmoid_();
  const at::Tensor mean_s =
      sg.is_cpu() && sg.is_contiguous() && sg.scalar_type() == at::kFloat
          ? at::scalar_tensor(population_moments(sg.data_ptr<float>(), sg.numel(), false).first,
                              at::TensorOptions().dtype(at::kFloat))
          : sg.mean();
  const std::int32_t mc = core[static_cast<std::size_t>((n / 2) * n + n / 2)];
  const std::int64_t lo = n / 2 - mc, len = 2 * static_cast<std::int64_t>(mc) + 1;
  std::vector<std::int32_t> crop(static_cast<std::size_t>(len * len));
  for (std::int64_t i = 0; i < len; ++i)
    for (std::int64_t j = 0; j < len; ++j)
      crop[i * len + j] = core[static_cast<std::size_t>((lo + i) * n + lo + j)];
  const auto int_opts = at::TensorOptions().dtype(at::kInt);
  const at::Tensor extent = at::from_blob(crop.data(), {len, len, 1}, int_opts).clone().to(device_);
  const at::Tensor dz = (at::arange(len, int_opts.device(device_)) - mc).abs_().view({1, 1, len});
  const at::Tensor mask = dz <= extent;  // [len, len, len] bool: the core voxels
  at::Tensor cube = sg.narrow(0, lo, len).narrow(1, lo, len).narrow(2, lo, len);
  const at::Tensor core_sum = cube.sub_(mean_s).mul_(mask).sum(-1);
  projection.narrow(0, lo, len).narrow(1, lo, len).add_(core_sum.to(at::kDouble));
  return projection;
}

at::Tensor GrfSimulator::contrast_projection(const Structure& s, std::uint64_t key) const {
  validate(s);
  at::NoGradGuard no_grad;
  if (interior_ == Interior::homogeneous) return projection_from_field(s, at::Tensor());
  return projection_from_field(s, standardised_field(s, key));
}

at::Tensor GrfSimulator::intensity_map(const at::Tensor& projection) const {
  const std::int64_t n = grid_.n, nf = grid_.n_fft;
  if (projection.dim() != 2 || projection.size(0) != n || projection.size(1) != n)
    fail(cat("intensity_map: expected a [", n, ", ", n, "] projection"));
  at::NoGradGuard no_grad;
  at::Tensor image = projection.to(device_, at::kDouble);
  if (grid_.smooth_sigma_px > 0.0)  // periodic smoothing on the N-grid, before padding (§3.4)
    image = at::fft_irfft2(at::fft_rfft2(image).mul_(smooth_factor_), at::IntArrayRef{n, n});
  const std::int64_t before = (nf - n) / 2, after = nf - n - before;
  const at::Tensor padded = at::constant_pad_nd(image, {before, after, before, after}, 0.0);
  return at::view_as_real(at::fft_rfft2(padded)).square().sum(-1);
}

at::Tensor GrfSimulator::radial_average(const at::Tensor& half_plane_map) const {
  at::NoGradGuard no_grad;
  const at::Tensor flat = half_plane_map.to(device_, at::kDouble).reshape({-1});
  if (flat.numel() != grid_.n_fft * (grid_.n_fft / 2 + 1))
    fail("radial_average: the map does not have the [n_fft, n_fft/2 + 1] half-plane layout");
  if (!flat.is_cpu()) return at::take(flat, radial_index_).mul_(radial_weight_).sum(-1);
  // CPU: a plain loop, summing each row in order (a torch reduction could split a row by thread).
  const at::Tensor src = flat.contiguous();
  const double* map = src.data_ptr<double>();
  const std::int64_t nq = radial_index_.size(0), kk = radial_index_.size(1);
  const std::int64_t* idx = radial_index_.data_ptr<std::int64_t>();
  const double* wt = radial_weight_.data_ptr<double>();
  at::Tensor out = at::empty({nq}, at::TensorOptions().dtype(at::kDouble));
  double* o = out.data_ptr<double>();
  at::parallel_for(0, nq, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      double acc = 0.0;
      for (std::int64_t j = 0; j < kk; ++j) acc += wt[r * kk + j] * map[idx[r * kk + j]];
      o[r] = acc;
    }
  });
  return out;
}

at::Tensor GrfSimulator::curve_from_projection(const at::Tensor& projection) const {
  return radial_average(intensity_map(projection));
}

at::Tensor GrfSimulator::realisation(const Structure& s, std::uint64_t key) const {
  return mean_intensity(s, {key});
}

at::Tensor GrfSimulator::mean_intensity(const Structure& s, const std::vector<std::uint64_t>& keys) const {
  validate(s);
  if (keys.empty()) fail("simulation: zero realisations requested (n_realisations must be >= 1)");
  at::NoGradGuard no_grad;
  if (interior_ == Interior::homogeneous)  // no randomness: every realisation is the same curve
    return curve_from_projection(projection_from_field(s, at::Tensor()));
  const at::Tensor filter = spectral_filter(s);
  at::Tensor sum;
  for (const std::uint64_t key : keys) {
    at::Tensor curve = curve_from_projection(projection_from_field(s, field_from_filter(filter, key)));
    sum = sum.defined() ? sum.add_(curve) : curve;
  }
  return keys.size() == 1 ? sum : sum.div_(static_cast<double>(keys.size()));
}

at::Tensor GrfSimulator::pixel_q() const {
  const std::int64_t nf = grid_.n_fft, nh = nf / 2 + 1;
  std::vector<double> v(static_cast<std::size_t>(nf * nh));
  for (std::int64_t i = 0; i < nf; ++i) {
    const double ky = static_cast<double>(signed_frequency(i, nf));
    for (std::int64_t j = 0; j < nh; ++j)
      v[i * nh + j] = delta_q_2d() * std::sqrt(static_cast<double>(j * j) + ky * ky);
  }
  return cpu_tensor(v, {nf, nh});
}

at::Tensor GrfSimulator::pixel_multiplicity() const {
  const std::int64_t nf = grid_.n_fft, nh = nf / 2 + 1;
  std::vector<double> v(static_cast<std::size_t>(nf * nh), 2.0);
  for (std::int64_t i = 0; i < nf; ++i) {
    v[i * nh] = 1.0;
    v[i * nh + nh - 1] = 1.0;
  }
  return cpu_tensor(v, {nf, nh});
}

std::vector<double> analytic_homogeneous_curve(const GridSpec& grid, const std::vector<double>& q,
                                               const Structure& s) {
  const double dq2 = 2.0 * kPi / (grid.n_fft * grid.dx);
  physics::RadialKernel1d kernel;
  kernel.sigma_q = grid.radial_sigma * dq2;
  kernel.cutoff_sigmas = kRadialCutoffSigmas;
  kernel.q_floor = 0.5 * dq2;
  const double dx6 = std::pow(grid.dx, 6);
  return physics::radial_kernel_average(
      [&](double qq) {
        return physics::core_shell_intensity(qq, s.radius, s.shell_thickness, s.rho_rel, s.delta_rho_int) *
               physics::smoothing_intensity_factor(qq, grid.dx, grid.smooth_sigma_px) / dx6;
      },
      q, kernel);
}

}  // namespace lnpsaxs::sim
