// Host glue of the CUDA simulator backend: takes the reference's types, validates exactly as the
// reference does (a CPU GrfSimulator with a homogeneous interior holds the grid checks, the
// structure checks and the radial-average weights, so both backends share them bit for bit) and
// hands plain tables to the device engine (grf_cuda.cu). Compiled only when CUDA is enabled;
// grf_cuda_stub.cpp replaces it otherwise.
#include "models/simulator/cuda/grf_cuda.h"

#include <ATen/core/Tensor.h>

#include <cmath>
#include <utility>

#include "models/simulator/cuda/grf_cuda_engine.h"
#include "models/simulator/cuda/grf_cuda_host.h"
#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/physics/form_factor.h"

namespace lnpsaxs::sim {
namespace {

cuda_detail::EngineSetup make_setup(const GrfSimulator& ref, Interior interior, const CudaOptions& options) {
  const GridSpec& g = ref.grid();
  cuda_detail::EngineSetup s;
  s.n = g.n;
  s.dx = g.dx;
  s.n_fft = g.n_fft;
  s.smooth = g.smooth_sigma_px > 0.0;
  if (s.smooth) s.smoothing_factor = cuda_host::smoothing_factor(g.n, g.smooth_sigma_px);
  const at::Tensor& idx = ref.radial_index();
  const at::Tensor& wt = ref.radial_weight();
  s.n_q = idx.size(0);
  s.radial_k = idx.size(1);
  const at::Tensor idx_c = idx.contiguous(), wt_c = wt.contiguous();
  const std::int64_t* ip = idx_c.data_ptr<std::int64_t>();
  const double* wp = wt_c.data_ptr<double>();
  const auto count = static_cast<std::size_t>(idx_c.numel());
  s.radial_index.resize(count);
  for (std::size_t e = 0; e < count; ++e) s.radial_index[e] = static_cast<std::int32_t>(ip[e]);
  s.radial_weight.assign(wp, wp + count);
  s.grf = interior == Interior::grf;
  if (options.max_batch_2d < 1)
    throw InputError("CUDA simulator: max_batch_2d must be >= 1, got " +
                     std::to_string(options.max_batch_2d));
  s.max_batch_2d = options.max_batch_2d;
  return s;
}

}  // namespace

struct GrfSimulatorCuda::Impl {
  Impl(const GridSpec& grid, std::vector<double> q, int device_index, Interior kind,
       const CudaOptions& options)
      : reference(grid, std::move(q), c10::Device(c10::kCPU), Interior::homogeneous),
        device(device_index),
        interior(kind),
        engine(make_setup(reference, kind, options), device_index) {}

  GrfSimulator reference;  // CPU, homogeneous: grid/q/structure checks and the radial weights
  int device;
  Interior interior;
  cuda_detail::Engine engine;

  /// Validates s (the reference's checks, and for the GRF the spectrum's) and returns its spectrum.
  cuda_detail::Spectrum spectrum_of(const Structure& s) const {
    reference.validate(s);
    cuda_detail::Spectrum sp;
    sp.dq = reference.delta_q_3d();
    if (interior != Interior::grf) return sp;
    validate_grf_spectrum(s);
    const physics::LogNormal c1 = physics::lognormal_from_mean_sd(s.m_q1, s.s_q1);
    const physics::LogNormal c2 = physics::lognormal_from_mean_sd(s.m_q2, s.s_q2);
    sp.w = s.w;
    sp.mu1 = c1.mu;
    sp.sigma1 = c1.sigma;
    sp.mu2 = c2.mu;
    sp.sigma2 = c2.sigma;
    return sp;
  }

  static cuda_detail::Particle particle_of(const Structure& s) {
    const physics::CoreShellContrast c = physics::core_shell_contrast(s.rho_rel, s.delta_rho_int);
    cuda_detail::Particle p;
    p.radius = s.radius;
    p.core_radius = s.radius - s.shell_thickness;
    p.c_core = c.core;
    p.c_shell = c.shell;
    return p;
  }

  void require_grf(const char* what) const {
    if (interior != Interior::grf)
      throw InputError(std::string(what) + ": the simulator has a homogeneous interior");
  }
};

GrfSimulatorCuda::GrfSimulatorCuda(const GridSpec& grid, std::vector<double> q, int device, Interior interior,
                                   CudaOptions options)
    : impl_(std::make_unique<Impl>(grid, std::move(q), device, interior, options)) {}
GrfSimulatorCuda::~GrfSimulatorCuda() = default;
GrfSimulatorCuda::GrfSimulatorCuda(GrfSimulatorCuda&&) noexcept = default;
GrfSimulatorCuda& GrfSimulatorCuda::operator=(GrfSimulatorCuda&&) noexcept = default;

const GridSpec& GrfSimulatorCuda::grid() const { return impl_->reference.grid(); }
const std::vector<double>& GrfSimulatorCuda::q() const { return impl_->reference.q(); }
int GrfSimulatorCuda::device() const { return impl_->device; }
Interior GrfSimulatorCuda::interior() const { return impl_->interior; }
double GrfSimulatorCuda::max_radius() const { return impl_->reference.max_radius(); }

void GrfSimulatorCuda::validate(const Structure& s) const { (void)impl_->spectrum_of(s); }

std::vector<double> GrfSimulatorCuda::realisation(const Structure& s, std::uint64_t key) const {
  return mean_intensity(s, {key});
}

std::vector<double> GrfSimulatorCuda::mean_intensity(const Structure& s,
                                                     const std::vector<std::uint64_t>& keys) const {
  return mean_intensities({s}, keys).front();
}

std::vector<std::vector<double>> GrfSimulatorCuda::mean_intensities(
    const std::vector<Structure>& particles, const std::vector<std::uint64_t>& keys) const {
  require_shared_field(particles, keys.size(), impl_->interior == Interior::grf);
  const cuda_detail::Spectrum sp = impl_->spectrum_of(particles.front());
  std::vector<cuda_detail::Particle> parts;
  for (const Structure& s : particles) {
    impl_->spectrum_of(s);  // validates every particle
    parts.push_back(Impl::particle_of(s));
  }
  return impl_->engine.mean_curves(sp, parts, keys);
}

std::vector<std::complex<float>> GrfSimulatorCuda::noise_spectrum(std::uint64_t key) const {
  impl_->require_grf("noise_spectrum");
  return impl_->engine.spectrum(nullptr, key, nullptr);
}

std::vector<float> GrfSimulatorCuda::white_noise(std::uint64_t key) const {
  impl_->require_grf("white_noise");
  return impl_->engine.field(nullptr, key, false);
}

std::vector<float> GrfSimulatorCuda::spectral_filter(const Structure& s) const {
  impl_->require_grf("spectral_filter");
  return impl_->engine.filter(impl_->spectrum_of(s));
}

std::vector<float> GrfSimulatorCuda::standardised_field(const Structure& s, std::uint64_t key) const {
  impl_->require_grf("standardised_field");
  const cuda_detail::Spectrum sp = impl_->spectrum_of(s);
  return impl_->engine.field(&sp, key, true);
}

std::vector<double> GrfSimulatorCuda::contrast_projection(const Structure& s, std::uint64_t key) const {
  return impl_->engine.projection(impl_->spectrum_of(s), Impl::particle_of(s), key);
}

CudaStageTimes GrfSimulatorCuda::time_realisation(const Structure& s, std::uint64_t key, int repeats) const {
  impl_->require_grf("time_realisation");
  return impl_->engine.time_realisation(impl_->spectrum_of(s), Impl::particle_of(s), key, repeats);
}

}  // namespace lnpsaxs::sim
