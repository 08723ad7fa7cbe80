// lnpsaxs-sample-posterior: HMC posterior of fitted targets → RUN/posterior/<target>/.
#include "posterior_stage.h"

int main(int argc, char** argv) {
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::posterior::stage_info(), lnpsaxs::posterior::stage_options(),
                                 lnpsaxs::posterior::run);
}
