#pragma once
// Internal interface between the host glue (grf_cuda.cpp: LibTorch reference types, validation,
// radial weights) and the device engine (grf_cuda.cu). Plain data only: no CUDA, no LibTorch.
#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

#include "models/simulator/cuda/grf_cuda.h"

namespace lnpsaxs::sim::cuda_detail {

/// Everything the engine needs about the grid, built once per simulator.
struct EngineSetup {
  std::int64_t n = 0;                    ///< N: voxels per axis (even, 8 … 2048)
  double dx = 0;                         ///< Δx [Å]
  std::int64_t n_fft = 0;                ///< N_f (even, ≥ N)
  bool smooth = false;                   ///< σ > 0: apply the 2-D smoothing
  std::vector<double> smoothing_factor;  ///< [N, N/2+1] exp(−½σ²k²) (when smooth)
  std::int64_t n_q = 0;
  std::int64_t radial_k = 0;               ///< stored weights per q (padded with weight 0)
  std::vector<std::int32_t> radial_index;  ///< [n_q, K] flat index into the [N_f, N_f/2+1] half plane
  std::vector<double> radial_weight;       ///< [n_q, K]
  bool grf = true;                         ///< GRF interior (else homogeneous: no 3-D field)
  int max_batch_2d = 32;
};

/// One particle on the grid (lengths in Å, contrasts relative to the solvent).
struct Particle {
  double radius = 0;       ///< outer radius r
  double core_radius = 0;  ///< r − d
  double c_core = 0;       ///< Δρ_c = delta_rho_int
  double c_shell = 0;      ///< Δρ_s = rho_rel·(1 + delta_rho_int) − 1
};

/// The log-normal spectrum P(q) = (1 − w)·LN(μ₁, σ₁) + w·LN(μ₂, σ₂) and the 3-D mode spacing.
struct Spectrum {
  double w = 0, mu1 = 0, sigma1 = 1, mu2 = 0, sigma2 = 1;
  double dq = 0;  ///< Δq_3D = 2π/(NΔx) [Å⁻¹]
};

class Engine {
 public:
  /// Allocates nothing large yet; makes the C2R plan for the GRF interior. Throws InputError for
  /// a bad device index or N > 2048, RuntimeFailure for a failed CUDA/cuFFT call.
  Engine(EngineSetup setup, int device);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Mean curve of each particle over `keys` [particles][n_q]; `spectrum` is ignored for the
  /// homogeneous interior (one realisation serves every key).
  std::vector<std::vector<double>> mean_curves(const Spectrum& spectrum,
                                               const std::vector<Particle>& particles,
                                               const std::vector<std::uint64_t>& keys);

  /// Half spectrum after noise × filter (unit filter when `spectrum` is null); `variance` gets the
  /// Parseval sum the device computed.
  std::vector<std::complex<float>> spectrum(const Spectrum* spectrum, std::uint64_t key, double* variance);
  /// √P table lookup on the half-spectrum layout.
  std::vector<float> filter(const Spectrum& spectrum);
  /// The real field after C2R: standardised with the Parseval moments when `standardise`.
  std::vector<float> field(const Spectrum* spectrum, std::uint64_t key, bool standardise);
  /// The contrast projection [N, N] before smoothing.
  std::vector<double> projection(const Spectrum& spectrum, const Particle& particle, std::uint64_t key);

  CudaStageTimes time_realisation(const Spectrum& spectrum, const Particle& particle, std::uint64_t key,
                                  int repeats);

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace lnpsaxs::sim::cuda_detail
