#pragma once
// Particle geometry on the simulation grid, shared by the host (tests) and the device kernels.
// The arithmetic is spelled out with rounded, uncontracted operations so that host and device
// give the reference's masks bit for bit, exact `≤` ties included (docs/method.md §3.2, §3.4:
// voxel centres x_i = (i − N/2)·Δx, D² ≤ R²).
#include <cmath>
#include <cstdint>

#include "models/simulator/cuda/grf_cuda_noise.h"  // LNPSAXS_HD

namespace lnpsaxs::sim::grf_geometry {

// IEEE double operations that nvcc must not fuse into an FMA (g++ in ISO C++ mode does not fuse).
LNPSAXS_HD double mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
LNPSAXS_HD double add(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

/// For column (i, j) of the N×N grid: the largest m ≥ 0 with x² + y² + (mΔx)² ≤ R², or −1 if
/// the column misses the sphere; the column then holds the voxels N/2 − m … N/2 + m. Same
/// definition and rounding as the reference simulator's column extents.
LNPSAXS_HD int column_half_extent(std::int64_t n, double dx, double radius, std::int64_t i, std::int64_t j) {
  const double r2 = mul(radius, radius);
  const double x = mul(static_cast<double>(i - n / 2), dx);
  const double y = mul(static_cast<double>(j - n / 2), dx);
  const double xy = add(mul(x, x), mul(y, y));
  if (!(xy <= r2)) return -1;
#if defined(__CUDA_ARCH__)
  auto k = static_cast<std::int64_t>(floor(__ddiv_rn(__dsqrt_rn(add(r2, -xy)), dx)));
#else
  auto k = static_cast<std::int64_t>(std::floor(std::sqrt(r2 - xy) / dx));
#endif
  // sqrt/floor only seed k; the exact `≤` test decides.
  auto inside = [&](std::int64_t kk) {
    const double z = mul(static_cast<double>(kk), dx);
    return add(xy, mul(z, z)) <= r2;
  };
  while (inside(k + 1)) ++k;
  while (k > 0 && !inside(k)) --k;
  return static_cast<int>(k);
}

/// Voxels of a column with half extent m: 2m + 1, or 0 for m < 0.
LNPSAXS_HD double column_count(int m) { return m >= 0 ? 2.0 * m + 1.0 : 0.0; }

/// Projection of the homogeneous parts of a column: n_core·Δρ_c + (n_outer − n_core)·Δρ_s, in the
/// reference's order of operations.
LNPSAXS_HD double base_projection(int m_outer, int m_core, double c_core, double c_shell) {
  const double n_outer = column_count(m_outer), n_core = column_count(m_core);
  return add(mul(n_core, c_core), mul(add(n_outer, -n_core), c_shell));
}

}  // namespace lnpsaxs::sim::grf_geometry
