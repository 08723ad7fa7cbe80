// The CUDA backend's logic on the host, against the LibTorch reference (runs on every machine):
// the spectral white-noise generator the device runs (grf_cuda_noise.h, through its host twin),
// the particle masks, the fused projection identity, the smoothing factor, the byte model, and
// the stub / device checks of the backend without a GPU.
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/fft_irfft2.h>
#include <ATen/ops/fft_irfftn.h>
#include <ATen/ops/fft_rfft2.h>
#include <ATen/ops/fft_rfftn.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/view_as_complex.h>
#include <ATen/ops/view_as_real.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "models/simulator/cuda/grf_cuda.h"
#include "models/simulator/cuda/grf_cuda_geometry.h"
#include "models/simulator/cuda/grf_cuda_host.h"
#include "models/simulator/cuda/grf_cuda_noise.h"
#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/errors.h"
#include "../simulate/sim_test_util.h"

#include "doctest_torch.h"

namespace gn = lnpsaxs::sim::grf_noise;
namespace gg = lnpsaxs::sim::grf_geometry;
namespace ch = lnpsaxs::sim::cuda_host;
using lnpsaxs::sim::GrfSimulator;
using lnpsaxs::sim::GridSpec;
using lnpsaxs::sim::Interior;
using lnpsaxs::sim::Structure;

using lnpsaxs::sim::test::kCpu;
using lnpsaxs::sim::test::to_vector;
using lnpsaxs::sim::test::grid;
using lnpsaxs::sim::test::grf_particle;

namespace {

/// Half spectrum (host twin) as a complex128 tensor [n, n, n/2+1].
at::Tensor spectrum_tensor(const std::vector<std::complex<float>>& x, std::int64_t n) {
  std::vector<double> ri(2 * x.size());
  for (std::size_t e = 0; e < x.size(); ++e) {
    ri[2 * e] = x[e].real();
    ri[2 * e + 1] = x[e].imag();
  }
  const at::Tensor t =
      at::from_blob(ri.data(), {n, n, n / 2 + 1, 2}, at::TensorOptions().dtype(at::kDouble)).clone();
  return at::view_as_complex(t);
}

/// The real field C2R(X) = Σ_k X_k e^{ikx} (unnormalised, as cuFFT), via torch's normalised irfftn.
at::Tensor c2r(const at::Tensor& half, std::int64_t n) {
  return at::fft_irfftn(half, at::IntArrayRef{n, n, n}) * static_cast<double>(n * n * n);
}

/// Standard-order frequency of index i on a length-n axis.
std::int64_t freq(std::int64_t i, std::int64_t n) { return i < n / 2 ? i : i - n; }

}  // namespace

