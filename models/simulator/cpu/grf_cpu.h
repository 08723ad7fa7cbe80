#pragma once
// The fused CPU backend of the GRF core–shell simulator (`simulate.backend: cpu`): the CUDA
// backend's algorithm (grf_cuda.h) on the host with FFTW3, and the same physics as the LibTorch
// reference sim::GrfSimulator (grf_simulator.h; docs/method.md §3.3–3.6). docs/cpu.md has the
// design and the measured speed.
//
// One realisation (key), all in one complex buffer of N²(N/2+1) values (nothing else of size N³):
//   A. per pair of columns j (fixed work units): Philox white noise drawn directly in the rfft half
//      spectrum with the CUDA backend's code (grf_cuda_noise.h: same keys, same Hermitian planes,
//      bit for bit its host twin), × √P(|k|) (the reference's float32 table), DC = 0, the field
//      variance by Parseval (Σ mult·|X|², double), then the inverse complex FFT along axis 0 of
//      those columns while they are in cache;
//   B. per plane i: the 2-D C2R of the plane in place (the rest of the 3-D inverse FFT), then, on
//      the plane still in cache, v = S − ½ = ½·tanh(G/2σ), Σ v over the grid (mean S) and each
//      particle's core sums over |z − N/2| ≤ m per column (grf_cuda_geometry.h masks);
//   C. the 2-D stage in float64 (FFTW): contrast projection = homogeneous base + core sums −
//      (mean S − ½)·n_core, periodic Gaussian smoothing, zero padding to N_f, |rfft2|², the
//      reference's sparse radial average (its weights, bit for bit).
// The field is standardised with the Parseval moments (mean exactly 0), as the CUDA backend does.
//
// Determinism: work is split in fixed units (column pairs, planes), each transformed by the same
// single-threaded FFTW plan, and partial sums are combined in unit order, so a key gives the same
// bits for any thread count, rank count or shard. FFTW_MEASURE may choose different plans in
// different processes: the plans are kept as wisdom files in CpuOptions::wisdom_dir (the stages use
// RUN/fftw), made once under a file lock and imported by every later process, so every shard, rank
// and resume of a run uses the same plans (and the 512³ plans are measured once per run).
//
// This header includes neither FFTW nor LibTorch.
#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lnpsaxs::sim {

struct GridSpec;
struct Structure;
enum class Interior;

/// Settings of the CPU backend that do not change the results.
struct CpuOptions {
  int threads = 1;  ///< OpenMP threads for phases A and B (≥ 1); the results do not depend on it
  /// Directory of the FFTW wisdom files (created if missing); "" keeps plans in this process only.
  std::string wisdom_dir;
};

/// Wall time of the phases of one realisation [ms] (median over repeats).
struct CpuStageTimes {
  double spectrum_fft0_ms = 0;  ///< phase A: noise × filter + Parseval + FFT along axis 0
  double planes_ms = 0;         ///< phase B: per-plane 2-D C2R + logistic + sums
  double two_d_ms = 0;          ///< phase C: the 2-D stage
  double total_ms = 0;
  /// The same phases in process CPU time [ms] (all threads; on a loaded machine the better measure).
  double spectrum_fft0_cpu_ms = 0, planes_cpu_ms = 0, two_d_cpu_ms = 0, total_cpu_ms = 0;
  int repeats = 0;
};

class GrfSimulatorCpu {
 public:
  /// Validates the grid and q exactly as the reference does (lnpsaxs::InputError), builds the
  /// radial weights (the reference's), the masks' helpers and the FFTW plans (FFTW_MEASURE, with
  /// the wisdom of options.wisdom_dir). Throws InputError for threads < 1, RuntimeFailure if FFTW
  /// cannot plan or allocate. Memory: N²(N/2+1)·8 bytes for the field (539 MB at N = 512) plus the
  /// 2-D buffers (≈ 3·N_f²·8 bytes) and the radial weights.
  GrfSimulatorCpu(const GridSpec& grid, std::vector<double> q, Interior interior, CpuOptions options = {});
  ~GrfSimulatorCpu();
  GrfSimulatorCpu(GrfSimulatorCpu&&) noexcept;
  GrfSimulatorCpu& operator=(GrfSimulatorCpu&&) noexcept;
  GrfSimulatorCpu(const GrfSimulatorCpu&) = delete;
  GrfSimulatorCpu& operator=(const GrfSimulatorCpu&) = delete;

  const GridSpec& grid() const;
  const std::vector<double>& q() const;
  Interior interior() const;
  int threads() const;
  double max_radius() const;  ///< as GrfSimulator::max_radius [Å]

  /// Same checks and messages as GrfSimulator::validate (InputError).
  void validate(const Structure& s) const;

  /// One realisation: radially averaged |F|² at q(), [n_q] float64, in the reference's units
  /// (Δx⁻⁶·Å⁶). The homogeneous interior ignores `key`. Not thread-safe (one buffer per simulator).
  std::vector<double> realisation(const Structure& s, std::uint64_t key) const;

  /// Mean of the realisations over `keys`, [n_q] (InputError if keys is empty; InputError if P(q)
  /// has no power on the grid).
  std::vector<double> mean_intensity(const Structure& s, const std::vector<std::uint64_t>& keys) const;

  /// Mean curves of particles sharing the GRF spectrum (w, m_q1, m_q2, s_q1, s_q2): one field per
  /// key serves all of them. [particles][n_q]. InputError if the spectra differ or a list is empty.
  std::vector<std::vector<double>> mean_intensities(const std::vector<Structure>& particles,
                                                    const std::vector<std::uint64_t>& keys) const;

  /// ρ_int = S − mean S + 1 + delta_rho_int on the central plane z = N/2 of the realisation of
  /// `key`, [N, N] row-major (i, j): the interior density the simulator uses (GRF interior only).
  std::vector<double> interior_slice(const Structure& s, std::uint64_t key) const;

  // ---- stages, exposed for tests (they copy N³ arrays) ------------------------------------------

  /// The white-noise half spectrum of `key` as phase A draws it (filter ≡ 1, DC = 0, before any
  /// FFT), [N, N, N/2+1] C order: equal bit for bit to cuda_host::noise_spectrum. GRF only.
  std::vector<std::complex<float>> noise_spectrum(std::uint64_t key) const;
  /// √P(|k|) on the half-spectrum layout [N, N, N/2+1] float32, DC = 0 (GrfSimulator::spectral_filter).
  std::vector<float> spectral_filter(const Structure& s) const;
  /// The real field C2R(noise_spectrum(key)) [N, N, N] float32 (unnormalised inverse): iid N(0, 1)
  /// white noise with mean exactly 0. GRF only.
  std::vector<float> white_noise(std::uint64_t key) const;
  /// The standardised field G [N, N, N] float32 (G/σ with the Parseval σ; mean 0, variance 1).
  std::vector<float> standardised_field(const Structure& s, std::uint64_t key) const;
  /// Projection Σ_z Δρ of the contrast before smoothing, [N, N] float64 (as
  /// GrfSimulator::contrast_projection).
  std::vector<double> contrast_projection(const Structure& s, std::uint64_t key) const;

  /// Times the phases of one realisation (median over `repeats` after a warm-up). GRF only.
  CpuStageTimes time_realisation(const Structure& s, std::uint64_t key, int repeats) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lnpsaxs::sim
