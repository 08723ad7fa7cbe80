#pragma once
// The GRF simulator as the stages configure it (simulate, synth, analyze's density slices): the
// grid of the config's `simulate` section, the checks of that grid against the parameter box and
// the q grid, and the backend of this rank. docs/method.md §3 (the simulator), docs/architecture.md
// (config sections, `--backend`). No LibTorch, FFTW or CUDA headers here.
#include <memory>
#include <string>
#include <vector>

#include "lnpsaxs/cli.h"
#include "models/simulator/grf_types.h"
#include "models/simulator/simulator.h"

namespace lnpsaxs::sim {

/// Grid settings from the config's `simulate` section (grid_n, dx, n_fft, smooth_sigma_px,
/// radial_sigma).
GridSpec grid_from_config(const config::Config& cfg);

/// Checks the grid against the q grid before any work: q.max must not exceed the Nyquist limit
/// π/Δx [Å⁻¹] (names q.max, simulate.dx). Throws ConfigError.
void validate_grid(const config::Config& cfg);
/// The radius check against the largest radius `max_radius` [Å] a simulator's grid holds
/// (Simulator::max_radius()): names parameters.radius, simulate.grid_n, simulate.dx. Throws
/// ConfigError.
void validate_grid(const config::Config& cfg, double max_radius);

/// The simulator backend of this rank: --backend if given, else simulate.backend, with auto
/// resolved (cuda on a rank that sees a GPU in a CUDA build, else cpu). InputError for a bad name.
Backend backend_from_config(const cli::StageContext& ctx);

/// Where the cpu backend keeps its FFTW wisdom: $LNPSAXS_FFTW_WISDOM_DIR if set (to share plans
/// between run directories, e.g. in tests that compare runs bit for bit), else RUN/fftw.
std::string fftw_wisdom_dir(const cli::StageContext& ctx);

/// The simulator every stage uses: backend_from_config, the torch device from execution.device,
/// the CUDA device local_rank % devices, `threads` OpenMP threads for cpu. InputError if cuda is
/// asked for and no device is visible, NotCompiled (exit 2) without a CUDA build; the grid/q errors
/// of GrfSimulator.
std::unique_ptr<Simulator> simulator_from_config(const cli::StageContext& ctx, const GridSpec& grid,
                                                 const std::vector<double>& q, Interior interior, int threads);

}  // namespace lnpsaxs::sim