TEST_CASE("device noise code: Philox and Box-Muller equal the reference generator") {
  // Philox4x32-10 has one implementation (gn::philox, which sim::philox4x32_10 calls): Random123's
  // known-answer vectors, as the device code computes them on the host.
  const auto kat = [](std::uint32_t c, std::uint32_t k, std::uint32_t w0, std::uint32_t w1, std::uint32_t w2,
                      std::uint32_t w3) {
    const gn::Words w = gn::philox(c, c, c, c, k, k);
    CHECK(w.w[0] == w0);
    CHECK(w.w[1] == w1);
    CHECK(w.w[2] == w2);
    CHECK(w.w[3] == w3);
  };
  kat(0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
  kat(0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
  const gn::Words pi =
      gn::philox(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  CHECK(pi.w[0] == 0xd16cfe09u);
  CHECK(pi.w[1] == 0x94fdccebu);
  CHECK(pi.w[2] == 0x5001e420u);
  CHECK(pi.w[3] == 0x24126ea1u);
  double max_diff = 0;
  for (std::uint64_t i = 0; i < 200000; ++i) {
    const auto a = static_cast<std::uint32_t>(i * 2654435761u + (i == 1 ? 0xFFFFFFFFu : 0u));
    const auto b = static_cast<std::uint32_t>(i * 40503u * 65537u + 12345u);
    const auto ref = lnpsaxs::sim::normal_pair(a, b);
    const gn::Normal2 z = gn::normal_pair(a, b);
    max_diff = std::max({max_diff, std::fabs(double(z.z0) - ref[0]), std::fabs(double(z.z1) - ref[1])});
  }
  MESSAGE("Box-Muller: max |device code - reference| on the host = " << max_diff);
  CHECK(max_diff <= 2e-6);
}

TEST_CASE("spectral noise: Hermitian planes, real self-conjugate modes, DC 0") {
  for (const std::int64_t n : {8, 10, 32}) {  // 10: N/2 odd, the Nyquist plane uses the odd slot
    const std::vector<std::complex<float>> x = ch::noise_spectrum(n, 99);
    const std::int64_t nh = n / 2 + 1;
    auto at = [&](std::int64_t i, std::int64_t j, std::int64_t l) {
      return x[static_cast<std::size_t>((i * n + j) * nh + l)];
    };
    CHECK(at(0, 0, 0) == std::complex<float>(0, 0));
    int self = 0, mismatches = 0, zero = 0;
    for (const std::int64_t l : {std::int64_t{0}, n / 2})
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) {
          const std::int64_t mi = (n - i) % n, mj = (n - j) % n;
          const std::complex<float> v = at(i, j, l), m = at(mi, mj, l);
          if (mi == i && mj == j) {
            ++self;
            mismatches += v.imag() != 0.0f;
          } else {
            mismatches += v != std::conj(m);  // bit-exact: both come from the same draw
          }
        }
    for (const auto& v : x) zero += v == std::complex<float>(0, 0);
    CHECK(self == 8);
    CHECK(mismatches == 0);
    CHECK(zero == 1);  // only DC
  }
}

TEST_CASE("spectral noise: per-mode variance 1/N^3 and keys use all 64 bits") {
  const std::int64_t n = 32, nh = n / 2 + 1;
  const std::vector<std::complex<float>> x = ch::noise_spectrum(n, 12345);
  const double n3 = double(n * n * n);
  double re2 = 0, im2 = 0, count = 0;
  for (std::int64_t r = 0; r < n * n; ++r)
    for (std::int64_t l = 1; l < n / 2; ++l) {  // general modes
      const auto v = x[static_cast<std::size_t>(r * nh + l)];
      re2 += double(v.real()) * v.real() * n3;
      im2 += double(v.imag()) * v.imag() * n3;
      count += 1;
    }
  // E[Re²·N³] = E[Im²·N³] = ½; SE of a mean of χ²₁/2 over `count` values: √(2/count)/2.
  const double se = std::sqrt(2.0 / count) / 2;
  MESSAGE("N^3 <Re^2> = " << re2 / count << ", N^3 <Im^2> = " << im2 / count << " (SE " << se << ")");
  CHECK(std::fabs(re2 / count - 0.5) < 4 * se);
  CHECK(std::fabs(im2 / count - 0.5) < 4 * se);
  const std::vector<std::complex<float>> hi = ch::noise_spectrum(n, 12345 + (std::uint64_t{1} << 32));
  double dot = 0, norm = 0;
  for (std::size_t e = 0; e < x.size(); ++e) {
    dot += std::real(std::complex<double>(x[e]) * std::conj(std::complex<double>(hi[e])));
    norm += std::norm(std::complex<double>(x[e]));
  }
  CHECK(std::fabs(dot / norm) < 0.02);
}

TEST_CASE("spectral noise: its C2R is real iid N(0,1) white noise and the spectrum round-trips") {
  for (const std::int64_t n : {32, 30}) {
    const std::vector<std::complex<float>> x = ch::noise_spectrum(n, 2024);
    const at::Tensor half = spectrum_tensor(x, n);
    const at::Tensor w = c2r(half, n);
    // A non-Hermitian kz = 0 or Nyquist plane would be projected silently by the C2R: the round
    // trip R2C(C2R(X))/N³ = X proves the input was a valid spectrum of a real field.
    const at::Tensor back = at::fft_rfftn(w) / static_cast<double>(n * n * n);
    const double err = (back - half).abs().max().item<double>() / half.abs().max().item<double>();
    MESSAGE("N=" << n << ": round trip max |R2C(C2R X)/N^3 - X| / max|X| = " << err);
    CHECK(err < 1e-12);
    const std::vector<double> v = to_vector(w);
    const double m = double(v.size());
    double mean = 0, var = 0, kurt = 0;
    for (const double e : v) mean += e;
    mean /= m;
    for (const double e : v) {
      var += (e - mean) * (e - mean);
      kurt += std::pow(e - mean, 4);
    }
    var /= m;
    kurt = kurt / m / (var * var);
    MESSAGE("  mean " << mean << ", variance " << var << ", kurtosis " << kurt);
    CHECK(std::fabs(mean) < 1e-12);                        // DC = 0 exactly
    CHECK(std::fabs(var - 1.0) < 4 * std::sqrt(2.0 / m));  // E var = 1 − 1/N³
    CHECK(std::fabs(kurt - 3.0) < 4 * std::sqrt(24.0 / m));
    // Neighbour correlation along each axis (periodic): independent values give ~N(0, 1/m).
    for (int axis = 0; axis < 3; ++axis) {
      double c = 0;
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          for (std::int64_t k = 0; k < n; ++k) {
            std::int64_t a[3] = {i, j, k};
            a[axis] = (a[axis] + 1) % n;
            c += v[static_cast<std::size_t>((i * n + j) * n + k)] *
                 v[static_cast<std::size_t>((a[0] * n + a[1]) * n + a[2])];
          }
      c /= m * var;
      CHECK(std::fabs(c) < 4 / std::sqrt(m));
    }
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    double ks = 0;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const double phi = 0.5 * std::erfc(-sorted[i] / std::sqrt(2.0));
      ks = std::max({ks, std::fabs(phi - double(i) / m), std::fabs(phi - double(i + 1) / m)});
    }
    MESSAGE("  KS distance to N(0,1): " << ks);
    CHECK(ks < 1.95 / std::sqrt(m));
    // Parseval: the device's moment formula gives the real field's population variance.
    CHECK(ch::parseval_variance(x, n) == doctest::Approx(var + mean * mean).epsilon(1e-6));
  }
}

TEST_CASE("spectral noise through the reference filter has the reference field's power spectrum") {
  // The fused path draws the noise in Fourier space, the reference in real space: the two fields
  // differ per key but must have the same law. Compare the shell-binned power of the standardised
  // fields over 12 keys each, bin by bin, against the spread over keys.
  const std::int64_t n = 32, nh = n / 2 + 1;
  const GrfSimulator ref(grid(n, 10.0, 64), {0.05}, kCpu);
  Structure s = grf_particle();
  s.radius = 100;  // fits N = 32 (only the spectrum matters here)
  s.shell_thickness = 30;
  const at::Tensor filter = ref.spectral_filter(s).to(at::kDouble);
  const int keys = 12, bins = static_cast<int>(n / 2);
  auto binned = [&](const at::Tensor& g) {
    const std::vector<double> p =
        to_vector(at::view_as_real(at::fft_rfftn(g.to(at::kDouble))).square().sum(-1));
    std::vector<double> sum(static_cast<std::size_t>(bins), 0.0), cnt(sum);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j)
        for (std::int64_t l = 0; l < nh; ++l) {
          const double kr = std::sqrt(double(freq(i, n) * freq(i, n) + freq(j, n) * freq(j, n) + l * l));
          const auto b = static_cast<std::int64_t>(std::floor(kr + 0.5));
          if (b < 1 || b >= bins) continue;
          const double mult = gn::mode_multiplicity(n, l);
          sum[static_cast<std::size_t>(b)] += mult * p[static_cast<std::size_t>((i * n + j) * nh + l)];
          cnt[static_cast<std::size_t>(b)] += mult;
        }
    for (std::size_t b = 0; b < sum.size(); ++b) sum[b] = cnt[b] > 0 ? sum[b] / cnt[b] : 0.0;
    return sum;
  };
  std::vector<std::vector<double>> a, b;
  for (int k = 0; k < keys; ++k) {
    const at::Tensor half =
        spectrum_tensor(ch::noise_spectrum(n, 500 + static_cast<std::uint64_t>(k)), n) * filter;
    at::Tensor g = c2r(half, n);
    g = (g - g.mean()) / g.std(/*unbiased=*/false);
    a.push_back(binned(g));
    b.push_back(binned(ref.standardised_field(s, 700 + static_cast<std::uint64_t>(k))));
  }
  double z2 = 0;
  int used = 0;
  for (int bin = 1; bin < bins; ++bin) {
    double ma = 0, mb = 0, va = 0, vb = 0;
    for (int k = 0; k < keys; ++k) {
      ma += a[static_cast<std::size_t>(k)][static_cast<std::size_t>(bin)] / keys;
      mb += b[static_cast<std::size_t>(k)][static_cast<std::size_t>(bin)] / keys;
    }
    for (int k = 0; k < keys; ++k) {
      va += std::pow(a[static_cast<std::size_t>(k)][static_cast<std::size_t>(bin)] - ma, 2) / (keys - 1);
      vb += std::pow(b[static_cast<std::size_t>(k)][static_cast<std::size_t>(bin)] - mb, 2) / (keys - 1);
    }
    if (ma + mb < 1e-6 * n * n * n) continue;  // no power in this shell
    z2 += (ma - mb) * (ma - mb) / ((va + vb) / keys);
    ++used;
  }
  const double z_rms = std::sqrt(z2 / used);
  MESSAGE("binned power, spectral vs real-space noise: RMS z over " << used << " shells = " << z_rms);
  CHECK(used >= 8);
  CHECK(z_rms < 2.0);
}

