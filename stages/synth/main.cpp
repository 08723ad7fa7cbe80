// lnpsaxs-synth: synthetic polydisperse LNP targets with known ground truth → RUN/targets/case-K.h5.
#include "synth_stage.h"

int main(int argc, char** argv) {
  boost::program_options::options_description opts("synth options");
  opts.add_options()("join-only", "only join complete shards into targets/case-K.h5 (the SLURM join step)");
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::synth::stage_info(), opts, lnpsaxs::synth::run);
}
