#include "models/simulator/simulator.h"

// Per-operator ATen headers instead of <torch/torch.h> (this file compiles in seconds).
#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/sigmoid.h>

#include <cmath>
#include <utility>

#include "lnpsaxs/errors.h"
#include "models/simulator/cpu/grf_cpu.h"
#include "models/simulator/cuda/grf_cuda.h"
#include "models/simulator/grf_simulator.h"

namespace lnpsaxs::sim {
namespace {

/// ρ_int on the plane z = N/2 from a standardised field [N, N, N] (float64 sigmoid, mean over all
/// voxels), as analyze computed it from the reference's field.
std::vector<double> slice_from_field(const std::vector<float>& g, std::int64_t n, double delta_rho_int) {
  double mean_s = 0.0;
  std::vector<double> mid(static_cast<std::size_t>(n * n));
  for (std::size_t e = 0; e < g.size(); ++e) {
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g[e])));
    mean_s += s;
    if (static_cast<std::int64_t>(e) % n == n / 2) mid[e / static_cast<std::size_t>(n)] = s;
  }
  mean_s /= static_cast<double>(g.size());
  for (double& v : mid) v = v - mean_s + 1.0 + delta_rho_int;
  return mid;
}

class TorchSimulator final : public Simulator {
 public:
  TorchSimulator(const GridSpec& grid, const std::vector<double>& q, Interior interior, c10::Device device)
      : sim_(grid, q, device, interior) {}
  Backend backend() const override { return Backend::torch; }
  std::string description() const override { return sim_.device().str() + " (LibTorch reference)"; }
  const GridSpec& grid() const override { return sim_.grid(); }
  const std::vector<double>& q() const override { return sim_.q(); }
  Interior interior() const override { return sim_.interior(); }
  double max_radius() const override { return sim_.max_radius(); }
  void validate(const Structure& s) const override { sim_.validate(s); }
  std::vector<double> mean_intensity(const Structure& s,
                                     const std::vector<std::uint64_t>& keys) const override {
    const at::Tensor y = sim_.mean_intensity(s, keys).to(c10::Device(c10::kCPU), at::kDouble).contiguous();
    return std::vector<double>(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
  }
  std::vector<double> interior_slice(const Structure& s, std::uint64_t key) const override {
    at::NoGradGuard no_grad;
    const std::int64_t n = sim_.grid().n;
    const at::Tensor sig = at::sigmoid(sim_.standardised_field(s, key).to(at::kDouble));
    const double mean_s = sig.mean().item<double>();
    const at::Tensor mid =
        (sig.select(2, n / 2) - mean_s + 1.0 + s.delta_rho_int).to(c10::Device(c10::kCPU)).contiguous();
    return std::vector<double>(mid.data_ptr<double>(), mid.data_ptr<double>() + mid.numel());
  }

 private:
  GrfSimulator sim_;
};

class CpuSimulator final : public Simulator {
 public:
  CpuSimulator(const GridSpec& grid, const std::vector<double>& q, Interior interior,
               const SimulatorOptions& o)
      : sim_(grid, q, interior, CpuOptions{o.threads, o.fftw_wisdom_dir}) {}
  Backend backend() const override { return Backend::cpu; }
  std::string description() const override {
    return "cpu (fused FFTW3 backend, " + std::to_string(sim_.threads()) + " thread(s))";
  }
  const GridSpec& grid() const override { return sim_.grid(); }
  const std::vector<double>& q() const override { return sim_.q(); }
  Interior interior() const override { return sim_.interior(); }
  double max_radius() const override { return sim_.max_radius(); }
  void validate(const Structure& s) const override { sim_.validate(s); }
  std::vector<double> mean_intensity(const Structure& s,
                                     const std::vector<std::uint64_t>& keys) const override {
    return sim_.mean_intensity(s, keys);
  }
  std::vector<double> interior_slice(const Structure& s, std::uint64_t key) const override {
    return sim_.interior_slice(s, key);
  }

 private:
  GrfSimulatorCpu sim_;
};

class CudaSimulator final : public Simulator {
 public:
  CudaSimulator(const GridSpec& grid, const std::vector<double>& q, Interior interior, int device)
      : sim_(grid, q, device, interior) {}
  Backend backend() const override { return Backend::cuda; }
  std::string description() const override {
    return "cuda:" + std::to_string(sim_.device()) + " " + cuda_device_name(sim_.device()) +
           " (fused CUDA backend)";
  }
  const GridSpec& grid() const override { return sim_.grid(); }
  const std::vector<double>& q() const override { return sim_.q(); }
  Interior interior() const override { return sim_.interior(); }
  double max_radius() const override { return sim_.max_radius(); }
  void validate(const Structure& s) const override { sim_.validate(s); }
  std::vector<double> mean_intensity(const Structure& s,
                                     const std::vector<std::uint64_t>& keys) const override {
    return sim_.mean_intensity(s, keys);
  }
  std::vector<double> interior_slice(const Structure& s, std::uint64_t key) const override {
    return slice_from_field(sim_.standardised_field(s, key), sim_.grid().n, s.delta_rho_int);
  }

 private:
  GrfSimulatorCuda sim_;
};

}  // namespace

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::torch:
      return "torch";
    case Backend::cpu:
      return "cpu";
    case Backend::cuda:
      return "cuda";
  }
  return "?";
}

Backend parse_backend(const std::string& name, const std::string& what) {
  if (name == "torch") return Backend::torch;
  if (name == "cpu") return Backend::cpu;
  if (name == "cuda") return Backend::cuda;
  throw InputError(what + " must be auto, torch, cpu or cuda, got '" + name + "'");
}

Backend resolve_backend(const std::string& name, const std::string& what) {
  if (name == "auto")
    return cuda_backend_compiled() && cuda_device_count() > 0 ? Backend::cuda : Backend::cpu;
  return parse_backend(name, what);
}

std::unique_ptr<Simulator> make_simulator(const GridSpec& grid, const std::vector<double>& q,
                                          Interior interior, const SimulatorOptions& options) {
  switch (options.backend) {
    case Backend::torch:
      return std::make_unique<TorchSimulator>(grid, q, interior, options.torch_device);
    case Backend::cpu:
      return std::make_unique<CpuSimulator>(grid, q, interior, options);
    case Backend::cuda:
      return std::make_unique<CudaSimulator>(grid, q, interior, options.cuda_device);
  }
  throw InputError("make_simulator: unknown backend");
}

}  // namespace lnpsaxs::sim
