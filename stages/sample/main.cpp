// lnpsaxs-sample: Sobol design of the training and test parameter sets → RUN/params.h5.
#include "sample.h"

int main(int argc, char** argv) {
  boost::program_options::options_description none("");
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::sample::stage_info(), none, lnpsaxs::sample::run);
}
