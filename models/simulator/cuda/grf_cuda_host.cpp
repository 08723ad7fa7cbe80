#include "models/simulator/cuda/grf_cuda_host.h"

#include <cmath>

#include "models/simulator/cuda/grf_cuda_geometry.h"
#include "models/simulator/cuda/grf_cuda_noise.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::sim::cuda_host {
namespace {
constexpr double kPi = 3.14159265358979323846;
}

std::vector<std::int32_t> column_half_extents(std::int64_t n, double dx, double radius) {
  std::vector<std::int32_t> m(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      m[static_cast<std::size_t>(i * n + j)] = grf_geometry::column_half_extent(n, dx, radius, i, j);
  return m;
}

std::vector<double> smoothing_factor(std::int64_t n, double sigma_px) {
  const std::int64_t nh = n / 2 + 1;
  std::vector<double> f(static_cast<std::size_t>(n * nh));
  for (std::int64_t i = 0; i < n; ++i) {
    const double ky = 2.0 * kPi * static_cast<double>(i < n / 2 ? i : i - n) / static_cast<double>(n);
    for (std::int64_t j = 0; j < nh; ++j) {
      const double kx = 2.0 * kPi * static_cast<double>(j) / static_cast<double>(n);
      f[static_cast<std::size_t>(i * nh + j)] = std::exp(-0.5 * sigma_px * sigma_px * (kx * kx + ky * ky));
    }
  }
  return f;
}

std::vector<std::complex<float>> noise_spectrum(std::int64_t n, std::uint64_t key) {
  if (n < 8 || n % 2 != 0)
    throw InputError("noise_spectrum: n must be even and >= 8, got " + std::to_string(n));
  namespace gn = grf_noise;
  const std::int64_t nh = n / 2 + 1;
  const gn::Scales sc = gn::scales_for(n);
  std::vector<std::complex<float>> x(static_cast<std::size_t>(n * n * nh));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const std::uint64_t row = static_cast<std::uint64_t>(i * n + j);
      for (std::int64_t l = 0; l < nh; ++l) {
        const gn::Words w =
            gn::block_words(key, row * gn::blocks_per_row(n) + static_cast<std::uint64_t>(l / 2));
        const gn::Complex v = gn::mode_value(key, n, i, j, l, w, sc);
        x[static_cast<std::size_t>((i * n + j) * nh + l)] = {v.re, v.im};
      }
    }
  return x;
}

double parseval_variance(const std::vector<std::complex<float>>& half, std::int64_t n) {
  const std::int64_t nh = n / 2 + 1;
  double s = 0.0;
  for (std::int64_t r = 0; r < n * n; ++r)
    for (std::int64_t l = 0; l < nh; ++l)
      s += grf_noise::mode_multiplicity(n, l) *
           std::norm(std::complex<double>(half[static_cast<std::size_t>(r * nh + l)]));
  return s;
}

RealisationBytes realisation_bytes(std::int64_t n, std::int64_t n_fft, std::int64_t n_q,
                                   std::int64_t radial_nnz, int batch) {
  const double nd = static_cast<double>(n), nf = static_cast<double>(n_fft);
  const double half3 = nd * nd * (nd / 2 + 1) * 8.0;  // complex64 half spectrum
  const double real3 = nd * nd * nd * 4.0;            // float32 field
  RealisationBytes b;
  b.spectrum_write = half3;
  b.c2r_read = half3;
  b.c2r_write = real3;
  b.project_read = real3 + nd * nd * 8.0;
  // 2-D, float64, per realisation: core sums + masks → projection; smoothing D2Z / scale / Z2D on
  // N², padding to N_f², D2Z, the radial gather (spectrum once, weights once per batch), curve.
  const double p2 = nd * nd * 8.0, h2 = nd * (nd / 2 + 1) * 16.0;
  const double pf = nf * nf * 8.0, hf = nf * (nf / 2 + 1) * 16.0;
  const double assemble = p2 /*core sums*/ + 2 * nd * nd * 4.0 /*masks*/ + p2 /*projection*/;
  const double smooth = (p2 + h2) + 2 * h2 + (h2 + p2);
  const double pad = p2 + pf;
  const double fft2 = pf + hf;
  const double radial =
      hf + static_cast<double>(radial_nnz) * 12.0 / std::max(1, batch) + static_cast<double>(n_q) * 8.0;
  b.two_d = assemble + smooth + pad + fft2 + radial;
  return b;
}

}  // namespace lnpsaxs::sim::cuda_host
