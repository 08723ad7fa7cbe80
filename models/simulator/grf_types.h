#pragma once
// The plain settings of the GRF core–shell simulator shared by every backend and by the stages that
// configure it (GridSpec, Structure, Interior; docs/method.md §3). No LibTorch, FFTW or CUDA: a stage
// header that only names a grid or a particle includes this, not grf_simulator.h.
#include <cstdint>

namespace lnpsaxs::sim {

/// Simulation grid and blurring settings (config section `simulate`; paper values are the defaults).
struct GridSpec {
  std::int64_t n = 512;          ///< voxels per axis N of the 3-D grid (even, ≥ 8)
  double dx = 5.0;               ///< voxel size Δx [Å]
  std::int64_t n_fft = 1024;     ///< side N_f of the zero-padded 2-D image (even, ≥ n)
  double smooth_sigma_px = 1.0;  ///< σ of the 2-D Gaussian smoothing of the projection [pixels], ≥ 0
  double radial_sigma = 0.5;     ///< radial-average Gaussian width in units of Δq_2D, > 0
};

/// Structural parameters of one particle (docs/method.md §1.1 names; lengths in Å, q in Å⁻¹).
struct Structure {
  double radius = 200.0;          ///< outer radius r
  double shell_thickness = 50.0;  ///< d; core radius r − d (0 ≤ d ≤ r)
  double rho_rel = 1.0;           ///< shell density relative to the mean interior density
  double delta_rho_int = 0.0;     ///< mean interior density offset: mean ρ_int = 1 + delta_rho_int
  double w = 0.5;                 ///< weight of spectral component 2: P = (1 − w)·LN1 + w·LN2
  double m_q1 = 0.1;              ///< real-space mean of log-normal component 1
  double m_q2 = 0.1;              ///< real-space mean of component 2
  double s_q1 = 0.02;             ///< real-space SD of component 1
  double s_q2 = 0.02;             ///< real-space SD of component 2
};

/// What fills the core: the logistic-mapped GRF (the model) or a constant 1 + delta_rho_int (the
/// analytic check of FFT conventions, projection, padding and radial average).
enum class Interior { grf, homogeneous };

}  // namespace lnpsaxs::sim