TEST_CASE("masks: the device's column extents equal brute force, exact ties included") {
  const std::int64_t n = 32;
  const double dx = 10.0;
  for (const double r : {110.0, 80.0, 100.0, 0.0, 150.0}) {  // 110, 80, 100: D² = r² ties on the lattice
    const std::vector<std::int32_t> m = ch::column_half_extents(n, dx, r);
    int bad = 0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        int count = 0;
        for (std::int64_t k = 0; k < n; ++k) {
          const double x = double(i - n / 2) * dx, y = double(j - n / 2) * dx, z = double(k - n / 2) * dx;
          count += x * x + y * y + z * z <= r * r;
        }
        bad += gg::column_count(m[static_cast<std::size_t>(i * n + j)]) != count;
      }
    CHECK(bad == 0);
  }
}

TEST_CASE("fused projection identity reproduces the reference's contrast projection") {
  // What project_kernel + assemble_kernel compute, in plain loops: v = S − ½ = ½ tanh(G/2),
  // C(m) = Σ_{|z − N/2| ≤ m} v, δ = mean v, proj = base + C(m_core) − δ·n_core.
  const std::int64_t n = 32;
  const double dx = 10.0;
  const GrfSimulator ref(grid(n, dx, 64), {0.05}, kCpu);
  for (const double d : {30.0, 0.0, 110.0}) {
    Structure s = grf_particle();
    s.radius = 110;
    s.shell_thickness = d;
    const std::vector<double> g = to_vector(ref.standardised_field(s, 5));
    double delta = 0;
    for (const double e : g) delta += 0.5 * std::tanh(0.5 * e);
    delta /= double(g.size());
    const std::vector<std::int32_t> outer = ch::column_half_extents(n, dx, s.radius);
    const std::vector<std::int32_t> core = ch::column_half_extents(n, dx, s.radius - s.shell_thickness);
    const double c_core = s.delta_rho_int, c_shell = s.rho_rel * (1 + s.delta_rho_int) - 1;
    const std::vector<double> want = to_vector(ref.contrast_projection(s, 5));
    double max_diff = 0, max_abs = 0;
    for (std::int64_t col = 0; col < n * n; ++col) {
      const int mc = core[static_cast<std::size_t>(col)];
      double c = 0;
      for (std::int64_t z = n / 2 - mc; mc >= 0 && z <= n / 2 + mc; ++z)
        c += 0.5 * std::tanh(0.5 * g[static_cast<std::size_t>(col * n + z)]);
      const double got = gg::base_projection(outer[static_cast<std::size_t>(col)], mc, c_core, c_shell) + c -
                         delta * gg::column_count(mc);
      max_diff = std::max(max_diff, std::fabs(got - want[static_cast<std::size_t>(col)]));
      max_abs = std::max(max_abs, std::fabs(want[static_cast<std::size_t>(col)]));
    }
    MESSAGE("d=" << d << ": max |identity - reference| = " << max_diff << " of max " << max_abs);
    CHECK(max_abs > 1.0);
    CHECK(max_diff < 1e-4);
  }
}

