// The CUDA simulator backend in a build without CUDA: every entry point throws
// lnpsaxs::NotCompiled (exit code 2 in a stage: asking for `simulate.backend: cuda` is a choice
// the user can change). cuda_backend_compiled() says so without throwing.
#include "models/simulator/cuda/grf_cuda.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::sim {
namespace {
[[noreturn]] void not_compiled() { throw NotCompiled("the CUDA simulator backend"); }
}  // namespace

struct GrfSimulatorCuda::Impl {};

GrfSimulatorCuda::GrfSimulatorCuda(const GridSpec&, std::vector<double>, int, Interior, CudaOptions) {
  not_compiled();
}
GrfSimulatorCuda::~GrfSimulatorCuda() = default;
GrfSimulatorCuda::GrfSimulatorCuda(GrfSimulatorCuda&&) noexcept = default;
GrfSimulatorCuda& GrfSimulatorCuda::operator=(GrfSimulatorCuda&&) noexcept = default;

const GridSpec& GrfSimulatorCuda::grid() const { not_compiled(); }
const std::vector<double>& GrfSimulatorCuda::q() const { not_compiled(); }
int GrfSimulatorCuda::device() const { not_compiled(); }
Interior GrfSimulatorCuda::interior() const { not_compiled(); }
double GrfSimulatorCuda::max_radius() const { not_compiled(); }
void GrfSimulatorCuda::validate(const Structure&) const { not_compiled(); }
std::vector<double> GrfSimulatorCuda::realisation(const Structure&, std::uint64_t) const { not_compiled(); }
std::vector<double> GrfSimulatorCuda::mean_intensity(const Structure&,
                                                     const std::vector<std::uint64_t>&) const {
  not_compiled();
}
std::vector<std::vector<double>> GrfSimulatorCuda::mean_intensities(const std::vector<Structure>&,
                                                                    const std::vector<std::uint64_t>&) const {
  not_compiled();
}
std::vector<std::complex<float>> GrfSimulatorCuda::noise_spectrum(std::uint64_t) const { not_compiled(); }
std::vector<float> GrfSimulatorCuda::white_noise(std::uint64_t) const { not_compiled(); }
std::vector<float> GrfSimulatorCuda::spectral_filter(const Structure&) const { not_compiled(); }
std::vector<float> GrfSimulatorCuda::standardised_field(const Structure&, std::uint64_t) const {
  not_compiled();
}
std::vector<double> GrfSimulatorCuda::contrast_projection(const Structure&, std::uint64_t) const {
  not_compiled();
}
CudaStageTimes GrfSimulatorCuda::time_realisation(const Structure&, std::uint64_t, int) const {
  not_compiled();
}

bool cuda_backend_compiled() { return false; }
int cuda_device_count() { not_compiled(); }
std::string cuda_device_name(int) { not_compiled(); }
double cuda_copy_bandwidth_gbs(int, std::size_t, int) { not_compiled(); }

}  // namespace lnpsaxs::sim
