// lnpsaxs-analyze: ensemble analysis of RUN/fits/<name>/fits.h5 → RUN/analysis/<name>.h5.
#include "analyze_stage.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  po::options_description opts("analyze options");
  opts.add_options()
    ("target", po::value<std::vector<std::string>>()->multitoken(),
     "analyse only these targets (names of RUN/fits/<name>/; default: analyze.targets, else all)")
    ("debug-forward-model",
     "use a synthetic smooth model instead of the fit's forward model for the Jacobians (tests of the "
     "sensitivity path only; the numbers are not physics)");
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::analysis::stage_info(), opts, lnpsaxs::analysis::run);
}