TEST_CASE("smoothing factor and padding reproduce the reference's intensity map") {
  const std::int64_t n = 32, nf = 96;
  GridSpec g = grid(n, 10.0, nf);
  g.smooth_sigma_px = 1.3;
  const GrfSimulator ref(g, {0.05}, kCpu, Interior::homogeneous);
  const at::Tensor p = at::randn({n, n}, at::TensorOptions().dtype(at::kDouble));
  const std::vector<double> f = ch::smoothing_factor(n, g.smooth_sigma_px);
  const at::Tensor ft =
      at::from_blob(const_cast<double*>(f.data()), {n, n / 2 + 1}, at::TensorOptions().dtype(at::kDouble))
          .clone();
  const at::Tensor smooth = at::fft_irfft2(at::fft_rfft2(p) * ft, at::IntArrayRef{n, n});
  const std::int64_t off = (nf - n) / 2;  // the device's pad_kernel offset on both axes
  const at::Tensor padded = at::constant_pad_nd(smooth, {off, nf - n - off, off, nf - n - off}, 0.0);
  const at::Tensor mine = at::view_as_real(at::fft_rfft2(padded)).square().sum(-1);
  const at::Tensor want = ref.intensity_map(p);
  const double rel = ((mine - want).abs().max() / want.abs().max()).item<double>();
  MESSAGE("intensity map from the backend's tables vs reference: max rel " << rel);
  CHECK(rel < 1e-12);
}

