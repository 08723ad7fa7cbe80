#pragma once
// The monodisperse GRF core–shell SAXS simulator (paper §4.2.1; docs/method.md §3.3–3.6 with
// the defaults of docs/method.md §9), written once with LibTorch tensors so that the same
// code runs on CPU and CUDA tensors. It is the reference implementation; a fused CUDA fast path is
// tested against it.
//
// Pipeline of one realisation (key):
//   white noise W ~ N(0,1) on N³ (counter-based, see white_noise)
//   → G = irfftn(rfftn(W)·√P(|q|)), DC removed → standardise over all voxels (population SD)
//   → S = sigmoid(G) → ρ_int = S − mean(S) + 1 + delta_rho_int
//   → core (D² ≤ (r−d)²) holds ρ_int, shell (D² ≤ r²) holds rho_rel·(1 + delta_rho_int), solvent 1
//   → project the contrast Δρ = ρ − 1 along the last axis (no Δx factor)
//   → periodic 2-D Gaussian smoothing (σ px) → zero-pad to N_f × N_f → |FFT2|²
//   → radial average at the requested q (Gaussian in |q|, weight 1/|q|, q = 0 excluded).
// Voxel centres are x_i = (i − N/2)·Δx, so the particle centre is voxel (N/2, N/2, N/2).
//
// Absolute scale: the curve is |Σ_voxels Δρ e^{-iq·x}|², i.e. the continuum intensity |∫Δρ e^{-iq·x}|²
// (Å⁶) divided by Δx⁶, times the smoothing factor, under the radial kernel
// (see analytic_homogeneous_curve).
//
// This header deliberately avoids <torch/torch.h>: it is included by the backends, the simulator
// interface and the tests; stages include simulator.h / from_config.h, which need no tensors.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <vector>

#include "models/simulator/grf_types.h"

namespace lnpsaxs::sim {

/// Half-width of the radial-average window in units of its Gaussian σ_q. The reference code keeps the
/// 1024 largest weights of the folded quadrant, which at q = 0.2 Å⁻¹ and N_f = 1024 is about ±4σ_q
/// and wider below; ±5σ_q leaves out a weight fraction < 6e-7 everywhere.
inline constexpr double kRadialCutoffSigmas = 5.0;

/// Philox4x32-10 counter-based generator (Salmon et al., SC'11): one block of 4 random 32-bit
/// words for (counter, key); grf_noise::philox (cuda/grf_cuda_noise.h, host and device) computes
/// it. Exposed for its known-answer test.
std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                           std::array<std::uint32_t, 2> key);

/// Box–Muller: two independent N(0,1) values from two random 32-bit words.
/// u = a·2⁻³² + 2⁻³³ ∈ (0, 1], θ = 2π·(b + ½)·2⁻³² (quadrant from the top two bits of b);
/// z = √(−2 ln u)·(cos θ, sin θ), |z| ≤ 6.77. ln, cos and sin are float polynomials (relative
/// error < 3e-7, so that the batch loop vectorises); compared with libm the values agree to ~1e-6.
std::array<float, 2> normal_pair(std::uint32_t a, std::uint32_t b);

/// White noise W ~ N(0,1), [n, n, n] float32 on the CPU, fully determined by the 64-bit `key`:
/// Philox counter (j mod 2³², ⌊j / 2³²⌋, 0, 0) under key (key mod 2³², ⌊key / 2³²⌋) gives words
/// x0..x3 for block j, and elements 4j … 4j+3 (C order) are normal_pair(x0, x1), normal_pair(x2,
/// x3). Identical for every thread count and, moved to a device, for every device. (Not torch's CPU
/// generator: its mt19937 keeps only the low 32 bits of the seed, so the ~1.7 M keys of a paper-scale run
/// would collide about 300 times.) Cost ≈ 5 ns per value per core.
at::Tensor white_noise(std::int64_t n, std::uint64_t key);

/// The GRF spectrum checks of GrfSimulator::validate, shared by every backend: w in [0, 1] and
/// m_q1, m_q2, s_q1, s_q2 > 0 and finite. Throws lnpsaxs::InputError naming the value.
void validate_grf_spectrum(const Structure& s);

/// The checks every backend's mean_intensities makes before simulating particles that share one
/// field: at least one particle and one key, and (for a GRF interior) the same spectrum (w, m_q1,
/// m_q2, s_q1, s_q2) for every particle. Throws lnpsaxs::InputError naming the first offender.
void require_shared_field(const std::vector<Structure>& particles, std::size_t n_keys, bool grf);

/// √P(Δq_3D·√k²) for every integer k² ∈ [0, 3·(N/2)²], float32 (P evaluated in double, then
/// rounded), entry 0 (DC) = 0: the table every backend's spectral filter looks up by the integer
/// |k|² of a mode. Δq_3D = 2π/(N·Δx) [Å⁻¹]. Does not validate s.
std::vector<float> spectral_filter_table(std::int64_t n, double delta_q_3d, const Structure& s);

