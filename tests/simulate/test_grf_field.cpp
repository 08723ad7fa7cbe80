// The GRF interior: white noise, spectrum filter, standardisation, masks and projection,
// determinism and the statistics of the realisation average (issue 3 acceptance).
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/fft_rfftn.h>
#include <ATen/ops/view_as_real.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/physics/form_factor.h"
#include "sim_test_util.h"

#include "doctest_torch.h"

namespace ph = lnpsaxs::physics;
using lnpsaxs::sim::GrfSimulator;
using lnpsaxs::sim::GridSpec;
using lnpsaxs::sim::Interior;
using lnpsaxs::sim::Structure;

using lnpsaxs::sim::test::kPi;
using lnpsaxs::sim::test::kCpu;
using lnpsaxs::sim::test::linspace;
using lnpsaxs::sim::test::to_vector;
using lnpsaxs::sim::test::grid;
using lnpsaxs::sim::test::grf_particle;

namespace {

/// Standard FFT frequency of index i on a length-n axis.
std::int64_t freq(std::int64_t i, std::int64_t n) { return i < n / 2 ? i : i - n; }

/// Shell-binned power of a real field: mean over the modes of |rfftn(f)|² in shells of width Δq
/// centred on integer multiples of Δq (bin b holds b − ½ ≤ |k| < b + ½). Returns mean power per bin.
std::vector<double> binned_power(const at::Tensor& field, std::int64_t n) {
  const at::Tensor p = at::view_as_real(at::fft_rfftn(field.to(at::kDouble))).square().sum(-1);
  const std::vector<double> v = to_vector(p);
  const std::int64_t nh = n / 2 + 1, bins = n / 2 + 1;
  std::vector<double> sum(static_cast<std::size_t>(bins), 0.0), cnt(sum);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t k = 0; k < nh; ++k) {
        const double kr = std::sqrt(double(freq(i, n) * freq(i, n) + freq(j, n) * freq(j, n) + k * k));
        const auto b = static_cast<std::int64_t>(std::floor(kr + 0.5));
        if (b >= bins) continue;
        const double mult = (k == 0 || k == n / 2) ? 1.0 : 2.0;
        sum[static_cast<std::size_t>(b)] += mult * v[static_cast<std::size_t>((i * n + j) * nh + k)];
        cnt[static_cast<std::size_t>(b)] += mult;
      }
  for (std::size_t b = 0; b < sum.size(); ++b) sum[b] = cnt[b] > 0 ? sum[b] / cnt[b] : 0.0;
  return sum;
}

}  // namespace