TEST_CASE("byte model of one realisation at the paper grid") {
  const ch::RealisationBytes b = ch::realisation_bytes(512, 1024, 300, 300 * 2600, 32);
  CHECK(b.spectrum_write == 512.0 * 512 * 257 * 8);  // 539 MB
  CHECK(b.c2r_write == 512.0 * 512 * 512 * 4);       // 537 MB
  MESSAGE("bytes per realisation [GB]: spectrum " << b.spectrum_write / 1e9 << ", C2R " << b.c2r_pass() / 1e9
                                                  << ", fused pass " << b.project_read / 1e9 << ", 2-D "
                                                  << b.two_d / 1e9 << ", total " << b.total() / 1e9);
  CHECK(b.total() > 2.1e9);
  CHECK(b.total() < 2.3e9);
  CHECK(b.two_d < 0.03 * b.total());
}

TEST_CASE("backend entry points without CUDA or without a device") {
  const std::vector<double> q = {0.05};
  if (!lnpsaxs::sim::cuda_backend_compiled()) {
    try {
      lnpsaxs::sim::GrfSimulatorCuda sim(grid(32, 10.0, 64), q, 0, Interior::grf);
      FAIL("constructed a CUDA simulator in a build without CUDA");
    } catch (const lnpsaxs::NotCompiled& e) {
      CHECK(std::string(e.what()).find("the CUDA simulator backend") != std::string::npos);
    }
    CHECK_THROWS_AS(lnpsaxs::sim::cuda_device_count(), lnpsaxs::NotCompiled);
    CHECK_THROWS_AS(lnpsaxs::sim::cuda_copy_bandwidth_gbs(0, 1024, 1), lnpsaxs::NotCompiled);
    return;
  }
  const int devices = lnpsaxs::sim::cuda_device_count();  // 0 without a driver or a GPU: no throw
  MESSAGE("CUDA backend compiled; " << devices << " device(s) visible");
  CHECK(devices >= 0);
  // Bad input is reported before any device is touched; a missing device names itself.
  CHECK_THROWS_AS(lnpsaxs::sim::GrfSimulatorCuda(grid(33, 10.0, 64), q, 0, Interior::grf),
                  lnpsaxs::InputError);
  CHECK_THROWS_AS(lnpsaxs::sim::GrfSimulatorCuda(grid(32, 10.0, 64), {1.0}, 0, Interior::grf),
                  lnpsaxs::InputError);
  try {
    lnpsaxs::sim::GrfSimulatorCuda sim(grid(32, 10.0, 64), q, devices, Interior::grf);
    FAIL("constructed a CUDA simulator on a device that does not exist");
  } catch (const lnpsaxs::InputError& e) {
    CHECK(std::string(e.what()).find("device " + std::to_string(devices)) != std::string::npos);
  }
}
