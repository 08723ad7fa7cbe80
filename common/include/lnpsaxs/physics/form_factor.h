#pragma once
// Analytic scattering of the simulator's particle and the simulator's known blurring of it.
//
// Pure double-precision functions (no LibTorch), used by the simulator backends, analyze's
// profiles and the tests (the independent check of the simulator and of the analytic baselines).
// Units: q in Å⁻¹, lengths in Å, densities relative to the solvent (solvent = 1),
// amplitudes in Å³ (contrast × volume), intensities in Å⁶.
// Sources: docs/method.md §3.3 (spectrum), §3.4 (density convention, 2-D smoothing),
// §3.6 (radial average), §7.2 (core–shell amplitude); docs/method.md §9, §3.12.
#include <functional>
#include <vector>

namespace lnpsaxs::physics {

/// Homogeneous-sphere amplitude f(x) = 3(sin x − x cos x)/x³, normalised to f(0) = 1; x = q·R.
/// For |x| < 1e-3 the series 1 − x²/10 + x⁴/280 replaces the formula, whose cancellation would
/// lose about 2·log10(1/x) digits. Even in x.
double sphere_amplitude(double x);

/// Volume 4/3·π·r³ of a sphere of radius r [Å] in Å³.
double sphere_volume(double radius);

/// Contrasts (density − solvent) of the simulator's core–shell particle, solvent density 1.
struct CoreShellContrast {
  double shell;  ///< Δρ_s = rho_rel·(1 + delta_rho_int) − 1: the shell holds rho_rel × mean interior
  double core;   ///< Δρ_c = delta_rho_int: mean of the interior density 1 + delta_rho_int, minus 1
};
/// Δρ_s and Δρ_c from the model parameters (docs/method.md §3.4 step 4).
CoreShellContrast core_shell_contrast(double rho_rel, double delta_rho_int);

/// Orientation-averaged amplitude of a core–shell sphere with the simulator's density convention,
///   F(q) = Δρ_s·V(r)·f(q r) + (Δρ_c − Δρ_s)·V(r_c)·f(q r_c),  r_c = r − d,
/// in Å³ (the continuum Fourier transform ∫Δρ(x) e^{-iq·x} d³x of a homogeneous core).
/// Throws lnpsaxs::InputError unless radius > 0 and 0 ≤ shell_thickness ≤ radius.
double core_shell_amplitude(double q, double radius, double shell_thickness, double rho_rel,
                            double delta_rho_int);

/// I(q) = F(q)² of core_shell_amplitude, in Å⁶.
double core_shell_intensity(double q, double radius, double shell_thickness, double rho_rel,
                            double delta_rho_int);

/// Intensity factor of the simulator's 2-D Gaussian smoothing of the projection (σ in pixels of
/// size Δx, docs/method.md §3.4 step 6): the amplitude is multiplied by exp(−½σ²Δx²q²), the
/// intensity by exp(−σ²Δx²q²) (= exp(−25 q²) for σ = 1 px, Δx = 5 Å). Dimensionless.
double smoothing_intensity_factor(double q, double dx, double sigma_px);

/// The simulator's radial (azimuthal) average reduced to one dimension.
/// The simulator averages |F|² over the pixels of the 2-D FFT with weight
/// g(|q_p| − q)/|q_p|, g(u) = exp(−½(u/σ_q)²), σ_q = radial_sigma·Δq_2D (§3.6). In the continuum
/// limit the pixels of a ring [Q, Q + dQ] number 2πQ·dQ/Δq_2D², so the 1/|q_p| weight cancels the
/// ring measure and the average becomes a plain Gaussian average over |q|:
///   Ī(q) = ∫ g(Q − q) I(Q) dQ / ∫ g(Q − q) dQ,  Q ∈ [max(q − cσ_q, q_floor), q + cσ_q].
/// The discreteness of the pixel lattice is ignored (it matters for q of a few Δq_2D only).
struct RadialKernel1d {
  double sigma_q = 0.0;        ///< Gaussian width σ_q in Å⁻¹ (> 0)
  double cutoff_sigmas = 5.0;  ///< half-width of the window in σ_q (the simulator uses the same)
  double q_floor = 0.0;        ///< no pixel lies below this |q| (the excluded q = 0 pixel): Å⁻¹
  int nodes = 801;             ///< composite-Simpson nodes over the window (odd, ≥ 3)
};

/// Ī(q) of `intensity` (any function of |q| in Å⁻¹) under the 1-D kernel, for each q.
/// Throws lnpsaxs::InputError when sigma_q ≤ 0, cutoff_sigmas ≤ 0 or nodes < 3.
std::vector<double> radial_kernel_average(const std::function<double(double)>& intensity,
                                          const std::vector<double>& q, const RadialKernel1d& kernel);

// ---- log-normal spectrum of the GRF interior (docs/method.md §3.3) ------------------------

/// Parameters of a log-normal distribution: log X ~ N(mu, sigma²).
struct LogNormal {
  double mu = 0.0;
  double sigma = 1.0;
};

/// Log-normal with real-space mean m and standard deviation s (m, s > 0):
/// σ² = ln(1 + s²/m²), μ = ln m − σ²/2. Throws lnpsaxs::InputError unless m > 0 and s > 0.
/// Used for the GRF spectrum components (m_q, s_q in Å⁻¹) and for radius distributions (Å).
LogNormal lognormal_from_mean_sd(double mean, double sd);

/// Probability density exp(−½((ln x − μ)/σ)²)/(x σ √(2π)) at x > 0; 0 for x ≤ 0.
double lognormal_pdf(double x, const LogNormal& ln);

/// GRF power spectrum P(q) = (1 − w)·LN1(q) + w·LN2(q) with LN_c from (m_qc, s_qc) in Å⁻¹ and
/// `w` weighting component 2 (docs/method.md §3.3). Returns 0 at q ≤ 0 (the simulator removes the DC term).
/// Throws lnpsaxs::InputError unless 0 ≤ w ≤ 1 and m, s > 0.
double grf_power_spectrum(double q, double w, double m_q1, double s_q1, double m_q2, double s_q2);

}  // namespace lnpsaxs::physics
