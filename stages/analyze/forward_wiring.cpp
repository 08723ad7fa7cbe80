// The forward model of a fitted ensemble for the Jacobians: the fit stage's differentiable
// polydisperse model (stages/fit/forward_model.h, library lnpsaxs_fit_lib), rebuilt from the fit's
// own output so that analyze differentiates exactly the map that was fitted (same q grid, invariant
// window, background, truncation, quadrature nodes and, for `surrogate`, the trained network).
//
// Compiled with LNPSAXS_ANALYZE_WITH_FIT_MODEL = 1 when CMake has the fit library
// (stages/analyze/CMakeLists.txt); without it every analysis file's /sensitivity says
// "skipped: ..." and the rest of the analysis is unaffected.
#include "analyze_stage.h"
#include "lnpsaxs/errors.h"

#if LNPSAXS_ANALYZE_WITH_FIT_MODEL
#include "forward_model.h"
#include "lnpsaxs/torch_runtime.h"
#endif

namespace lnpsaxs::analysis {

std::optional<ForwardFn> forward_model_for(const cli::StageContext& ctx, const FitEnsemble& fits, std::string& why) {
#if LNPSAXS_ANALYZE_WITH_FIT_MODEL
  try {
    const c10::Device device = torchrt::select_device(ctx.cfg, ctx.mpi.local_rank());
    const fit::ForwardModel model = fit::ForwardModel::from_fit_output(fits.path, ctx.opts.run_dir, device);
    if (model.parameter_names() != fits.names) {
      why = "the fit library's " + fits.model + " model takes other parameters than " + fits.path + " lists";
      return std::nullopt;
    }
    if (model.n_q() != fits.n_q()) {
      why = "the fit library's model has " + std::to_string(model.n_q()) + " q points, " + fits.path + " has " +
            std::to_string(fits.n_q());
      return std::nullopt;
    }
    return ForwardFn([model](const at::Tensor& params) { return model.log10_intensity(params); });
  } catch (const InputError& e) {  // includes NotCompiled (a surrogate fit in a build without train)
    why = std::string("cannot rebuild the forward model: ") + e.what();
    return std::nullopt;
  }
#else
  (void)ctx;
  (void)fits;
  why = "the fit stage's forward model (stages/fit/forward_model.h) was not compiled into this build";
  return std::nullopt;
#endif
}

}  // namespace lnpsaxs::analysis
