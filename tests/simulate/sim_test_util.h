#pragma once
// Helpers shared by the simulator tests (tests/simulate and tests/simulate_cuda): grids, a GRF
// particle, and tensor/vector conversions. Test code only.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <vector>

#include "models/simulator/grf_simulator.h"

namespace lnpsaxs::sim::test {

inline constexpr double kPi = 3.14159265358979323846;
inline const c10::Device kCpu(c10::DeviceType::CPU);

/// n equally spaced values from a to b inclusive (n ≥ 2).
inline std::vector<double> linspace(double a, double b, int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = a + (b - a) * i / (n - 1);
  return v;
}

/// Any tensor's elements, row-major, as float64 on the host.
inline std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(kCpu, at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

/// A simulation grid: N voxels of dx Å per axis, N_f-pixel padded image, smoothing σ [px].
inline GridSpec grid(std::int64_t n, double dx, std::int64_t n_fft, double smooth = 1.0) {
  GridSpec g;
  g.n = n;
  g.dx = dx;
  g.n_fft = n_fft;
  g.smooth_sigma_px = smooth;
  return g;
}

/// A GRF core-shell particle with both spectral components inside a 64³ × 8 Å grid's band.
inline Structure grf_particle() {
  Structure s;
  s.radius = 160;
  s.shell_thickness = 50;
  s.rho_rel = 1.1;
  s.delta_rho_int = -0.2;
  s.w = 0.4;
  s.m_q1 = 0.08;
  s.s_q1 = 0.02;
  s.m_q2 = 0.12;
  s.s_q2 = 0.05;
  return s;
}

}  // namespace lnpsaxs::sim::test
