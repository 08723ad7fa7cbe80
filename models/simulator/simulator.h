#pragma once
// One interface over the backends of the GRF core–shell simulator (docs/method.md §3), so that
// the stages (simulate, synth, analyze's density slices) hold a Simulator and never ask which one:
//   torch  sim::GrfSimulator       the LibTorch reference (CPU or CUDA tensors), unchanged
//   cpu    sim::GrfSimulatorCpu    fused FFTW3 path (grf_cpu.h), the host twin of the CUDA backend
//   cuda   sim::GrfSimulatorCuda   fused cuFFT path (grf_cuda.h); NotCompiled in a CPU-only build
// The cpu and cuda backends draw the same Fourier-space noise for a key (their fields agree to FFT
// rounding); the torch backend draws real-space noise, so its curves agree with theirs
// statistically, not bit for bit. Keep one backend for a whole run (the shard files record it).
// No LibTorch, FFTW or CUDA headers here.
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/simulator/grf_types.h"

namespace lnpsaxs::sim {

enum class Backend { torch, cpu, cuda };

/// "torch", "cpu" or "cuda".
const char* backend_name(Backend b);
/// Parses "torch", "cpu" or "cuda" (not "auto": see resolve_backend). InputError otherwise, naming
/// `what` (e.g. "simulate.backend") and the value.
Backend parse_backend(const std::string& name, const std::string& what);
/// "auto" → cuda when this build has the CUDA backend and a CUDA device is visible, else cpu;
/// any other name as parse_backend.
Backend resolve_backend(const std::string& name, const std::string& what);

/// How to build a simulator; only the fields of the chosen backend are read.
struct SimulatorOptions {
  Backend backend = Backend::cpu;
  c10::Device torch_device = c10::Device(c10::kCPU);  ///< torch: the tensors' device
  int cuda_device = 0;                                ///< cuda: device index
  int threads = 1;                                    ///< cpu: OpenMP threads (results independent of it)
  std::string fftw_wisdom_dir;                        ///< cpu: FFTW wisdom cache ("" = none)
};

/// A GRF core–shell simulator on one grid and q grid. Curves are radially averaged |F|² at q(),
/// float64 on the host, in Δx⁻⁶·Å⁶ (grf_simulator.h). Methods throw lnpsaxs::InputError for an
/// invalid structure (naming the value). Not thread-safe: one simulator per thread.
class Simulator {
 public:
  virtual ~Simulator() = default;
  virtual Backend backend() const = 0;
  /// For logs, e.g. "cpu (FFTW3, 2 threads)" or "cuda:0 NVIDIA H200 (fused CUDA backend)".
  virtual std::string description() const = 0;
  virtual const GridSpec& grid() const = 0;
  virtual const std::vector<double>& q() const = 0;
  virtual Interior interior() const = 0;
  /// Largest radius the grid holds [Å] (GrfSimulator::max_radius).
  virtual double max_radius() const = 0;
  virtual void validate(const Structure& s) const = 0;
  /// Mean curve over the realisations `keys` [n_q] (InputError if keys is empty).
  virtual std::vector<double> mean_intensity(const Structure& s,
                                             const std::vector<std::uint64_t>& keys) const = 0;
  /// One realisation [n_q].
  std::vector<double> realisation(const Structure& s, std::uint64_t key) const {
    return mean_intensity(s, {key});
  }
  /// The interior density ρ_int = S − mean S + 1 + delta_rho_int of the realisation `key` on the
  /// central plane z = N/2, [N, N] row-major (i, j) (GRF interior only; analyze's slices).
  virtual std::vector<double> interior_slice(const Structure& s, std::uint64_t key) const = 0;
};

/// Builds the simulator of options.backend. Throws InputError for an invalid grid or q (as
/// GrfSimulator), NotCompiled for cuda in a build without CUDA, RuntimeFailure if a library fails.
std::unique_ptr<Simulator> make_simulator(const GridSpec& grid, const std::vector<double>& q,
                                          Interior interior, const SimulatorOptions& options);

}  // namespace lnpsaxs::sim