TEST_CASE("Philox4x32-10 reproduces the Random123 known-answer vectors") {
  using A4 = std::array<std::uint32_t, 4>;
  using lnpsaxs::sim::philox4x32_10;
  const A4 zero = philox4x32_10({0, 0, 0, 0}, {0, 0});
  CHECK((zero == A4{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  const A4 ones =
      philox4x32_10({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  CHECK((ones == A4{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  const A4 pi =
      philox4x32_10({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
  CHECK((pi == A4{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST_CASE("normal_pair: polynomial Box-Muller agrees with libm") {
  // Sweep the words (including the extremes); reference in double with libm.
  double max_err = 0;
  for (std::uint64_t i = 0; i < 200000; ++i) {
    const auto a = static_cast<std::uint32_t>(i * 2654435761u + (i == 1 ? 0xFFFFFFFFu : 0u));
    const auto b = static_cast<std::uint32_t>(i * 40503u * 65537u + 12345u);
    const double u =
        static_cast<double>(static_cast<float>(a) * 2.3283064365386963e-10f + 1.1641532182693481e-10f);
    const double theta = 2 * kPi * ((static_cast<double>(b) + 0.5) / 4294967296.0);
    const double r = std::sqrt(-2 * std::log(u));
    const auto z = lnpsaxs::sim::normal_pair(a, b);
    max_err =
        std::max({max_err, std::fabs(z[0] - r * std::cos(theta)), std::fabs(z[1] - r * std::sin(theta))});
  }
  MESSAGE("normal_pair vs libm: max |difference| = " << max_err);
  CHECK(max_err < 5e-6);
  const auto smallest = lnpsaxs::sim::normal_pair(0u, 0u);  // u = 2^-33: the largest radius
  CHECK(std::hypot(smallest[0], smallest[1]) == doctest::Approx(std::sqrt(66 * std::log(2.0))).epsilon(1e-6));
  const auto one = lnpsaxs::sim::normal_pair(0xFFFFFFFFu, 7u);  // u rounds to 1: radius 0
  CHECK(one[0] == 0.0f);
  CHECK(one[1] == 0.0f);
}

TEST_CASE("white noise: N(0,1), keyed by all 64 bits, the same for any thread count") {
  const std::int64_t n = 64;
  const int threads_before = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor a = lnpsaxs::sim::white_noise(n, 42);
  at::set_num_threads(2);
  const at::Tensor b = lnpsaxs::sim::white_noise(n, 42);
  at::set_num_threads(threads_before);
  CHECK(at::equal(a, b));
  CHECK((a.scalar_type() == at::kFloat));
  CHECK(a.device().is_cpu());
  // 262,144 values: SE of the mean 0.002, of the variance 0.003; 4-SE bounds.
  CHECK(std::fabs(a.mean().item<double>()) < 0.008);
  CHECK(std::fabs(a.var(false).item<double>() - 1.0) < 0.012);
  const double kurt = (a.pow(4)).mean().item<double>();
  CHECK(std::fabs(kurt - 3.0) < 0.04);
  // Kolmogorov–Smirnov distance to Φ: 1.95/√n = 0.0038 is the 0.1 % critical value.
  std::vector<double> v = to_vector(a);
  std::sort(v.begin(), v.end());
  double ks = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double phi = 0.5 * std::erfc(-v[i] / std::sqrt(2.0));
    ks = std::max({ks, std::fabs(phi - double(i) / double(v.size())),
                   std::fabs(phi - double(i + 1) / double(v.size()))});
  }
  MESSAGE("white noise: KS distance to N(0,1) = " << ks << " over " << v.size() << " values");
  CHECK(ks < 0.0038);
  // Keys differing only in their high 32 bits give unrelated fields (torch's mt19937 would not).
  const at::Tensor hi = lnpsaxs::sim::white_noise(n, 42 + (std::uint64_t{1} << 32));
  CHECK(!at::equal(a, hi));
  CHECK(std::fabs((a * hi).mean().item<double>()) < 0.008);
}

TEST_CASE("spectral filter and standardised field: DC removed, mean 0, variance 1") {
  const GridSpec spec = grid(64, 10.0, 128);
  const GrfSimulator sim(spec, {0.05}, kCpu);
  const Structure s = grf_particle();
  const at::Tensor filter = sim.spectral_filter(s);
  CHECK((filter.sizes() == at::IntArrayRef{64, 64, 33}));
  CHECK(filter[0][0][0].item<double>() == 0.0);
  // A mode (i, j, k) carries sqrt(P(Δq_3D·|k|)); check a few against the physics function.
  const double dq = sim.delta_q_3d();
  for (const auto& ijk :
       {std::array<int, 3>{3, 0, 0}, std::array<int, 3>{60, 5, 7}, std::array<int, 3>{32, 32, 32}}) {
    const double kk = std::sqrt(
        double(freq(ijk[0], 64) * freq(ijk[0], 64) + freq(ijk[1], 64) * freq(ijk[1], 64) + ijk[2] * ijk[2]));
    const double expect = std::sqrt(ph::grf_power_spectrum(dq * kk, s.w, s.m_q1, s.s_q1, s.m_q2, s.s_q2));
    CHECK(filter[ijk[0]][ijk[1]][ijk[2]].item<double>() == doctest::Approx(expect).epsilon(1e-6));
  }
  for (const std::uint64_t key : {1u, 2u, 3u}) {
    const at::Tensor g = sim.standardised_field(s, key);
    CHECK((g.sizes() == at::IntArrayRef{64, 64, 64}));
    CHECK((g.scalar_type() == at::kFloat));
    // Moments in double; population variance (ddof 0): the sample SD would give 1 − 1/N³ = 1 − 3.8e-6.
    const at::Tensor gd = g.to(at::kDouble);
    const double mean = gd.mean().item<double>(), var = gd.var(false).item<double>();
    MESSAGE("key " << key << ": mean " << mean << ", variance − 1 = " << var - 1.0);
    CHECK(std::fabs(mean) < 1e-6);
    CHECK(std::fabs(var - 1.0) < 1e-6);
  }
}

TEST_CASE("3-D Parseval: sum G^2 = sum |FFT3 G|^2 / N^3 = N^3 for the standardised field") {
  const std::int64_t n = 48;
  const GrfSimulator sim(grid(n, 10.0, 96), {0.05}, kCpu);
  const at::Tensor g = sim.standardised_field(grf_particle(), 7).to(at::kDouble);
  const at::Tensor p = at::view_as_real(at::fft_rfftn(g)).square().sum(-1);
  // rfft half-spectrum: the planes k = 1 … n/2 − 1 stand for two modes each.
  const double planes_once = p.select(2, 0).sum().item<double>() + p.select(2, n / 2).sum().item<double>();
  const double total = 2 * p.sum().item<double>() - planes_once;
  const double n3 = double(n * n * n);
  CHECK(total / n3 == doctest::Approx(g.square().sum().item<double>()).epsilon(1e-10));
  CHECK(g.square().sum().item<double>() == doctest::Approx(n3).epsilon(1e-5));
}

TEST_CASE("the radially binned power spectrum of G peaks where P(q) peaks") {
  // Two well separated components; w (the weight of component 2) decides which peak dominates.
  const std::int64_t n = 64;
  const GrfSimulator sim(grid(n, 10.0, 128), {0.05}, kCpu);
  const double dq = sim.delta_q_3d();
  Structure s = grf_particle();
  s.m_q1 = 0.06;
  s.s_q1 = 0.008;
  s.m_q2 = 0.16;
  s.s_q2 = 0.015;
  for (const double w : {0.1, 0.9}) {
    s.w = w;
    std::vector<double> power(static_cast<std::size_t>(n / 2 + 1), 0.0);
    for (const std::uint64_t key : {11u, 12u}) {
      const std::vector<double> p = binned_power(sim.standardised_field(s, key), n);
      for (std::size_t b = 0; b < p.size(); ++b) power[b] += p[b];
    }
    std::vector<double> model(power.size());
    for (std::size_t b = 0; b < model.size(); ++b)
      model[b] = ph::grf_power_spectrum(dq * double(b), s.w, s.m_q1, s.s_q1, s.m_q2, s.s_q2);
    const auto peak = std::max_element(power.begin() + 1, power.end()) - power.begin();
    const auto model_peak = std::max_element(model.begin() + 1, model.end()) - model.begin();
    MESSAGE("w=" << w << ": spectrum of G peaks at q=" << dq * double(peak)
                 << ", P(q) at q=" << dq * double(model_peak));
    CHECK(std::abs(peak - model_peak) <= 1);
    // The shape follows P: correlation of the binned power with P over the resolved shells.
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    const double m = double(power.size() - 2);
    for (std::size_t b = 2; b < power.size(); ++b) {
      sx += power[b];
      sy += model[b];
      sxx += power[b] * power[b];
      syy += model[b] * model[b];
      sxy += power[b] * model[b];
    }
    const double corr = (sxy - sx * sy / m) / std::sqrt((sxx - sx * sx / m) * (syy - sy * sy / m));
    MESSAGE("  correlation of binned |FFT G|² with P: " << corr);
    CHECK(corr > 0.98);
  }
}

TEST_CASE("GRF projection equals a literal construction of the density (masks with <=, centres)") {
  // Build ρ voxel by voxel as docs/method.md §3.4 states it (ρ = 1; shell D² ≤ r² holds
  // rho_rel·mean(ρ_int); core D² ≤ (r − d)² holds ρ_int = S − mean S + 1 + delta) and project ρ − 1.
  // r = 110, r − d = 80 have exact ties D² = r² on the Δx = 10 lattice; d = 0 is all core; d = r
  // leaves the single centre voxel (D² = 0 ≤ 0) as core.
  const std::int64_t n = 32;
  const double dx = 10.0;
  const GrfSimulator sim(grid(n, dx, 64), {0.05}, kCpu);
  struct Geometry {
    double r, d;
  };
  for (const Geometry geo : {Geometry{110, 30}, Geometry{100, 0}, Geometry{100, 100}}) {
    Structure s = grf_particle();
    s.radius = geo.r;
    s.shell_thickness = geo.d;
    const std::vector<double> g = to_vector(sim.standardised_field(s, 5));
    std::vector<double> sg(g.size());
    double mean_s = 0;
    for (std::size_t i = 0; i < g.size(); ++i) mean_s += (sg[i] = 1.0 / (1.0 + std::exp(-g[i])));
    mean_s /= static_cast<double>(g.size());
    double mean_int = 0;
    for (const double v : sg) mean_int += v - mean_s + 1 + s.delta_rho_int;
    mean_int /= static_cast<double>(g.size());
    std::vector<double> proj(static_cast<std::size_t>(n * n), 0.0);
    const double rc = s.radius - s.shell_thickness;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t k = 0; k < n; ++k) {
          const double x = (i - n / 2) * dx, y = (j - n / 2) * dx, z = (k - n / 2) * dx;
          const double d2 = x * x + y * y + z * z;
          double rho = 1.0;
          if (d2 <= s.radius * s.radius) rho = s.rho_rel * mean_int;
          if (d2 <= rc * rc)
            rho = sg[static_cast<std::size_t>((i * n + j) * n + k)] - mean_s + 1 + s.delta_rho_int;
          proj[static_cast<std::size_t>(i * n + j)] += rho - 1.0;
        }
    const std::vector<double> got = to_vector(sim.contrast_projection(s, 5));
    double max_abs = 0, max_diff = 0;
    for (std::size_t p = 0; p < proj.size(); ++p) {
      max_abs = std::max(max_abs, std::fabs(proj[p]));
      max_diff = std::max(max_diff, std::fabs(proj[p] - got[p]));
    }
    MESSAGE("r=" << geo.r << " d=" << geo.d << ": max |literal − simulator| = " << max_diff << " of max "
                 << max_abs);
    CHECK(max_abs > 1.0);
    CHECK(max_diff < 1e-4);
  }
}

TEST_CASE("determinism: same key gives a bit-identical curve, different keys differ") {
  const std::vector<double> q = linspace(0.005, 0.15, 40);
  const GridSpec spec = grid(64, 10.0, 128);
  const GrfSimulator a(spec, q, kCpu), b(spec, q, kCpu);
  const Structure s = grf_particle();
  const at::Tensor c1 = a.realisation(s, 1234);
  CHECK((c1.scalar_type() == at::kDouble));
  CHECK((c1.sizes() == at::IntArrayRef{40}));
  CHECK(at::equal(c1, a.realisation(s, 1234)));
  CHECK(at::equal(c1, b.realisation(s, 1234)));       // a fresh simulator
  CHECK(at::equal(c1, a.mean_intensity(s, {1234})));  // the mean of one is the realisation
  const at::Tensor c2 = a.realisation(s, 1235);
  CHECK(!at::equal(c1, c2));
  CHECK((c1 - c2).abs().max().item<double>() > 1e-3 * c1.abs().max().item<double>());
  // Thread count (1 rank × 2 threads vs 2 ranks × 1 thread must agree): the noise, the moments
  // and the radial sums are chunked independently of the threads; each 1-D FFT is computed whole.
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one = a.realisation(s, 1234);
  at::set_num_threads(2);
  const at::Tensor two = a.realisation(s, 1234);
  at::set_num_threads(before);
  CHECK(at::equal(one, two));
  CHECK(at::equal(one, c1));
}

TEST_CASE("the mean over realisations converges: independent halves agree within standard errors") {
  // 32 realisations; per q the mean and SD of each half of 16; z = Δmean / SE. Curves at
  // neighbouring q are correlated, so the RMS of z over q is a noisy statistic around 1; a
  // broken average (wrong key use, a realisation reused, mean vs sum) gives z ≫ 1 or ≡ 0.
  const std::vector<double> q = linspace(0.005, 0.15, 40);
  const GrfSimulator sim(grid(48, 10.0, 96), q, kCpu);
  const Structure s = grf_particle();
  const std::size_t n_half = 16;
  std::vector<std::vector<double>> curves;
  std::vector<std::uint64_t> keys;
  for (std::uint64_t k = 0; k < 2 * n_half; ++k) {
    keys.push_back(1000 + k);
    curves.push_back(to_vector(sim.realisation(s, 1000 + k)));
  }
  double z2 = 0, max_rel_se = 0;
  for (std::size_t iq = 0; iq < q.size(); ++iq) {
    double m[2] = {0, 0}, v[2] = {0, 0};
    for (int h = 0; h < 2; ++h) {
      for (std::size_t r = 0; r < n_half; ++r) m[h] += curves[h * n_half + r][iq];
      m[h] /= double(n_half);
      for (std::size_t r = 0; r < n_half; ++r) v[h] += std::pow(curves[h * n_half + r][iq] - m[h], 2);
      v[h] /= double(n_half - 1);
    }
    const double se = std::sqrt(v[0] / n_half + v[1] / n_half);
    z2 += std::pow((m[0] - m[1]) / se, 2);
    max_rel_se = std::max(max_rel_se, std::sqrt(v[0] / n_half) / m[0]);
  }
  const double z_rms = std::sqrt(z2 / double(q.size()));
  MESSAGE("halves of 16: RMS z over q = " << z_rms << "; max relative SE of a 16-mean " << max_rel_se);
  CHECK(z_rms > 0.2);
  CHECK(z_rms < 2.5);
  // mean_intensity is the arithmetic mean of the realisations.
  const std::vector<double> mean = to_vector(sim.mean_intensity(s, keys));
  for (std::size_t iq = 0; iq < q.size(); ++iq) {
    double m = 0;
    for (const auto& c : curves) m += c[iq];
    CHECK(mean[iq] == doctest::Approx(m / double(curves.size())).epsilon(1e-12));
  }
}

TEST_CASE("CPU and CUDA tensors give the same curve (skipped without a CUDA device)") {
  if (!at::hasCUDA()) {
    MESSAGE("no CUDA device: skipped");
    return;
  }
  const std::vector<double> q = linspace(0.005, 0.15, 40);
  const GridSpec spec = grid(64, 10.0, 128);
  const Structure s = grf_particle();
  const at::Tensor cpu = GrfSimulator(spec, q, kCpu).realisation(s, 77);
  const at::Tensor gpu = GrfSimulator(spec, q, c10::Device(c10::DeviceType::CUDA, 0)).realisation(s, 77);
  CHECK(gpu.device().is_cuda());
  const double rel = ((gpu.cpu() - cpu).abs() / cpu).max().item<double>();
  MESSAGE("CPU vs CUDA: max relative difference " << rel);
  CHECK(rel < 1e-4);
  const at::Tensor hom_cpu = GrfSimulator(spec, q, kCpu, Interior::homogeneous).realisation(s, 0);
  const at::Tensor hom_gpu =
      GrfSimulator(spec, q, c10::Device(c10::DeviceType::CUDA, 0), Interior::homogeneous).realisation(s, 0);
  CHECK(((hom_gpu.cpu() - hom_cpu).abs() / hom_cpu).max().item<double>() < 1e-10);
}
