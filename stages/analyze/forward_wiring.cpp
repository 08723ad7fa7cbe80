// The forward model of a fitted ensemble for the Jacobians: the differentiable polydisperse model
// of models/forward (library lnpsaxs_forward), rebuilt from the fit's own output so that analyze
// differentiates exactly the map that was fitted (same q grid, invariant window, background,
// truncation, quadrature nodes and, for `surrogate`, the trained network).
#include "analyze_stage.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/torch_runtime.h"
#include "models/forward/forward_model.h"

namespace lnpsaxs::analysis {

std::optional<ForwardFn> forward_model_for(const cli::StageContext& ctx, const FitEnsemble& fits, std::string& why) {
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
}

}  // namespace lnpsaxs::analysis
