// lnpsaxs-train: the neural surrogate from RUN/curves.h5 → RUN/surrogate/.
#include "train_stage.h"

int main(int argc, char** argv) {
  boost::program_options::options_description opts("train options");
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::train::stage_info(), opts, lnpsaxs::train::run);
}
