#pragma once
// The fused CUDA backend of the GRF core–shell simulator (`simulate.backend: cuda`): the same
// physics as the LibTorch reference sim::GrfSimulator (grf_simulator.h; docs/method.md §3.3–3.6),
// checked against it on a GPU (tests/simulate_cuda). Built only when CUDA is found
// (LNPSAXS_CUDA_ENABLED); otherwise every entry point throws lnpsaxs::NotCompiled.
//
// One realisation (key) on the device, docs/gpu.md has the byte counts:
//   1. spectrum kernel: Philox white noise generated directly in the rfft half spectrum
//      (grf_cuda_noise.h: Hermitian planes, unit-variance real field), × √P(|k|), DC = 0, and the
//      field's variance by Parseval (Σ mult·|X|², a fixed-order double reduction): one write.
//   2. one cuFFT C2R (plan made once per grid).
//   3. fused pass over the real field, one read: G/σ → S − ½ = ½·tanh(G/2σ) (the logistic minus ½,
//      free of cancellation), Σ over the whole grid (for mean S) and, per column, the cumulative
//      sums over |z − N/2| ≤ m, from which every particle's core projection is read off. The mean
//      is applied afterwards, analytically: Σ_core (S − mean S) = Σ_core (S − ½) − (mean S − ½)·n_core.
//   4. 2-D part batched over realisations and particles (cuFFT batched plans, float64): contrast
//      projection, periodic Gaussian smoothing, zero padding to N_f, |rfft2|², sparse radial average.
// The 3-D field is float32; moments, projections and everything 2-D are float64. Noise and every
// reduction order depend only on the key and the grid (not on the device, batch or shard); the
// cuFFT algorithms may differ between GPU models, so curves are bit-identical per key on one
// GPU model and cuFFT version, and agree to float rounding elsewhere.
//
// This header includes neither CUDA nor LibTorch; GridSpec, Structure and Interior are the
// reference's types (include grf_simulator.h to build them).
#include <complex>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lnpsaxs::sim {

struct GridSpec;
struct Structure;
enum class Interior;

/// Settings of the CUDA backend that do not change the physics.
struct CudaOptions {
  /// 2-D pipelines (realisation × particle) transformed per batched cuFFT call. Device memory for
  /// the 2-D stage ≈ max_batch_2d × (N² + N_f²) × 24 bytes (0.7 GB at 32, N = 512, N_f = 1024).
  int max_batch_2d = 32;
};

/// Median time of each stage of one realisation [ms] (events around each stage on the device).
struct CudaStageTimes {
  double spectrum_ms = 0;  ///< noise + filter + Parseval partial sums, and their reduction
  double c2r_ms = 0;       ///< the cuFFT C2R of the half spectrum
  double project_ms = 0;   ///< the fused logistic / sums / projection pass and its reduction
  double two_d_ms = 0;     ///< 2-D stage per realisation, from a batch of CudaOptions::max_batch_2d
  double total_ms = 0;     ///< sum of the above
  int repeats = 0;
};

class GrfSimulatorCuda {
 public:
  /// Validates the grid and q exactly as the reference does (lnpsaxs::InputError), builds the
  /// radial-average weights (the reference's, bit for bit), the smoothing factor and, for the GRF
  /// interior, the 3-D C2R plan on CUDA device `device`. Throws InputError for a device index
  /// outside [0, cuda_device_count()) or N > 2048, RuntimeFailure naming the CUDA/cuFFT call that
  /// failed (e.g. out of memory). Device memory for the GRF at N = 512: ≈ 1.1 GB for the field and
  /// its half spectrum plus the cuFFT work area, plus the 2-D batch (see CudaOptions).
  GrfSimulatorCuda(const GridSpec& grid, std::vector<double> q, int device, Interior interior,
                   CudaOptions options = {});
  ~GrfSimulatorCuda();
  GrfSimulatorCuda(GrfSimulatorCuda&&) noexcept;
  GrfSimulatorCuda& operator=(GrfSimulatorCuda&&) noexcept;
  GrfSimulatorCuda(const GrfSimulatorCuda&) = delete;
  GrfSimulatorCuda& operator=(const GrfSimulatorCuda&) = delete;

  const GridSpec& grid() const;
  const std::vector<double>& q() const;
  int device() const;
  Interior interior() const;
  double max_radius() const;  ///< as GrfSimulator::max_radius [Å]

  /// Same checks and messages as GrfSimulator::validate (InputError).
  void validate(const Structure& s) const;

  /// One realisation: the radially averaged |F|² at q(), [n_q] float64 on the host, in the
  /// reference's units (Δx⁻⁶·Å⁶). The homogeneous interior ignores `key`.
  std::vector<double> realisation(const Structure& s, std::uint64_t key) const;

  /// Mean of the realisations over `keys` [n_q] (InputError if keys is empty).
  std::vector<double> mean_intensity(const Structure& s, const std::vector<std::uint64_t>& keys) const;

  /// Mean curves of several particles that share the GRF spectrum (w, m_q1, m_q2, s_q1, s_q2 equal;
  /// radius, shell and densities free): one 3-D field per key serves all of them, so this equals
  /// calling mean_intensity for each particle with the same keys (the polydisperse quadrature
  /// with common random numbers) at the cost of one field per key. [particles][n_q].
  /// Throws InputError if the spectra differ, `particles` or `keys` is empty.
  std::vector<std::vector<double>> mean_intensities(const std::vector<Structure>& particles,
                                                    const std::vector<std::uint64_t>& keys) const;

  // ---- stages, exposed for tests (small grids: they copy N³ arrays to the host) -----------------

  /// The white-noise half spectrum of `key` as generated on the device (filter ≡ 1, DC = 0),
  /// [N, N, N/2+1] C order (see grf_cuda_noise.h). GRF interior only.
  std::vector<std::complex<float>> noise_spectrum(std::uint64_t key) const;
  /// The real field C2R(noise_spectrum(key)): iid N(0, 1) white noise with mean exactly 0,
  /// [N, N, N] float32. GRF interior only.
  std::vector<float> white_noise(std::uint64_t key) const;
  /// √P(|k|) on the rfft half spectrum [N, N, N/2+1] float32, DC = 0 (as GrfSimulator::spectral_filter).
  std::vector<float> spectral_filter(const Structure& s) const;
  /// The standardised field G for `key` [N, N, N] float32, standardised with the device's
  /// Parseval moments (mean 0, population SD 1). GRF interior only.
  std::vector<float> standardised_field(const Structure& s, std::uint64_t key) const;
  /// Projection Σ_z Δρ of the contrast before smoothing, [N, N] float64 (as
  /// GrfSimulator::contrast_projection).
  std::vector<double> contrast_projection(const Structure& s, std::uint64_t key) const;

  /// Times the stages of one realisation (median over `repeats` after a warm-up). GRF only.
  CudaStageTimes time_realisation(const Structure& s, std::uint64_t key, int repeats) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True when this build contains the CUDA backend (otherwise everything below throws NotCompiled).
bool cuda_backend_compiled();
/// Number of CUDA devices visible; 0 when there is none or no driver.
int cuda_device_count();
/// Name of CUDA device `device` (e.g. "NVIDIA H100 80GB HBM3").
std::string cuda_device_name(int device);
/// Device-to-device copy bandwidth [GB/s, 1e9 bytes], counting bytes read plus bytes written:
/// median over `repeats` cudaMemcpyAsync copies of `bytes` (after a warm-up), timed with events.
double cuda_copy_bandwidth_gbs(int device, std::size_t bytes, int repeats);

}  // namespace lnpsaxs::sim