class GrfSimulator {
 public:
  /// Builds the radial-average weights (and for Interior::grf the |q|² index of the 3-D grid) on
  /// `device`. q: output points in Å⁻¹, each in (0, π/Δx].
  /// Throws lnpsaxs::InputError for an invalid grid (n odd or < 8, n_fft odd or < n, Δx ≤ 0,
  /// σ < 0, radial_sigma ≤ 0), an empty q or a q outside (0, π/Δx] (the 2-D Nyquist limit).
  /// Memory on `device`: about n_q·K·16 bytes of radial weights (K ≈ 2.5·2π·q_max/Δq_2D; 12 MB at
  /// N_f = 1024, 300 q up to 0.2) plus, for grf, n²(n/2+1) int32 (258 MB at n = 512).
  GrfSimulator(GridSpec grid, std::vector<double> q, c10::Device device, Interior interior = Interior::grf);

  const GridSpec& grid() const { return grid_; }
  const std::vector<double>& q() const { return q_; }
  c10::Device device() const { return device_; }
  Interior interior() const { return interior_; }
  double delta_q_3d() const;  ///< 2π/(N·Δx) [Å⁻¹]: spacing of the 3-D spectrum
  double delta_q_2d() const;  ///< 2π/(N_f·Δx) [Å⁻¹]: spacing of the padded 2-D FFT
  double nyquist_q() const;   ///< π/Δx [Å⁻¹]
  /// Smoothing margin kept free at each side of the box [pixels]: ceil(3σ) + 1.
  std::int64_t margin_px() const;
  /// Largest radius that fits: (N/2 − 1 − margin_px)·Δx [Å].
  double max_radius() const;

  /// Throws lnpsaxs::InputError naming the value at fault: radius ≤ 0 or too large for the grid
  /// (names radius, N, Δx and the limit), d outside [0, r], non-finite densities, and for the GRF
  /// interior w outside [0, 1] or m_q, s_q ≤ 0.
  void validate(const Structure& s) const;

  /// One realisation: radially averaged |F|² at q(), [n_q] float64 on device(), linear intensity
  /// in units of Δx⁻⁶·Å⁶ (see the file comment). The homogeneous interior ignores `key`.
  at::Tensor realisation(const Structure& s, std::uint64_t key) const;

  /// Mean of realisation() over `keys` (the filter is built once), [n_q] float64 on device().
  /// Throws lnpsaxs::InputError if keys is empty.
  at::Tensor mean_intensity(const Structure& s, const std::vector<std::uint64_t>& keys) const;

  // ---- stages of the pipeline, exposed for tests ------------------------------------------------

  /// √P(|q|) on the 3-D rfft layout [N, N, N/2+1] float32 (dims 0, 1 in standard FFT order, dim 2
  /// the non-negative frequencies), DC = 0. Only for Interior::grf (else InputError).
  at::Tensor spectral_filter(const Structure& s) const;
  /// The standardised field G for `key`, [N, N, N] float32 on device(): mean 0, population SD 1.
  /// Throws lnpsaxs::InputError if P has no power on the grid. Only for Interior::grf.
  at::Tensor standardised_field(const Structure& s, std::uint64_t key) const;
  /// Projection Σ_z Δρ of the contrast, [N, N] float64 on device(), before smoothing.
  at::Tensor contrast_projection(const Structure& s, std::uint64_t key) const;
  /// Smoothed, zero-padded |FFT2|² of a [N, N] projection: the rfft half-plane [N_f, N_f/2+1]
  /// float64 (row i ↔ frequency i or i − N_f, column j ↔ j ≥ 0); unnormalised forward FFT.
  at::Tensor intensity_map(const at::Tensor& projection) const;
  /// Radial average of a half-plane map (as intensity_map returns), [n_q] float64.
  at::Tensor radial_average(const at::Tensor& half_plane_map) const;
  /// |q| [Å⁻¹] of each half-plane pixel, [N_f, N_f/2+1] float64 on the CPU.
  at::Tensor pixel_q() const;
  /// How many full-plane pixels each half-plane pixel stands for (1 or 2), same layout, CPU.
  at::Tensor pixel_multiplicity() const;
  /// Radial-average weights as a padded sparse matrix: flat half-plane pixel index [n_q, K] int64
  /// and weight [n_q, K] float64 (multiplicity included, each row sums to 1; padding has weight 0).
  const at::Tensor& radial_index() const { return radial_index_; }
  const at::Tensor& radial_weight() const { return radial_weight_; }

 private:
  at::Tensor field_from_filter(const at::Tensor& filter, std::uint64_t key) const;
  at::Tensor projection_from_field(const Structure& s, at::Tensor field) const;
  at::Tensor curve_from_projection(const at::Tensor& projection) const;

  GridSpec grid_;
  std::vector<double> q_;
  c10::Device device_;
  Interior interior_;
  at::Tensor radial_index_;   // [n_q, K] int64, device
  at::Tensor radial_weight_;  // [n_q, K] float64, device
  at::Tensor smooth_factor_;  // [N, N/2+1] float64, device: exp(−½σ²k²) on the rfft2 layout
  at::Tensor r2_index_;       // [N, N, N/2+1] int32, device: integer |k|² of each 3-D mode (grf)
};

/// What the homogeneous interior should give: the analytic core–shell intensity divided by Δx⁶,
/// times the smoothing factor, under the 1-D radial kernel (physics::radial_kernel_average with
/// σ_q = radial_sigma·Δq_2D, cutoff kRadialCutoffSigmas, floor Δq_2D/2), at each q. float64 values.
std::vector<double> analytic_homogeneous_curve(const GridSpec& grid, const std::vector<double>& q,
                                               const Structure& s);

}  // namespace lnpsaxs::sim
