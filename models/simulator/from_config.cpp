#include "models/simulator/from_config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/torch_runtime.h"
#include "models/simulator/cuda/grf_cuda.h"

namespace lnpsaxs::sim {

GridSpec grid_from_config(const config::Config& cfg) {
  GridSpec g;
  g.n = cfg.integer("simulate.grid_n");
  g.dx = cfg.real("simulate.dx");
  g.n_fft = cfg.integer("simulate.n_fft");
  g.smooth_sigma_px = cfg.real("simulate.smooth_sigma_px");
  g.radial_sigma = cfg.real("simulate.radial_sigma");
  return g;
}

void validate_grid(const config::Config& cfg, double max_radius) {
  const double r_max = cfg.range("parameters.radius").second;
  if (r_max > max_radius) {
    throw ConfigError(cfg.where("parameters.radius") + "largest radius " + std::to_string(r_max) +
                      " Å does not fit the simulation grid: simulate.grid_n = " + std::to_string(cfg.integer("simulate.grid_n")) +
                      " voxels of simulate.dx = " + std::to_string(cfg.real("simulate.dx")) +
                      " Å hold radii up to " + std::to_string(max_radius) +
                      " Å (2r plus a smoothing margin must fit inside N·Δx); enlarge grid_n or dx");
  }
}

void validate_grid(const config::Config& cfg) {
  const double nyquist = M_PI / cfg.real("simulate.dx");
  if (cfg.real("q.max") > nyquist) {
    throw ConfigError(cfg.where("q.max") + "q.max = " + std::to_string(cfg.real("q.max")) +
                      " Å^-1 is above the grid's Nyquist limit π/simulate.dx = " + std::to_string(nyquist) +
                      " Å^-1; lower q.max or simulate.dx");
  }
}

Backend backend_from_config(const cli::StageContext& ctx) {
  if (ctx.opts.vm.count("backend")) return resolve_backend(ctx.opts.vm["backend"].as<std::string>(), "--backend");
  return resolve_backend(ctx.cfg.string("simulate.backend"), "simulate.backend");
}

std::string fftw_wisdom_dir(const cli::StageContext& ctx) {
  const char* env = std::getenv("LNPSAXS_FFTW_WISDOM_DIR");
  return env != nullptr && *env != '\0' ? std::string(env) : ctx.path("fftw");
}

std::unique_ptr<Simulator> simulator_from_config(const cli::StageContext& ctx, const GridSpec& grid,
                                                 const std::vector<double>& q, Interior interior, int threads) {
  SimulatorOptions o;
  o.backend = backend_from_config(ctx);
  o.threads = std::max(1, threads);
  o.fftw_wisdom_dir = fftw_wisdom_dir(ctx);
  if (o.backend == Backend::torch) o.torch_device = torchrt::select_device(ctx.cfg, ctx.mpi.local_rank());
  if (o.backend == Backend::cuda) {
    const int devices = cuda_device_count();  // NotCompiled (exit 2) in a build without CUDA
    if (devices == 0)
      throw InputError("simulate.backend = cuda: no CUDA device is visible on this node (use auto, cpu or torch)");
    o.cuda_device = ctx.mpi.local_rank() % devices;  // one rank per GPU
  }
  return make_simulator(grid, q, interior, o);
}

}  // namespace lnpsaxs::sim
